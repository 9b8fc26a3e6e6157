import AriaBus
import AriaCore
import AriaGateway
import AriaStore
import Logging
import Testing

/// Which steps a gateway executes while recording their run (no servers: the rule itself).
@Suite struct GatewayInlineTests {
    static func configuration(_ settings: [String: String]) throws -> ServiceConfiguration {
        try ServiceConfiguration(service: "gateway", reader: ConfigReader(environment: settings))
    }

    @Test func pureBuiltInSkillsOfTheDefaultPoolOnlyWithinTheLimit() throws {
        let inline = try #require(Gateway.inlineExecution(catalog: .builtIn, configuration: try Self.configuration([:]), logger: Logger(label: "test")))
        let defaultPool = Subjects.workIntake(pool: "default")
        #expect(inline.limit == 32)
        for skill in ["echo", "fail", "json_transform"] { #expect(inline.accepts(skill, defaultPool), "\(skill)") }
        for skill in ["sleep", "http_call", "file_write", "pg_query", "no_such_skill"] { #expect(!inline.accepts(skill, defaultPool), "\(skill)") }
        #expect(!inline.accepts("echo", Subjects.workIntake(pool: "special")), "a pure skill routed to a pool of its own runs there")
        let limited = try #require(Gateway.inlineExecution(catalog: .builtIn, configuration: try Self.configuration(["ARIA_GATEWAY_INLINE_STEPS": "3"]), logger: Logger(label: "test")))
        #expect(limited.limit == 3)
        #expect(Gateway.inlineExecution(catalog: .builtIn, configuration: try Self.configuration(["ARIA_GATEWAY_INLINE_STEPS": "0"]), logger: Logger(label: "test")) == nil)
    }

    @Test func executionKeepsTheSkillContract() throws {
        let inline = try #require(Gateway.inlineExecution(catalog: .builtIn, configuration: try Self.configuration(["ARIA_INSTANCE": "gateway-9"]), logger: Logger(label: "test")))
        let run = RunID.generate()
        func dispatch(_ skill: String, _ params: JSONValue) -> InlineDispatch {
            InlineDispatch(tenant: TenantID(trusted: "demo"), run: run, step: StepID(trusted: "s"),
                           body: StepDispatchBody(skill: skill, params: params, timeoutMilliseconds: 1000), traceparent: nil)
        }
        let echoed = inline.execute(dispatch("echo", ["a": 1]))
        #expect(echoed.outcome == .succeeded && echoed.output == ["a": 1] && echoed.worker == "gateway-9" && echoed.optimistic)
        let failed = inline.execute(dispatch("fail", ["message": "asked to"]))
        #expect(failed.outcome == .failed(AriaError(.skillFailed, "asked to", category: .permanent)))
        let refused = inline.execute(dispatch("json_transform", ["expression": 5]))
        guard case .failed(let error) = refused.outcome else { Issue.record("not refused"); return }
        #expect(error.code == .invalidParams)
    }
}
