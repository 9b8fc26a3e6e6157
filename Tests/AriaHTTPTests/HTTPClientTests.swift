import AriaHTTP
import AriaLocalCluster
import AriaTestSupport
import Foundation
import Testing

extension HTTPServerTests {
    /// Requests and responses against a real loopback server, with 127.0.0.1 allowed explicitly.
    @Suite struct Functional {
        /// Status, headers (repeated ones too), body and final URL of a plain GET.
        @Test func statusHeadersAndBody() async throws {
            try await withServer { server in
                try await withClient { client in
                    let response = try await client.execute(HTTPRequest(url: "\(server.baseURL)/headers"))
                    #expect(response.status == 200)
                    #expect(response.text == "ok")
                    #expect(response.header("x-custom") == "value")
                    #expect(response.header("CONTENT-LENGTH") == "2")
                    #expect(response.headers(named: "Set-Cookie") == ["a=1", "b=2"])
                    #expect(response.url == "\(server.baseURL)/headers")
                    #expect(response.redirects == 0)
                }
            }
        }

        /// 2xx, 4xx and 5xx statuses (a 404 included) are responses, not errors.
        @Test func errorStatusesAreResponses() async throws {
            try await withServer { server in
                try await withClient { client in
                    for status in [201, 204, 404, 418, 500, 503] {
                        let response = try await client.execute(HTTPRequest(url: "\(server.baseURL)/status/\(status)"))
                        #expect(response.status == status)
                        #expect(response.header("X-Status") == "\(status)")
                    }
                    let missing = try await client.execute(HTTPRequest(url: "\(server.baseURL)/nothing-here"))
                    #expect(missing.status == 404)
                    #expect(missing.text == "not found")
                }
            }
        }

        /// Each method sends its body byte for byte with the given headers, and no `Expect`.
        @Test(arguments: ["POST", "PUT", "PATCH", "DELETE", "GET"])
        func methodsWithBodies(method: String) async throws {
            try await withServer { server in
                try await withClient { client in
                    let body = Array(0...255).map(UInt8.init) + Array("hello".utf8)
                    let request = HTTPRequest(
                        method: method, url: "\(server.baseURL)/echo?q=1",
                        headers: [("Content-Type", "application/octet-stream"), ("X-Trace", "abc 123"), ("X-Empty", "")],
                        body: body)
                    let echo = try Echo(try await client.execute(request))
                    #expect(echo.method == method)
                    #expect(echo.path == "/echo?q=1")
                    #expect(echo.bodyBytes == body)
                    #expect(echo.header("Content-Type") == "application/octet-stream")
                    #expect(echo.header("Content-Length") == "\(body.count)")
                    #expect(echo.header("X-Trace") == "abc 123")
                    #expect(echo.header("X-Empty") == "")
                    #expect(echo.header("Expect") == nil)
                    #expect(echo.header("User-Agent") == "aria-http")
                }
            }
        }

        /// Methods without a body: GET sends no length, POST sends `Content-Length: 0` and no made-up type.
        @Test func methodsWithoutBodies() async throws {
            try await withServer { server in
                try await withClient { client in
                    let get = try Echo(try await client.execute(HTTPRequest(url: "\(server.baseURL)/echo")))
                    #expect(get.method == "GET")
                    #expect(get.header("Content-Length") == nil)
                    let post = try Echo(try await client.execute(HTTPRequest(method: "POST", url: "\(server.baseURL)/echo")))
                    #expect(post.method == "POST")
                    #expect(post.header("Content-Length") == "0")
                    #expect(post.header("Content-Type") == nil, "no form content type is made up")
                    let delete = try Echo(try await client.execute(HTTPRequest(method: "DELETE", url: "\(server.baseURL)/echo")))
                    #expect(delete.method == "DELETE")
                    let agent = try Echo(
                        try await client.execute(HTTPRequest(url: "\(server.baseURL)/echo", headers: [("User-Agent", "custom/1")])))
                    #expect(agent.header("User-Agent") == "custom/1")
                }
            }
        }

