import AriaCore
import AriaHTTP
import AriaLocalCluster
import AriaTestSupport
import AriaWorker
import Foundation
import Logging
import Testing

@Suite("http_call skill")
struct HTTPCallSkillTests {
    static func skill() -> HTTPCallSkill {
        HTTPCallSkill(client: HTTPClient(policy: DestinationPolicy(allowedCIDRs: ["127.0.0.1/32"]), logger: Logger(label: "test")))
    }

    static let context = SkillContext(tenant: TenantID(trusted: "demo"), run: RunID.generate(), step: StepID(trusted: "s"))

    @Test("sends method, headers and a JSON body; returns status, headers and text body")
    func roundTrip() async throws {
        let server = try await TestHTTPServer.start()
        let output = try await Self.skill().execute([
            "url": .string("\(server.baseURL)/echo"), "method": "POST", "headers": ["X-Trace": "abc"], "body": ["k": 1],
        ], context: Self.context)
        #expect(output["status"] == 200)
        let echoed = try JSONValue(parsing: Array(try #require(output["body"]?.stringValue).utf8))
        #expect(echoed["method"] == "POST")
        let headers = echoed["headers"]?.arrayValue?.compactMap { pair -> String? in
            guard let name = pair[0]?.stringValue, let value = pair[1]?.stringValue else { return nil }
            return "\(name.lowercased())=\(value)"
        } ?? []
        #expect(headers.contains("x-trace=abc") && headers.contains("content-type=application/json"))
        let body = Data(base64Encoded: try #require(echoed["body"]?.stringValue)).map { Array($0) } ?? []
        #expect(try JSONValue(parsing: body) == ["k": 1])
    }

    @Test("failures are http_failed with a reason and a category; refusals are destination_refused")
    func failures() async throws {
        let server = try await TestHTTPServer.start()
        do {
            _ = try await Self.skill().execute(["url": .string("\(server.baseURL)/bytes/1000"), "max_bytes": 10], context: Self.context)
            Issue.record("an oversized response was accepted")
        } catch let error as AriaError {
            #expect(error.code == .httpFailed && error.details["reason"] == "too_large" && error.category == .resource)
        }
        let closed = try FreePort.find()
        do {
            _ = try await Self.skill().execute(["url": .string("http://127.0.0.1:\(closed)/")], context: Self.context)
            Issue.record("a closed port answered")
        } catch let error as AriaError {
            #expect(error.code == .httpFailed && error.category == .transient)
        }
        do {
            _ = try await Self.skill().execute(["url": "http://10.1.2.3/"], context: Self.context)
            Issue.record("a private address was called")
        } catch let error as AriaError {
            #expect(error.code == .destinationRefused && error.category == .permission)
        }
    }

    @Test("outputs satisfy the output schema; the configured response cap, redirect limit and allowlist apply")
    func configuredLimitsAndOutputs() async throws {
        let server = try await TestHTTPServer.start()
        let standard = Self.skill()
        for path in ["/status/201", "/headers", "/bytes/0", "/chain/2"] {
            let output = try await standard.execute(["url": .string(server.baseURL + path)], context: Self.context)
            #expect(standard.descriptor.validateOutput(output) == nil, "\(path): \(output)")
        }
        let head = try await standard.execute(["url": .string(server.baseURL + "/status/204"), "method": "HEAD"], context: Self.context)
        #expect(head["status"] == 204 && standard.descriptor.validateOutput(head) == nil)

        let catalog = try SkillCatalog.builtIn(configuration: SkillsConfiguration(skills: [
            "http_call": ["default_response_bytes": 10, "max_response_bytes": 100, "max_redirects": 1, "allow_cidrs": ["127.0.0.1/32"]],
        ]))
        let descriptor = try #require(catalog["http_call"])
        let configured = HTTPCallSkill(client: HTTPClient(policy: try HTTPCallSkill.destinationPolicy(for: descriptor), logger: Logger(label: "test")),
                                       descriptor: descriptor)
        do {
            _ = try await configured.execute(["url": .string("\(server.baseURL)/bytes/11")], context: Self.context)
            Issue.record("a response above the configured default cap was accepted")
        } catch let error as AriaError {
            #expect(error.code == .httpFailed && error.details["reason"] == "too_large")
        }
        #expect(try await configured.execute(["url": .string("\(server.baseURL)/bytes/11"), "max_bytes": 100], context: Self.context)["body"]?.stringValue?.count == 11)
        #expect(descriptor.validateInput(["url": "https://x", "max_bytes": 101])?.code == .invalidParams)
        #expect(try await configured.execute(["url": .string("\(server.baseURL)/chain/1")], context: Self.context)["redirects"] == 1)
        do {
            _ = try await configured.execute(["url": .string("\(server.baseURL)/chain/2")], context: Self.context)
            Issue.record("more redirects than configured were followed")
        } catch let error as AriaError {
            #expect(error.code == .httpFailed && error.details["reason"] == "too_many_redirects")
        }
        // The allowlist comes from the configuration; an entry that parses as nothing is a configuration error.
        let closed = HTTPCallSkill(client: HTTPClient(policy: try HTTPCallSkill.destinationPolicy(for: SkillCatalog.builtIn["http_call"]!), logger: Logger(label: "test")))
        do {
            _ = try await closed.execute(["url": .string("\(server.baseURL)/status/200")], context: Self.context)
            Issue.record("loopback was reached without an allowlist")
        } catch let error as AriaError {
            #expect(error.code == .destinationRefused)
        }
        let broken = try SkillCatalog.builtIn(configuration: SkillsConfiguration(skills: ["http_call": ["allow_cidrs": ["10.0.0.0/99"]]]))
        #expect(throws: AriaError.self) { _ = try HTTPCallSkill.destinationPolicy(for: broken["http_call"]!) }
    }
}
