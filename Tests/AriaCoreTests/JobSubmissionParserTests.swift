import AriaCore
import Foundation
import Testing

private let tenant = TenantID(trusted: "acme")
private let header = #""type":"job.submit","version":1"#
private let minimalPlanJSON = #"{"steps":[{"step_id":"a","skill":"echo"}]}"#

/// A submission with `body` (JSON text) and the standard header fields unless `fields` replaces them.
private func envelope(body: String, fields: String = header) -> String {
    "{\(fields),\"body\":\(body)}"
}

/// A submission whose body carries `plan` (JSON text).
private func envelope(plan: String) -> String {
    envelope(body: #"{"agent":"demo","plan":"# + plan + "}")
}

/// A submission whose plan has the single step `step` (JSON object text).
private func envelope(step: String) -> String {
    envelope(plan: #"{"steps":["# + step + "]}")
}

private func parse(_ json: String, parser: JobSubmissionParser = JobSubmissionParser()) throws(AriaError) -> JobSubmission {
    try parser.parse(Array(json.utf8), tenant: tenant)
}

private func failure(_ json: String, parser: JobSubmissionParser = JobSubmissionParser()) -> AriaError? {
    do {
        _ = try parse(json, parser: parser)
        return nil
    } catch {
        return error
    }
}

/// A rejected input and the code it must get.
struct BadSubmission: Sendable, CustomTestStringConvertible {
    let label: String
    let json: String
    let code: ErrorCode
    /// A fragment the message must contain (the field at fault), if any.
    let mentions: String?

    init(_ label: String, _ json: String, _ code: ErrorCode, mentions: String? = nil) {
        self.label = label
        self.json = json
        self.code = code
        self.mentions = mentions
    }

    var testDescription: String { label }
}

@Suite("JobSubmissionParser")
struct JobSubmissionParserTests {
    // MARK: Valid submissions

    @Test("A complete explicit-plan job parses into the job, its plan and the envelope fields")
    func explicitPlan() throws {
        let json = """
        {"type":"job.submit","version":1,"tenant":"acme","created_at":"2026-11-21T20:24:41.123Z",
         "deadline":"2026-11-21T21:00:00Z","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
         "body":{"agent":"demo","goal":"say hi","metadata":{"ticket":7},
           "plan":{"plan_id":"p-1","defaults":{"timeout":"45s"},"metadata":{"source":"test"},"steps":[
             {"step_id":"a","skill":"echo","params":{"message":"hi"},"output_key":"greeting"},
             {"step_id":"b","skill":"sleep","params":{"duration":"10ms"},"depends_on":["a"],"on_error":"abort","timeout":"30s"}
           ]}}}
        """
        let submission = try parse(json)
        #expect(submission.job.agent == AgentID(trusted: "demo"))
        #expect(submission.job.goal == "say hi")
        #expect(submission.job.metadata == ["ticket": 7])
        #expect(submission.deadline == Timestamp.parse("2026-11-21T21:00:00Z"))
        #expect(submission.deadline != nil)
        #expect(submission.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let expected = Plan(
            planID: "p-1", goal: "say hi",
            steps: [
                PlanStep(stepID: StepID(trusted: "a"), skill: "echo", params: ["message": "hi"], outputKey: "greeting"),
                PlanStep(stepID: StepID(trusted: "b"), skill: "sleep", params: ["duration": "10ms"], dependsOn: [StepID(trusted: "a")],
                         onError: .abort, timeout: .seconds(30)),
            ],
            metadata: ["source": "test"], defaults: StepDefaults(timeout: .seconds(45)))
        #expect(submission.job.source == .plan(expected))
    }

    @Test("A minimal explicit-plan job gets defaults: no goal, empty metadata, abort, no timeout")
    func minimalExplicitPlan() throws {
        let submission = try parse(envelope(plan: minimalPlanJSON))
        #expect(submission.job.goal == nil)
        #expect(submission.job.metadata == [:])
        #expect(submission.deadline == nil)
        #expect(submission.traceparent == nil)
        #expect(submission.job.source == .plan(Plan(planID: "plan", steps: [PlanStep(stepID: StepID(trusted: "a"), skill: "echo")])))
    }

    @Test("The plan's own goal wins over the job's; the job's goal fills in otherwise")
    func planGoal() throws {
        let own = try parse(envelope(body: #"{"agent":"demo","goal":"job goal","plan":{"goal":"plan goal","steps":[]}}"#))
        #expect(own.job.source == .plan(Plan(planID: "plan", goal: "plan goal", steps: [])))
        let inherited = try parse(envelope(body: #"{"agent":"demo","goal":"job goal","plan":{"steps":[]}}"#))
        #expect(inherited.job.source == .plan(Plan(planID: "plan", goal: "job goal", steps: [])))
    }

    @Test("A template job carries its name and params")
    func templateJob() throws {
        let submission = try parse(envelope(body: #"{"agent":"demo","goal":"sum","template":"summarize-url","params":{"url":"https://example.com/a","depth":2}}"#))
        #expect(submission.job.source == .template(name: "summarize-url", params: ["url": "https://example.com/a", "depth": 2]))
        #expect(submission.job.goal == "sum")
    }

    @Test("A template job without params (or with null params) gets an empty object", arguments: [
        #"{"agent":"demo","template":"t1"}"#, #"{"agent":"demo","template":"t1","params":null}"#,
    ])
    func templateWithoutParams(body: String) throws {
        #expect(try parse(envelope(body: body)).job.source == .template(name: "t1", params: [:]))
    }

    @Test("Null optional fields count as absent", arguments: [
        envelope(body: #"{"agent":"demo","goal":null,"metadata":null,"plan":{"steps":[]},"template":null}"#,
                 fields: #""type":"job.submit","version":1,"tenant":null,"deadline":null,"traceparent":null"#),
    ])
    func nullsAreAbsent(json: String) throws {
        let submission = try parse(json)
        #expect(submission.job.goal == nil)
        #expect(submission.job.metadata == [:])
        #expect(submission.deadline == nil)
    }

    @Test("The body may name the tenant of the subject")
    func matchingTenant() throws {
        _ = try parse(envelope(body: #"{"agent":"demo","template":"t"}"#, fields: header + #","tenant":"acme""#))
    }

    @Test("Timestamps without fractional seconds are accepted")
    func timestampsWithoutFraction() throws {
        let json = envelope(body: #"{"agent":"demo","template":"t"}"#, fields: header + #","created_at":"2026-11-21T20:24:41Z","deadline":"2026-11-21T20:25:41Z""#)
        let submission = try parse(json)
        #expect(submission.deadline == Date(timeIntervalSince1970: 1_795_292_741))
    }

    @Test("Parsing an explicit plan keeps steps in submission order")
    func stepOrder() throws {
        let steps = (1...30).map { #"{"step_id":"s\#($0)","skill":"echo"}"# }.joined(separator: ",")
        let submission = try parse(envelope(plan: #"{"steps":[\#(steps)]}"#))
        guard case .plan(let plan) = submission.job.source else {
            Issue.record("expected a plan")
            return
        }
        #expect(plan.steps.map(\.stepID.rawValue) == (1...30).map { "s\($0)" })
    }

    // MARK: Size

    @Test("A job of exactly maxBytes is accepted; one byte more is payload_too_large, checked before syntax")
    func payloadSize() throws {
        let base = envelope(body: #"{"agent":"demo","template":"t"}"#)
        let limit = base.utf8.count + 10
        let parser = JobSubmissionParser(maxBytes: limit)
        let exact = base + String(repeating: " ", count: 10)
        _ = try parse(exact, parser: parser)

        let error = failure(exact + " ", parser: parser)
        #expect(error?.code == .payloadTooLarge)
        #expect(error?.category == .resource)
        #expect(error?.details["limit"] == String(limit))
        #expect(error?.details["size"] == String(limit + 1))

        #expect(failure(String(repeating: "x", count: limit + 1), parser: parser)?.code == .payloadTooLarge)
    }

    @Test("The default limits are 512 KiB and 200 steps")
    func defaultLimits() {
        let parser = JobSubmissionParser()
        #expect(parser.maxBytes == 524_288)
        #expect(parser.maxSteps == 200)
        #expect(failure(String(repeating: " ", count: 524_289))?.code == .payloadTooLarge)
    }

    @Test("More steps than maxSteps is invalid_plan")
    func tooManySteps() throws {
        let parser = JobSubmissionParser(maxSteps: 2)
        let two = (1...2).map { #"{"step_id":"s\#($0)","skill":"echo"}"# }.joined(separator: ",")
        _ = try parse(envelope(plan: #"{"steps":[\#(two)]}"#), parser: parser)
        let three = (1...3).map { #"{"step_id":"s\#($0)","skill":"echo"}"# }.joined(separator: ",")
        let error = failure(envelope(plan: #"{"steps":[\#(three)]}"#), parser: parser)
        #expect(error?.code == .invalidPlan)
        #expect(error?.details["limit"] == "2")
    }

    // MARK: Typed errors

    static let envelopeCases: [BadSubmission] = [
        BadSubmission("empty input", "", .malformedJSON),
        BadSubmission("truncated", #"{"type":"job.submit""#, .malformedJSON),
        BadSubmission("not JSON", "job please", .malformedJSON),
        BadSubmission("trailing comma", #"{"type":"job.submit",}"#, .malformedJSON),
        BadSubmission("duplicate key", #"{"type":"job.submit","type":"job.submit"}"#, .malformedJSON),
        BadSubmission("root is an array", "[]", .invalidJob),
        BadSubmission("root is a number", "42", .invalidJob),
        BadSubmission("type missing", envelope(body: "{}", fields: #""version":1"#), .invalidJob, mentions: "type"),
        BadSubmission("type not a string", envelope(body: "{}", fields: #""type":7,"version":1"#), .invalidJob, mentions: "type"),
        BadSubmission("wrong type", envelope(body: "{}", fields: #""type":"job.cancel","version":1"#), .unsupportedVersion),
        BadSubmission("internal type", envelope(body: "{}", fields: #""type":"step.dispatch","version":1"#), .unsupportedVersion),
        BadSubmission("version missing", envelope(body: "{}", fields: #""type":"job.submit""#), .invalidJob, mentions: "version"),
        BadSubmission("version as string", envelope(body: "{}", fields: #""type":"job.submit","version":"1""#), .invalidJob, mentions: "version"),
        BadSubmission("version fractional", envelope(body: "{}", fields: #""type":"job.submit","version":1.5"#), .invalidJob, mentions: "version"),
        BadSubmission("version 0", envelope(body: "{}", fields: #""type":"job.submit","version":0"#), .unsupportedVersion),
        BadSubmission("version 2", envelope(body: "{}", fields: #""type":"job.submit","version":2"#), .unsupportedVersion),
        BadSubmission("version -1", envelope(body: "{}", fields: #""type":"job.submit","version":-1"#), .unsupportedVersion),
        BadSubmission("version huge", envelope(body: "{}", fields: #""type":"job.submit","version":9007199254740993"#), .unsupportedVersion),
        BadSubmission("other tenant", envelope(body: "{}", fields: header + #","tenant":"globex""#), .tenantMismatch),
        BadSubmission("tenant not a string", envelope(body: "{}", fields: header + #","tenant":1"#), .invalidJob, mentions: "tenant"),
        BadSubmission("created_at not a timestamp", envelope(body: "{}", fields: header + #","created_at":"yesterday""#), .invalidJob, mentions: "created_at"),
        BadSubmission("created_at a number", envelope(body: "{}", fields: header + #","created_at":1700000000"#), .invalidJob, mentions: "created_at"),
        BadSubmission("deadline invalid date", envelope(body: "{}", fields: header + #","deadline":"2026-13-01T00:00:00Z""#), .invalidJob, mentions: "deadline"),
        BadSubmission("traceparent not a string", envelope(body: "{}", fields: header + #","traceparent":5"#), .invalidJob, mentions: "traceparent"),
        BadSubmission("body missing", #"{"type":"job.submit","version":1}"#, .invalidJob, mentions: "body"),
        BadSubmission("body null", #"{"type":"job.submit","version":1,"body":null}"#, .invalidJob, mentions: "body"),
        BadSubmission("body an array", envelope(body: "[]"), .invalidJob, mentions: "$.body"),
        BadSubmission("unknown envelope field", envelope(body: #"{"agent":"demo","template":"t"}"#, fields: header + #","priority":1"#), .invalidJob, mentions: "priority"),
        BadSubmission("internal envelope field", envelope(body: #"{"agent":"demo","template":"t"}"#, fields: header + #","fencing_token":1"#), .invalidJob, mentions: "fencing_token"),
    ]

    static let bodyCases: [BadSubmission] = [
        BadSubmission("agent missing", envelope(body: #"{"template":"t"}"#), .invalidJob, mentions: "agent"),
        BadSubmission("agent not a string", envelope(body: #"{"agent":5,"template":"t"}"#), .invalidJob, mentions: "agent"),
        BadSubmission("agent with spaces", envelope(body: #"{"agent":"Demo Agent","template":"t"}"#), .invalidJob, mentions: "agent"),
        BadSubmission("agent empty", envelope(body: #"{"agent":"","template":"t"}"#), .invalidJob, mentions: "agent"),
        BadSubmission("agent too long", envelope(body: #"{"agent":""# + String(repeating: "a", count: 65) + #"","template":"t"}"#), .invalidJob, mentions: "agent"),
        BadSubmission("unknown body field", envelope(body: #"{"agent":"demo","template":"t","budget":10}"#), .invalidJob, mentions: "budget"),
        BadSubmission("plan and template", envelope(body: #"{"agent":"demo","template":"t","plan":\#(minimalPlanJSON)}"#), .invalidJob, mentions: "both"),
        BadSubmission("neither plan nor template", envelope(body: #"{"agent":"demo","goal":"g"}"#), .invalidJob, mentions: "either"),
        BadSubmission("params with a plan", envelope(body: #"{"agent":"demo","plan":\#(minimalPlanJSON),"params":{}}"#), .invalidJob, mentions: "params"),
        BadSubmission("params alone", envelope(body: #"{"agent":"demo","params":{"a":1}}"#), .invalidJob),
        BadSubmission("template name invalid", envelope(body: #"{"agent":"demo","template":"Summarize URL"}"#), .invalidJob, mentions: "template"),
        BadSubmission("template name empty", envelope(body: #"{"agent":"demo","template":""}"#), .invalidJob, mentions: "template"),
        BadSubmission("template not a string", envelope(body: #"{"agent":"demo","template":["t"]}"#), .invalidJob, mentions: "template"),
        BadSubmission("params not an object", envelope(body: #"{"agent":"demo","template":"t","params":[1]}"#), .invalidJob, mentions: "params"),
        BadSubmission("metadata not an object", envelope(body: #"{"agent":"demo","template":"t","metadata":"x"}"#), .invalidJob, mentions: "metadata"),
        BadSubmission("goal not a string", envelope(body: #"{"agent":"demo","template":"t","goal":{}}"#), .invalidJob, mentions: "goal"),
    ]

    static let planCases: [BadSubmission] = [
        BadSubmission("plan an array", envelope(plan: "[]"), .invalidPlan, mentions: "$.body.plan"),
        BadSubmission("plan a string", envelope(plan: #""do it""#), .invalidPlan),
        BadSubmission("steps missing", envelope(plan: "{}"), .invalidPlan, mentions: "steps"),
        BadSubmission("steps an object", envelope(plan: #"{"steps":{}}"#), .invalidPlan, mentions: "steps"),
        BadSubmission("unknown plan field", envelope(plan: #"{"steps":[],"owner":"me"}"#), .invalidPlan, mentions: "owner"),
        BadSubmission("plan_id not a string", envelope(plan: #"{"steps":[],"plan_id":1}"#), .invalidPlan, mentions: "plan_id"),
        BadSubmission("defaults not an object", envelope(plan: #"{"steps":[],"defaults":[]}"#), .invalidPlan, mentions: "defaults"),
        BadSubmission("unknown defaults field", envelope(plan: #"{"steps":[],"defaults":{"retry":{}}}"#), .invalidPlan, mentions: "retry"),
        BadSubmission("step not an object", envelope(plan: #"{"steps":["a"]}"#), .invalidPlan, mentions: "steps[0]"),
        BadSubmission("step_id missing", envelope(step: #"{"skill":"echo"}"#), .invalidPlan, mentions: "step_id"),
        BadSubmission("step_id not a string", envelope(step: #"{"step_id":1,"skill":"echo"}"#), .invalidPlan, mentions: "step_id"),
        BadSubmission("step_id invalid", envelope(step: #"{"step_id":"Step A","skill":"echo"}"#), .invalidPlan, mentions: "step_id"),
        BadSubmission("skill missing", envelope(step: #"{"step_id":"a"}"#), .invalidPlan, mentions: "skill"),
        BadSubmission("skill not a string", envelope(step: #"{"step_id":"a","skill":{}}"#), .invalidPlan, mentions: "skill"),
        BadSubmission("unknown step field", envelope(step: #"{"step_id":"a","skill":"echo","priority":1}"#), .invalidPlan, mentions: "priority"),
        BadSubmission("on_error unknown", envelope(step: #"{"step_id":"a","skill":"echo","on_error":"ignore"}"#), .invalidPlan, mentions: "on_error"),
        BadSubmission("retry not an object", envelope(step: #"{"step_id":"a","skill":"echo","retry":3}"#), .invalidPlan, mentions: "retry"),
        BadSubmission("retry max_attempts 0", envelope(step: #"{"step_id":"a","skill":"echo","retry":{"max_attempts":0}}"#), .invalidPlan, mentions: "max_attempts"),
        BadSubmission("retry max_attempts 21", envelope(step: #"{"step_id":"a","skill":"echo","retry":{"max_attempts":21}}"#), .invalidPlan, mentions: "max_attempts"),
        BadSubmission("retry backoff unknown", envelope(step: #"{"step_id":"a","skill":"echo","retry":{"backoff":"fibonacci"}}"#), .invalidPlan, mentions: "backoff"),
        BadSubmission("retry jitter 2", envelope(step: #"{"step_id":"a","skill":"echo","retry":{"jitter":2}}"#), .invalidPlan, mentions: "jitter"),
        BadSubmission("retry delay not a duration", envelope(step: #"{"step_id":"a","skill":"echo","retry":{"initial_delay":"soon"}}"#), .invalidPlan, mentions: "initial_delay"),
        BadSubmission("retry initial above max", envelope(step: #"{"step_id":"a","skill":"echo","retry":{"initial_delay":"10s","max_delay":"1s"}}"#), .invalidPlan, mentions: "max_delay"),
        BadSubmission("retry max_delay above 1h", envelope(step: #"{"step_id":"a","skill":"echo","retry":{"max_delay":"2h"}}"#), .invalidPlan, mentions: "1h"),
        BadSubmission("retry unknown category", envelope(step: #"{"step_id":"a","skill":"echo","retry":{"retryable_categories":["cosmic"]}}"#), .invalidPlan, mentions: "categor"),
        BadSubmission("retry unknown field", envelope(step: #"{"step_id":"a","skill":"echo","retry":{"attempts":3}}"#), .invalidPlan, mentions: "attempts"),
        BadSubmission("condition unknown operator", envelope(step: #"{"step_id":"a","skill":"echo","condition":{"step_id":"b","operator":"like","value":1}}"#), .invalidPlan, mentions: "operator"),
        BadSubmission("condition eq without value", envelope(step: #"{"step_id":"a","skill":"echo","condition":{"step_id":"b","operator":"eq"}}"#), .invalidPlan, mentions: "value"),
        BadSubmission("condition exists with value", envelope(step: #"{"step_id":"a","skill":"echo","condition":{"step_id":"b","operator":"exists","value":1}}"#), .invalidPlan, mentions: "value"),
        BadSubmission("condition bad regex", envelope(step: #"{"step_id":"a","skill":"echo","condition":{"step_id":"b","operator":"matches","value":"(["}}"#), .invalidPlan, mentions: "regular expression"),
        BadSubmission("condition gt object", envelope(step: #"{"step_id":"a","skill":"echo","condition":{"step_id":"b","operator":"gt","value":{}}}"#), .invalidPlan, mentions: "number"),
        BadSubmission("condition bad field path", envelope(step: #"{"step_id":"a","skill":"echo","condition":{"step_id":"b","field":"a..b","operator":"exists"}}"#), .invalidPlan, mentions: "field"),
        BadSubmission("condition without step", envelope(step: #"{"step_id":"a","skill":"echo","condition":{"operator":"exists"}}"#), .invalidPlan, mentions: "step_id"),
        BadSubmission("fallback_params not an object", envelope(step: #"{"step_id":"a","skill":"echo","fallback_params":[]}"#), .invalidParams, mentions: "fallback_params"),
        BadSubmission("join unknown", envelope(step: #"{"step_id":"a","skill":"echo","join":"any"}"#), .invalidPlan, mentions: "join"),
        BadSubmission("on_error upper case", envelope(step: #"{"step_id":"a","skill":"echo","on_error":"ABORT"}"#), .invalidPlan, mentions: "on_error"),
        BadSubmission("on_error not a string", envelope(step: #"{"step_id":"a","skill":"echo","on_error":1}"#), .invalidPlan, mentions: "on_error"),
        BadSubmission("depends_on a string", envelope(step: #"{"step_id":"a","skill":"echo","depends_on":"b"}"#), .invalidPlan, mentions: "depends_on"),
        BadSubmission("depends_on numbers", envelope(step: #"{"step_id":"a","skill":"echo","depends_on":[1]}"#), .invalidPlan, mentions: "depends_on"),
        BadSubmission("depends_on invalid id", envelope(step: #"{"step_id":"a","skill":"echo","depends_on":["Step B"]}"#), .invalidPlan, mentions: "depends_on"),
        BadSubmission("output_key not a string", envelope(step: #"{"step_id":"a","skill":"echo","output_key":1}"#), .invalidPlan, mentions: "output_key"),
        BadSubmission("params not an object", envelope(step: #"{"step_id":"a","skill":"echo","params":"hi"}"#), .invalidParams, mentions: "params"),
    ]

    @Test("Envelope problems get their typed error", arguments: JobSubmissionParserTests.envelopeCases)
    func envelopeErrors(bad: BadSubmission) {
        Self.check(bad)
    }

    @Test("Body problems get invalid_job", arguments: JobSubmissionParserTests.bodyCases)
    func bodyErrors(bad: BadSubmission) {
        Self.check(bad)
    }

    @Test("Plan shape problems get invalid_plan", arguments: JobSubmissionParserTests.planCases)
    func planErrors(bad: BadSubmission) {
        Self.check(bad)
    }

    static func check(_ bad: BadSubmission) {
        guard let error = failure(bad.json) else {
            Issue.record("\(bad.label): expected \(bad.code), but the job was accepted")
            return
        }
        #expect(error.code == bad.code, "\(bad.label): \(error)")
        if let fragment = bad.mentions {
            #expect(error.message.contains(fragment), "\(bad.label): '\(error.message)' should mention '\(fragment)'")
        }
    }

    @Test("Error categories follow the codes")
    func categories() {
        #expect(failure("{")?.category == .validation)
        #expect(failure(envelope(body: "{}", fields: header + #","tenant":"globex""#))?.category == .permission)
        #expect(failure(envelope(body: "{}", fields: #""type":"job.submit","version":2"#))?.category == .validation)
    }

    @Test("A tenant mismatch never reaches the body checks")
    func tenantCheckedBeforeBody() {
        #expect(failure(envelope(body: "[]", fields: header + #","tenant":"globex""#))?.code == .tenantMismatch)
    }

    // MARK: Durations

    @Test("A step timeout is a duration string or integer milliseconds", arguments: [
        (#""30s""#, 30_000), (#""1m30s""#, 90_000), (#""250ms""#, 250), ("1500", 1500), ("1", 1),
        ("604800000", 604_800_000), (#""168h""#, 604_800_000),
    ] as [(String, Int64)])
    func validTimeout(json: String, milliseconds: Int64) throws {
        let submission = try parse(envelope(plan: #"{"defaults":{"timeout":\#(json)},"steps":[{"step_id":"a","skill":"echo","timeout":\#(json)}]}"#))
        guard case .plan(let plan) = submission.job.source else {
            Issue.record("expected a plan")
            return
        }
        #expect(plan.steps[0].timeout?.milliseconds == milliseconds)
        #expect(plan.defaults.timeout?.milliseconds == milliseconds)
    }

    @Test("A missing or null timeout is nil", arguments: [#"{"step_id":"a","skill":"echo"}"#, #"{"step_id":"a","skill":"echo","timeout":null}"#])
    func absentTimeout(step: String) throws {
        guard case .plan(let plan) = try parse(envelope(step: step)).job.source else {
            Issue.record("expected a plan")
            return
        }
        #expect(plan.steps[0].timeout == nil)
        #expect(plan.defaults.timeout == nil)
    }

    @Test("An invalid timeout is invalid_plan naming the field", arguments: [
        #""abc""#, #""30""#, #""""#, #""1.5s""#, #""-5s""#, #""0s""#, #""169h""#, #""30 s""#,
        "0", "-5", "1.5", "604800001", "true", "{}", "[]",
    ])
    func invalidTimeout(json: String) {
        let step = failure(envelope(plan: #"{"steps":[{"step_id":"a","skill":"echo"},{"step_id":"b","skill":"echo","timeout":\#(json)}]}"#))
        #expect(step?.code == .invalidPlan)
        #expect(step?.message.contains("$.body.plan.steps[1].timeout") == true, "\(String(describing: step))")
        let defaults = failure(envelope(plan: #"{"defaults":{"timeout":\#(json)},"steps":[]}"#))
        #expect(defaults?.code == .invalidPlan)
        #expect(defaults?.message.contains("$.body.plan.defaults.timeout") == true)
    }

    // MARK: parsePlan

    @Test("parsePlan reads a rendered template document under its own path")
    func parsePlanDirectly() throws {
        let parser = JobSubmissionParser()
        let value = try JSONValue(parsing: #"{"plan_id":"tpl-1","steps":[{"step_id":"a","skill":"echo"}]}"#)
        let plan = try parser.parsePlan(value, goal: "from template", path: "$.template")
        #expect(plan.planID == "tpl-1")
        #expect(plan.goal == "from template")
        let unknownField = try JSONValue(parsing: #"{"steps":[],"x":1}"#)
        do {
            _ = try parser.parsePlan(unknownField, goal: nil, path: "$.template")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidPlan)
            #expect(error.message.hasPrefix("$.template"))
        }
    }
}