        /// HEAD returns the headers without a body and leaves the connection usable.
        @Test func headReturnsHeadersOnly() async throws {
            try await withServer { server in
                try await withClient { client in
                    let response = try await client.execute(HTTPRequest(method: "HEAD", url: "\(server.baseURL)/bytes/1000"))
                    #expect(response.status == 200)
                    #expect(response.body.isEmpty)
                    #expect(response.header("Content-Length") == "1000")
                    #expect(server.requests().last == "HEAD /bytes/1000")
                    // The connection is still usable after a HEAD.
                    let next = try await client.execute(HTTPRequest(url: "\(server.baseURL)/bytes/10"))
                    #expect(next.body.count == 10)
                }
            }
        }

        /// Bodies over the limit fail with `.tooLarge`, whether announced by Content-Length or streamed.
        @Test func responseSizeIsCapped() async throws {
            try await withServer { server in
                try await withClient { client in
                    let exact = try await client.execute(HTTPRequest(url: "\(server.baseURL)/bytes/1000", maxResponseBytes: 1000))
                    #expect(exact.body.count == 1000)
                    // Content-Length announces too much: refused before the body is read.
                    await expectError(.tooLarge) {
                        try await client.execute(HTTPRequest(url: "\(server.baseURL)/bytes/1001", maxResponseBytes: 1000))
                    }
                    // No Content-Length (chunked): the write callback stops the transfer at the limit.
                    let clock = ContinuousClock()
                    let start = clock.now
                    let error = await expectError(.tooLarge) {
                        try await client.execute(HTTPRequest(url: "\(server.baseURL)/stream/50000000", maxResponseBytes: 100_000))
                    }
                    #expect(error?.message.contains("100000 bytes") == true)
                    #expect(clock.now - start < .seconds(5))
                    let streamed = try await client.execute(HTTPRequest(url: "\(server.baseURL)/stream/100000", maxResponseBytes: 100_000))
                    #expect(streamed.body.count == 100_000)
                }
            }
        }

        /// A response slower than the timeout fails with `.timeout` at about the timeout.
        @Test func totalTimeoutIsEnforced() async throws {
            try await withServer { server in
                try await withClient { client in
                    let clock = ContinuousClock()
                    let start = clock.now
                    await expectError(.timeout) {
                        try await client.execute(HTTPRequest(url: "\(server.baseURL)/slow/3000", timeout: .milliseconds(300)))
                    }
                    let elapsed = clock.now - start
                    #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(2), "took \(elapsed)")
                }
            }
        }

        /// The timeout bounds the whole exchange, not each redirect hop.
        @Test func timeoutCoversEveryRedirectHop() async throws {
            try await withServer { server in
                try await withClient { client in
                    func encoded(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }
                    // Three hops of 300 ms each: every one fits in 700 ms, all three do not.
                    let last = "/slow/300"
                    let middle = "/redirect?delay=300&to=\(encoded(last))"
                    let url = "\(server.baseURL)/redirect?delay=300&to=\(encoded(middle))"
                    let ok = try await client.execute(HTTPRequest(url: url, timeout: .seconds(5)))
                    #expect(ok.text == "slow")
                    #expect(ok.redirects == 2)
                    let clock = ContinuousClock()
                    let start = clock.now
                    // A per-hop timeout would let the 900 ms chain succeed: the timeout error is the proof. The bound
                    // only checks that it did not wait for something else (loose: the suite shares two cores).
                    await expectError(.timeout) { try await client.execute(HTTPRequest(url: url, timeout: .milliseconds(700))) }
                    #expect(clock.now - start < .seconds(3))
                }
            }
        }

        /// A redirect chain is followed hop by hop; only the final response is returned.
        @Test func followsRedirectsOnTheSameServer() async throws {
            try await withServer { server in
                try await withClient { client in
                    let response = try await client.execute(HTTPRequest(url: "\(server.baseURL)/chain/3"))
                    #expect(response.status == 200)
                    #expect(response.text == "done")
                    #expect(response.redirects == 3)
                    #expect(response.url == "\(server.baseURL)/chain/0")
                    #expect(response.header("Location") == nil, "only the final response's headers")
                    #expect(server.requests() == ["GET /chain/3", "GET /chain/2", "GET /chain/1", "GET /chain/0"])
                }
            }
        }

