import AriaCLI
import AriaCore
import AriaTestSupport
import Foundation
import Testing

/// The skill registry end to end, on the shared cluster: worker processes check rendered params against the
/// skill's input schema before running it, and services refuse a bad skill configuration at start.
@Suite("End to end: skill contracts")
struct SkillContractTests {
    @Test("a step whose rendered params break the input schema fails with invalid_params; the skill never runs")
    func renderedInputBreaksSchema() async throws {
        let server = try await TestHTTPServer.start(host: "127.0.0.1")
        let client = try await Shared.client()
        let collector = EventCollector(try client.subscribeEvents())
        // Valid plans: the references stand in for any type until they are rendered.
        let sleep = try #require(try await client.createJob(planJob([
            ["step_id": "a", "skill": "echo", "params": ["wait": "soon"]],
            ["step_id": "b", "skill": "sleep", "depends_on": ["a"], "params": ["duration": "{{steps.a.output.wait}}"]],
        ]), idempotencyKey: nil).run)
        let call = try #require(try await client.createJob(planJob([
            ["step_id": "a", "skill": "echo", "params": ["cap": 999_999_999]],
            ["step_id": "b", "skill": "http_call", "depends_on": ["a"],
             "params": ["url": .string("\(server.baseURL)/status/200"), "max_bytes": "{{steps.a.output.cap}}"]],
        ]), idempotencyKey: nil).run)
        let ended = try await collector.waitForTerminal([sleep, call])
        #expect(ended[sleep]?.body.kind == .failed)
        #expect(ended[sleep]?.body.error?.code == .invalidParams)
        #expect(ended[sleep]?.body.error?.message == "sleep: 'duration' must be a duration like \"250ms\" or \"2s\"")
        #expect(ended[call]?.body.error?.code == .invalidParams)
        #expect(ended[call]?.body.error?.message == "http_call: 'max_bytes' must be less than or equal to 10485760")
        #expect(ended[call]?.body.error?.details["skill"] == "http_call")
        #expect(server.receivedRequests().isEmpty, "the worker refused the params before calling anything")
        let view = try #require(try await client.getRun(call).runView)
        #expect(view.steps.map(\.status) == [.succeeded, .failed])
        #expect(collector.events(run: sleep).contains { $0.body.kind == .stepFailed && $0.body.step == StepID(trusted: "b") && $0.body.error?.code == .invalidParams })
        await client.close()
    }

    @Test("a service refuses to start with an inline secret, an unknown skill or a bad limit in its skill configuration")
    func badSkillConfigurationStopsServices() async throws {
        let cluster = try await Shared.get()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aria-skills-\(UUID().uuidString).yaml")
        try "skills:\n  pg_query:\n    database_url: postgres://aria:hunter2@db/users\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let cases: [(String, Int, [String: String], String)] = [
            ("worker", 92, ["ARIA_SKILLS_CONFIG": file.path], "skills.pg_query.database_url is a secret"),
            ("gateway", 93, ["ARIA_SKILL_TELEPORT_POOL": "x"], "ARIA_SKILL_TELEPORT_POOL names no skill"),
            ("scheduler", 94, ["ARIA_SKILL_HTTP_CALL_MAX_REDIRECTS": "99"], "skills.http_call.max_redirects must be less than or equal to 20"),
            ("planner", 95, ["ARIA_SKILLS_CONFIG": "/nonexistent/skills.yaml"], "ARIA_SKILLS_CONFIG names '/nonexistent/skills.yaml'"),
        ]
        for (service, index, environment, fragment) in cases {
            let process = try cluster.startService(service, index: index, extraEnvironment: environment)
            #expect(await process.waitForExit(timeout: .seconds(20)), "\(service)")
            #expect(process.exitStatus == 2, "\(service)")
            let log = process.log()
            #expect(log.contains("invalid_configuration") && log.contains(fragment), "\(service): \(log)")
            #expect(!log.contains("hunter2"))
        }
        #expect(servicesRunning(cluster))
    }
}
