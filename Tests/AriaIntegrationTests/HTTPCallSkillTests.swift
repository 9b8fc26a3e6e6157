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
}