        /// A redirect to another server is followed, without the credentials of the first origin.
        @Test func followsRedirectsToAnotherServer() async throws {
            try await withServer { first in
                try await withServer(host: "127.0.0.2") { second in
                    try await withClient { client in
                        let target = "\(second.baseURL)/echo"
                        let response = try await client.execute(
                            HTTPRequest(
                                url: "\(first.baseURL)/redirect?code=301&to=\(target)",
                                headers: [("Authorization", "Bearer secret"), ("X-Keep", "1")]))
                        #expect(response.status == 200)
                        #expect(response.url == target)
                        #expect(response.redirects == 1)
                        let echo = try Echo(response)
                        #expect(echo.header("Authorization") == nil, "credentials stay with their origin")
                        #expect(echo.header("X-Keep") == "1")
                        #expect(first.requests().count == 1)
                        #expect(second.requests() == ["GET /echo"])
                    }
                }
            }
        }

        /// 301/302 turn a POST into a GET, 303 turns anything but HEAD into a GET, 307/308 keep method and body.
        @Test func redirectsRewriteMethodsLikeBrowsers() async throws {
            try await withServer { server in
                try await withClient { client in
                    let body = Array("payload".utf8)
                    func post(via code: Int) async throws -> Echo {
                        let request = HTTPRequest(
                            method: "POST", url: "\(server.baseURL)/redirect?code=\(code)&to=/echo",
                            headers: [("Content-Type", "text/plain"), ("Authorization", "Bearer same-origin")], body: body)
                        return try Echo(try await client.execute(request))
                    }
                    for code in [301, 302, 303] {
                        let echo = try await post(via: code)
                        #expect(echo.method == "GET", "\(code)")
                        #expect(echo.bodyBytes.isEmpty)
                        #expect(echo.header("Content-Type") == nil)
                        #expect(echo.header("Authorization") == "Bearer same-origin")
                    }
                    for code in [307, 308] {
                        let echo = try await post(via: code)
                        #expect(echo.method == "POST", "\(code)")
                        #expect(echo.bodyBytes == body)
                        #expect(echo.header("Content-Type") == "text/plain")
                    }
                    let put = try Echo(
                        try await client.execute(
                            HTTPRequest(method: "PUT", url: "\(server.baseURL)/redirect?code=303&to=/echo", body: body)))
                    #expect(put.method == "GET")
                }
            }
        }

        /// Redirect loops and chains beyond `maxRedirects` fail; unfollowed redirects are responses.
        @Test func redirectLimits() async throws {
            try await withServer { server in
                try await withClient { client in
                    await expectError(.tooManyRedirects) {
                        try await client.execute(HTTPRequest(url: "\(server.baseURL)/loop", maxRedirects: 3))
                    }
                    #expect(server.requests().count == 4, "the first request and three redirects")
                    let exact = try await client.execute(HTTPRequest(url: "\(server.baseURL)/chain/2", maxRedirects: 2))
                    #expect(exact.redirects == 2)
                    await expectError(.tooManyRedirects) {
                        try await client.execute(HTTPRequest(url: "\(server.baseURL)/chain/3", maxRedirects: 2))
                    }
                    await expectError(.tooManyRedirects) {
                        try await client.execute(HTTPRequest(url: "\(server.baseURL)/chain/1", maxRedirects: 0))
                    }
                    let unfollowed = try await client.execute(
                        HTTPRequest(url: "\(server.baseURL)/chain/1", followRedirects: false))
                    #expect(unfollowed.status == 302)
                    #expect(unfollowed.header("Location") == "/chain/0")
                    #expect(unfollowed.redirects == 0)
                }
            }
        }

        /// Sequential requests reuse one connection.
        @Test func connectionsAreReused() async throws {
            try await withServer { server in
                try await withClient(maxConcurrent: 1) { client in
                    for _ in 0..<3 { _ = try await client.execute(HTTPRequest(url: "\(server.baseURL)/bytes/10")) }
                    let ports = Set(server.receivedRequests().map(\.clientPort))
                    #expect(server.receivedRequests().count == 3)
                    #expect(ports.count == 1, "one connection served every request: \(ports)")
                }
            }
        }

