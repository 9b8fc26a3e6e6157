import AriaHTTP
import AriaTestSupport
import Foundation
import Testing

extension HTTPServerTests {
    /// `.publicOnly` against real loopback servers: every way of reaching them is refused before a
    /// single byte is sent, and the refusal is told apart from a failed connect.
    @Suite struct SSRF {
        /// Loopback URLs, however spelled, are refused and the server never sees a request.
        @Test func directLoopbackURLIsRefused() async throws {
            try await withServer { server in
                try await withClient(policy: .publicOnly) { client in
                    let error = await expectError(.destinationRefused) {
                        try await client.execute(HTTPRequest(url: "\(server.baseURL)/echo"))
                    }
                    #expect(error?.message.contains("127.0.0.1") == true)
                    #expect(error?.url == "\(server.baseURL)/echo")
                    // Other spellings of the same destination.
                    for url in [
                        "http://0.0.0.0:\(server.port)/echo", "http://[::1]:\(server.port)/echo",
                        "http://[::ffff:127.0.0.1]:\(server.port)/echo", "http://2130706433:\(server.port)/echo",
                        "http://0x7f.1:\(server.port)/echo",
                    ] {
                        await expectError(.destinationRefused) { try await client.execute(HTTPRequest(url: url)) }
                    }
                    #expect(server.requests().isEmpty, "the server saw: \(server.requests())")
                }
            }
        }

        /// A name that resolves to loopback (by DNS or the resolve table) is refused.
        @Test func hostNameResolvingToLoopbackIsRefused() async throws {
            try await withServer { server in
                try await withClient(policy: .publicOnly) { client in
                    let error = await expectError(.destinationRefused) {
                        try await client.execute(HTTPRequest(url: "http://localhost:\(server.port)/echo"))
                    }
                    #expect(error?.message.contains("localhost") == true)
                    #expect(server.requests().isEmpty)
                }
                // The same name mapped by the client's resolve table is checked the same way.
                try await withClient(policy: .publicOnly, resolve: ["innocent.test": "127.0.0.1"]) { client in
                    await expectError(.destinationRefused) {
                        try await client.execute(HTTPRequest(url: "http://innocent.test:\(server.port)/echo"))
                    }
                    #expect(server.requests().isEmpty)
                }
            }
        }

        /// An allowed host redirecting to an internal address is refused at the second hop, which is never sent.
        @Test func redirectToAnInternalAddressIsRefusedAtThatHop() async throws {
            try await withServer { allowed in
                try await withServer(host: "127.0.0.2") { hidden in
                    let policy = DestinationPolicy(allowedHosts: ["allowed.test"])
                    try await withClient(policy: policy, resolve: ["allowed.test": "127.0.0.1"]) { client in
                        let origin = "http://allowed.test:\(allowed.port)"
                        // The allowlisted host itself is reachable.
                        let direct = try await client.execute(HTTPRequest(url: "\(origin)/echo"))
                        #expect(direct.status == 200)
                        // A redirect within the allowed host is followed.
                        let local = try await client.execute(HTTPRequest(url: "\(origin)/redirect?to=/echo"))
                        #expect(local.status == 200)
                        #expect(local.redirects == 1)

                        let target = "http://127.0.0.2:\(hidden.port)/echo"
                        let error = await expectError(.destinationRefused) {
                            try await client.execute(HTTPRequest(url: "\(origin)/redirect?to=\(target)"))
                        }
                        #expect(error?.url == target, "the error names the refused hop")
                        #expect(error?.message.contains("127.0.0.2") == true)
                        #expect(allowed.requests().last == "GET /redirect?to=\(target)")
                        #expect(hidden.requests().isEmpty, "the hidden server saw: \(hidden.requests())")

                        // A redirect to a name that resolves to loopback is refused as well.
                        await expectError(.destinationRefused) {
                            try await client.execute(
                                HTTPRequest(url: "\(origin)/redirect?to=http://localhost:\(allowed.port)/echo"))
                        }
                        #expect(allowed.requests().filter { $0 == "GET /echo" }.count == 2, "the localhost hop was never sent")
                    }
                    // The same redirect with 127.0.0.2 allowed goes through: the refusal above was the policy.
                    try await withClient(policy: DestinationPolicy(allowedHosts: ["allowed.test"], allowedCIDRs: ["127.0.0.2/32"]),
                        resolve: ["allowed.test": "127.0.0.1"]) { client in
                        let target = "http://127.0.0.2:\(hidden.port)/echo"
                        let response = try await client.execute(
                            HTTPRequest(url: "http://allowed.test:\(allowed.port)/redirect?to=\(target)"))
                        #expect(response.status == 200)
                        #expect(hidden.requests() == ["GET /echo"])
                    }
                }
            }
        }

        /// Redirects to schemes other than http and https are refused.
        @Test func redirectToAnotherSchemeIsRefused() async throws {
            try await withServer { server in
                try await withClient { client in
                    for target in ["file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/"] {
                        let error = await expectError(.destinationRefused) {
                            try await client.execute(HTTPRequest(url: "\(server.baseURL)/redirect?to=\(target)"))
                        }
                        #expect(error?.message.contains("scheme") == true)
                    }
                }
            }
        }
    }
}