        /// Bad URLs, schemes, methods and header values are refused before anything is sent.
        @Test func invalidRequestsAreNotSent() async throws {
            try await withClient { client in
                await expectError(.invalidURL) { try await client.execute(HTTPRequest(url: "ftp://127.0.0.1/file")) }
                await expectError(.invalidURL) { try await client.execute(HTTPRequest(url: "file:///etc/passwd")) }
                await expectError(.invalidURL) { try await client.execute(HTTPRequest(url: "not a url")) }
                await expectError(.invalidURL) { try await client.execute(HTTPRequest(url: "/relative/path")) }
                await expectError(.invalidRequest) {
                    try await client.execute(HTTPRequest(url: "http://127.0.0.1/", headers: [("X-A", "1\r\nInjected: yes")]))
                }
                await expectError(.invalidRequest) {
                    try await client.execute(HTTPRequest(method: "GET /x HTTP/1.1\r\n", url: "http://127.0.0.1/"))
                }
                await expectError(.invalidRequest) {
                    try await client.execute(HTTPRequest(method: "HEAD", url: "http://127.0.0.1/", body: [1]))
                }
            }
        }

        /// A closed port is `.couldNotConnect`, never confused with a policy refusal.
        @Test func closedPortIsAConnectFailureNotARefusal() async throws {
            let port = try FreePort.find()
            try await withClient { client in
                let error = await expectError(.couldNotConnect) {
                    try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/"))
                }
                #expect(error?.curlCode == 7)
            }
        }

        /// An unknown host name is `.couldNotResolve`.
        @Test func unknownHostDoesNotResolve() async throws {
            try await withClient { client in
                await expectError(.couldNotResolve) {
                    try await client.execute(HTTPRequest(url: "http://no-such-host.invalid/"))
                }
            }
        }

        /// Cancelling the calling task aborts a transfer in flight.
        @Test func cancellationAbortsTheTransfer() async throws {
            try await withServer { server in
                try await withClient { client in
                    let clock = ContinuousClock()
                    let start = clock.now
                    let task = Task { try await client.execute(HTTPRequest(url: "\(server.baseURL)/slow/5000")) }
                    try await Task.sleep(for: .milliseconds(200))
                    task.cancel()
                    await expectError(.cancelled) { try await task.value }
                    #expect(clock.now - start < .seconds(3))
                }
            }
        }

        /// After `shutdown()` requests fail with `.shutdown`.
        @Test func shutdownRefusesNewRequests() async throws {
            try await withServer { server in
                let client = HTTPClient(policy: loopbackPolicy, logger: testLogger)
                _ = try await client.execute(HTTPRequest(url: "\(server.baseURL)/bytes/1"))
                client.shutdown()
                await expectError(.shutdown) { try await client.execute(HTTPRequest(url: "\(server.baseURL)/bytes/1")) }
            }
        }

        /// Blocking transfers run on the client's threads: eight 500 ms requests in flight leave the
        /// cooperative pool (two threads here) free to wake a sleeping task on time.
        @Test func blockingTransfersLeaveTheCooperativePoolFree() async throws {
            try await withServer { server in
                try await withClient(maxConcurrent: 8) { client in
                    let lastStatuses = StatusList()
                    let (worstLateness, elapsed) = try await CooperativeLatency.bestWorstLateness {
                        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                            for _ in 0..<8 {
                                group.addTask { try await client.execute(HTTPRequest(url: "\(server.baseURL)/slow/500")).status }
                            }
                            var statuses: [Int] = []
                            for try await status in group { statuses.append(status) }
                            return statuses
                        }
                        lastStatuses.set(statuses)
                    }
                    let statuses = lastStatuses.value
                    #expect(statuses == Array(repeating: 200, count: 8))
                    // Starved, a sleep would wake only after a blocking call (~500 ms); see `notStarvedBound`.
                    #expect(worstLateness < CooperativeLatency.notStarvedBound, "a 10 ms sleep woke \(worstLateness) late")
                    #expect(elapsed < .milliseconds(1500), "eight 500 ms requests in parallel took \(elapsed)")
                }
            }
        }
    }
}

/// The statuses of the last probe attempt.
final class StatusList: @unchecked Sendable {
    private let lock = NSLock()
    private var statuses: [Int] = []
    func set(_ value: [Int]) { lock.withLock { statuses = value } }
    var value: [Int] { lock.withLock { statuses } }
}
