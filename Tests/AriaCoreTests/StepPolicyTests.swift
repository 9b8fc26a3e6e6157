import AriaCore
import Foundation
import Testing

private func sid(_ name: String) -> StepID { StepID(trusted: name) }
private let t0 = Date(timeIntervalSince1970: 1_800_000_000)
private let transient = AriaError(.stepTimeout, "too slow")  // category transient
private let permanent = AriaError(.skillFailed, "no")  // category permanent

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("Backoff base delays: constant, linear, exponential, before retries 1...5, without jitter")
    func baseDelays() {
        func delays(_ backoff: Backoff) -> [Int64] {
            let policy = RetryPolicy(maxAttempts: 6, backoff: backoff, initialDelay: .milliseconds(100), maxDelay: .seconds(10), jitter: 0)
            return (1...5).map { policy.delay(beforeRetry: $0, unit: 0.9).milliseconds }
        }
        #expect(delays(.constant) == [100, 100, 100, 100, 100])
        #expect(delays(.linear) == [100, 200, 300, 400, 500])
        #expect(delays(.exponential) == [100, 200, 400, 800, 1600])
    }

    @Test("The cap applies before and after jitter")
    func cap() {
        let policy = RetryPolicy(maxAttempts: 20, backoff: .exponential, initialDelay: .seconds(1), maxDelay: .seconds(5), jitter: 0.5)
        #expect(policy.delay(beforeRetry: 10, unit: 0.999).milliseconds == 5000)
        #expect(policy.delay(beforeRetry: 10, unit: 0).milliseconds == 2500)
        #expect(policy.delay(beforeRetry: 60, unit: 0.5).milliseconds == 5000, "huge exponents do not overflow")
    }

    @Test("Jitter spreads the delay uniformly over ±jitter", arguments: [0.0, 0.25, 0.5, 0.75, 0.999])
    func jitter(unit: Double) {
        let policy = RetryPolicy(maxAttempts: 3, backoff: .constant, initialDelay: .seconds(1), maxDelay: .seconds(2), jitter: 0.2)
        let delay = policy.delay(beforeRetry: 1, unit: unit).milliseconds
        #expect(delay >= 800 && delay <= 1200)
        #expect(delay == Int64((1000 * (1 + 0.2 * (2 * unit - 1))).rounded()))
    }

    @Test("Only listed categories are retryable; the standard policy retries transient and resource errors")
    func categories() {
        #expect(RetryPolicy.standard.isRetryable(transient))
        #expect(RetryPolicy.standard.isRetryable(AriaError(.payloadTooLarge, "big")))
        #expect(!RetryPolicy.standard.isRetryable(permanent))
        #expect(RetryPolicy(retryable: [.permanent]).isRetryable(permanent))
        #expect(RetryPolicy.standard.maxAttempts == 3 && RetryPolicy.standard.backoff == .exponential)
    }
}

@Suite("Step conditions")
struct StepConditionTests {
    static let output: JSONValue = [
        "status": "ok", "count": 3, "ratio": 0.5, "tags": ["a", "b"], "meta": ["owner": "x"], "none": .null,
        "items": [["name": "first"]],
    ]

    struct Case: Sendable, CustomStringConvertible {
        let field: String?
        let op: ConditionOperator
        let value: JSONValue?
        let expected: Bool
        var description: String { "\(field ?? "<whole>") \(op.rawValue) \(value.map { $0.jsonString } ?? "") -> \(expected)" }
    }

    static let cases: [Case] = [
        Case(field: "status", op: .eq, value: "ok", expected: true),
        Case(field: "status", op: .eq, value: "no", expected: false),
        Case(field: "count", op: .eq, value: 3.0, expected: true),
        Case(field: "status", op: .ne, value: "no", expected: true),
        Case(field: "missing", op: .ne, value: "no", expected: false),
        Case(field: "count", op: .gt, value: 2, expected: true),
        Case(field: "count", op: .gt, value: 3, expected: false),
        Case(field: "ratio", op: .lt, value: 1, expected: true),
        Case(field: "status", op: .gt, value: "a", expected: true),
        Case(field: "status", op: .gt, value: 1, expected: false),
        Case(field: "status", op: .exists, value: nil, expected: true),
        Case(field: "none", op: .exists, value: nil, expected: false),
        Case(field: "missing", op: .exists, value: nil, expected: false),
        Case(field: "missing", op: .notExists, value: nil, expected: true),
        Case(field: "none", op: .notExists, value: nil, expected: true),
        Case(field: "status", op: .notExists, value: nil, expected: false),
        Case(field: "status", op: .contains, value: "k", expected: true),
        Case(field: "tags", op: .contains, value: "b", expected: true),
        Case(field: "tags", op: .contains, value: "c", expected: false),
        Case(field: "meta", op: .contains, value: "owner", expected: true),
        Case(field: "count", op: .contains, value: "3", expected: false),
        Case(field: "status", op: .matches, value: "^o.$", expected: true),
        Case(field: "status", op: .matches, value: "^x", expected: false),
        Case(field: "count", op: .matches, value: "3", expected: false),
        Case(field: "items.0.name", op: .eq, value: "first", expected: true),
        Case(field: nil, op: .exists, value: nil, expected: true),
    ]

    @Test("Each operator on present, absent and mistyped fields", arguments: cases)
    func evaluate(testCase: Case) {
        let condition = StepCondition(stepID: sid("a"), field: testCase.field, op: testCase.op, value: testCase.value)
        #expect(condition.evaluate(output: Self.output) == testCase.expected)
    }

    @Test("Without an output (step skipped or failed) only not_exists holds", arguments: ConditionOperator.allCases)
    func noOutput(op: ConditionOperator) {
        let condition = StepCondition(stepID: sid("a"), field: "status", op: op, value: op.needsValue ? "ok" : nil)
        #expect(condition.evaluate(output: nil) == (op == .notExists))
    }
}

@Suite("Plan policies: parsing and validation")
struct PlanPolicyParsingTests {
    static func plan(_ steps: String) throws(AriaError) -> Plan {
        try JobSubmissionParser().parsePlan(try! JSONValue(parsing: Array(#"{"steps":["#.utf8) + Array(steps.utf8) + Array("]}".utf8)), goal: nil)
    }

    @Test("Every policy field parses into the plan and survives a JSON round trip")
    func parsesEverything() throws {
        let plan = try Self.plan(#"""
            {"step_id":"a","skill":"echo"},
            {"step_id":"b","skill":"fail","depends_on":["a"],"on_error":"fallback","fallback_skill":"echo","fallback_params":{"from":"fallback"},
             "retry":{"max_attempts":4,"backoff":"linear","initial_delay":"200ms","max_delay":"2s","jitter":0.1,"retryable_categories":["permanent"]},
             "condition":{"step_id":"a","field":"x.y","operator":"eq","value":1},"join":"all_done","timeout":"5s","output_key":"result"}
            """#)
        let b = plan.steps[1]
        #expect(b.onError == .fallback)
        #expect(b.fallbackSkill == "echo")
        #expect(b.fallbackParams == ["from": "fallback"])
        #expect(b.retry == RetryPolicy(maxAttempts: 4, backoff: .linear, initialDelay: .milliseconds(200), maxDelay: .seconds(2), jitter: 0.1, retryable: [.permanent]))
        #expect(b.condition == StepCondition(stepID: sid("a"), field: "x.y", op: .eq, value: 1))
        #expect(b.join == .allDone)
        #expect(b.effectiveJoin == .allDone)
        #expect(plan.steps[0].effectiveJoin == .allSucceeded)
        let decoded = try Wire.decode(Plan.self, from: try Wire.encode(plan))
        #expect(decoded == plan)
        try PlanValidator(catalog: .builtIn).validate(plan)
    }

    @Test("on_error retry without a retry object uses the standard policy; other policies retry only with one")
    func effectiveRetry() throws {
        let plan = try Self.plan(#"{"step_id":"a","skill":"echo","on_error":"retry"},{"step_id":"b","skill":"echo","on_error":"continue"}"#)
        #expect(plan.steps[0].effectiveRetry == .standard)
        #expect(plan.steps[1].effectiveRetry == nil)
    }

    static let invalid: [(String, String)] = [
        (#"{"step_id":"a","skill":"echo","on_error":"fallback"}"#, "no fallback_skill"),
        (#"{"step_id":"a","skill":"echo","fallback_skill":"echo"}"#, "not 'fallback'"),
        (#"{"step_id":"a","skill":"echo","fallback_params":{}}"#, "without a fallback_skill"),
        (#"{"step_id":"a","skill":"echo","on_error":"fallback","fallback_skill":"nope"}"#, "unknown fallback skill"),
        (#"{"step_id":"a","skill":"echo","on_error":"fallback","fallback_skill":"sleep","fallback_params":{"wrong":1}}"#, "sleep"),
        (#"{"step_id":"a","skill":"echo"},{"step_id":"b","skill":"echo","on_error":"fallback","fallback_skill":"echo","fallback_params":{"x":"{{steps.c.output.x}}"}},{"step_id":"c","skill":"echo"}"#, "not one of its dependencies"),
        (#"{"step_id":"a","skill":"echo"},{"step_id":"b","skill":"echo","condition":{"step_id":"a","operator":"exists"}}"#, "condition on 'a'"),
        (#"{"step_id":"a","skill":"echo","output_key":"k"},{"step_id":"b","skill":"echo","output_key":"k"}"#, "output_key 'k'"),
    ]

    @Test("The validator rejects inconsistent policies", arguments: invalid)
    func rejects(json: String, mention: String) throws {
        let plan = try Self.plan(json)
        #expect {
            try PlanValidator(catalog: .builtIn).validate(plan)
        } throws: { error in
            guard let error = error as? AriaError else { return false }
            return error.message.contains(mention)
        }
    }

    @Test("A condition on an indirect dependency is accepted")
    func indirectCondition() throws {
        let plan = try Self.plan(#"{"step_id":"a","skill":"echo"},{"step_id":"b","skill":"echo","depends_on":["a"]},{"step_id":"c","skill":"echo","depends_on":["b"],"condition":{"step_id":"a","operator":"exists"}}"#)
        try PlanValidator(catalog: .builtIn).validate(plan)
    }
}

/// The scheduler's policies: retries, fallbacks, continue, joins, conditions, cancel, watchdog.
@Suite("RunScheduler policies")
struct RunSchedulerPolicyTests {
    static func machine(_ plan: Plan, _ states: [String: RunScheduler.StepState], outputs: [String: JSONValue] = [:], status: RunStatus = .running, random: Double = 0.5) -> RunScheduler {
        RunScheduler(status: status, plan: plan, steps: Dictionary(uniqueKeysWithValues: states.map { (sid($0.key), $0.value) }),
                     outputs: Dictionary(uniqueKeysWithValues: outputs.map { (sid($0.key), $0.value) }), random: { random })
    }

    static func failed(_ error: AriaError, attempts: Int = 1, phase: StepPhase = .primary) -> RunScheduler.StepState {
        RunScheduler.StepState(status: .failed, attempts: attempts, phase: phase, error: error)
    }

    static let succeeded = RunScheduler.StepState(status: .succeeded, attempts: 1)

    static func single(_ step: PlanStep) -> Plan { Plan(planID: "p", steps: [step]) }

    @Test("A retryable failure with attempts left waits for the policy's delay, then the timer dispatches it")
    func retryWaitsThenDispatches() {
        let policy = RetryPolicy(maxAttempts: 3, backoff: .exponential, initialDelay: .seconds(2), maxDelay: .seconds(30), jitter: 0)
        let plan = Self.single(PlanStep(stepID: sid("a"), skill: "echo", onError: .retry, retry: policy))
        var machine = Self.machine(plan, ["a": Self.failed(transient, attempts: 2)])
        let actions = machine.handle(.stepFinished(sid("a")), now: t0)
        #expect(actions == [.retry(sid("a"), until: t0.addingTimeInterval(4), error: transient)], "before retry 2 the delay is 2s × 2")
        #expect(machine.status(of: sid("a")) == .waiting)
        #expect(machine.handle(.timer, now: t0.addingTimeInterval(3.9)).isEmpty, "not due yet")
        #expect(machine.handle(.timer, now: t0.addingTimeInterval(4)) == [.dispatch(sid("a"), .primary)])
        #expect(machine.status(of: sid("a")) == .dispatched)
    }

    @Test("A failure with no attempts left, or not retryable, fails the run under retry", arguments: [(transient, 3), (permanent, 1)])
    func retryExhausted(error: AriaError, attempts: Int) {
        let plan = Self.single(PlanStep(stepID: sid("a"), skill: "echo", onError: .retry))
        var machine = Self.machine(plan, ["a": Self.failed(error, attempts: attempts)])
        #expect(machine.handle(.stepFinished(sid("a")), now: t0) == [.fail(error)])
        #expect(machine.status == .failed)
    }

    @Test("Under abort with a retry object, failures are retried before the run fails")
    func abortWithRetry() {
        let plan = Self.single(PlanStep(stepID: sid("a"), skill: "echo", onError: .abort, retry: RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(1), jitter: 0)))
        var machine = Self.machine(plan, ["a": Self.failed(transient)])
        #expect(machine.handle(.stepFinished(sid("a")), now: t0) == [.retry(sid("a"), until: t0.addingTimeInterval(0.001), error: transient)])
    }

    @Test("Fallback: after the primary gives up the fallback runs once; its success lets the run go on")
    func fallback() {
        let plan = Plan(planID: "p", steps: [
            PlanStep(stepID: sid("a"), skill: "fail", onError: .fallback, fallbackSkill: "echo"),
            PlanStep(stepID: sid("b"), skill: "echo", dependsOn: [sid("a")]),
        ])
        var machine = Self.machine(plan, ["a": Self.failed(permanent)])
        #expect(machine.handle(.stepFinished(sid("a")), now: t0) == [.dispatch(sid("a"), .fallback)])
        #expect(machine.steps[sid("a")]?.phase == .fallback)
        var after = Self.machine(plan, ["a": RunScheduler.StepState(status: .succeeded, attempts: 2, phase: .fallback)])
        #expect(after.handle(.stepFinished(sid("a")), now: t0) == [.dispatch(sid("b"), .primary)])
    }

    @Test("A failed fallback fails the run, even with a retry policy (retries apply to the primary only)")
    func fallbackFails() {
        let plan = Self.single(PlanStep(stepID: sid("a"), skill: "fail", onError: .fallback, retry: RetryPolicy(maxAttempts: 5), fallbackSkill: "fail"))
        var machine = Self.machine(plan, ["a": Self.failed(transient, attempts: 2, phase: .fallback)])
        #expect(machine.handle(.stepFinished(sid("a")), now: t0) == [.fail(transient)])
    }

    @Test("Fallback after retries: the primary is retried first, then the fallback runs")
    func retryThenFallback() {
        let plan = Self.single(PlanStep(stepID: sid("a"), skill: "fail", onError: .fallback, retry: RetryPolicy(maxAttempts: 2, initialDelay: .seconds(1), jitter: 0), fallbackSkill: "echo"))
        var first = Self.machine(plan, ["a": Self.failed(transient, attempts: 1)])
        #expect(first.handle(.stepFinished(sid("a")), now: t0) == [.retry(sid("a"), until: t0.addingTimeInterval(1), error: transient)])
        var second = Self.machine(plan, ["a": Self.failed(transient, attempts: 2)])
        #expect(second.handle(.stepFinished(sid("a")), now: t0) == [.dispatch(sid("a"), .fallback)])
    }

    /// a -> (b fails, c) -> d
    static func diamond(onError: OnError, join: JoinRule? = nil) -> Plan {
        Plan(planID: "diamond", steps: [
            PlanStep(stepID: sid("a"), skill: "echo"),
            PlanStep(stepID: sid("b"), skill: "fail", dependsOn: [sid("a")], onError: onError),
            PlanStep(stepID: sid("c"), skill: "echo", dependsOn: [sid("a")]),
            PlanStep(stepID: sid("d"), skill: "echo", dependsOn: [sid("b"), sid("c")], join: join),
        ])
    }

    @Test("continue: the join is skipped under all_succeeded and the run succeeds")
    func continueSkipsJoin() {
        var machine = Self.machine(Self.diamond(onError: .continue), ["a": Self.succeeded, "b": Self.failed(permanent), "c": Self.succeeded])
        let actions = machine.handle(.stepFinished(sid("c")), now: t0)
        #expect(actions == [.skip(sid("d"), reason: "dependency 'b' failed"), .succeed])
        #expect(machine.status == .succeeded)
    }

    @Test("continue: the join runs under all_done")
    func continueRunsJoinAllDone() {
        var machine = Self.machine(Self.diamond(onError: .continue, join: .allDone), ["a": Self.succeeded, "b": Self.failed(permanent), "c": Self.succeeded])
        #expect(machine.handle(.stepFinished(sid("c")), now: t0) == [.dispatch(sid("d"), .primary)])
    }

    @Test("continue: the join waits while the other branch runs, so the run never ends early")
    func continueWaitsForOtherBranch() {
        var machine = Self.machine(Self.diamond(onError: .continue), ["a": Self.succeeded, "b": Self.failed(permanent), "c": RunScheduler.StepState(status: .running, attempts: 1)])
        #expect(machine.handle(.stepFinished(sid("b")), now: t0).isEmpty)
        #expect(machine.status == .running)
    }

    @Test("abort: the other branch is cancelled, the join skipped, the run fails")
    func abortCancelsBranch() {
        var machine = Self.machine(Self.diamond(onError: .abort), ["a": Self.succeeded, "b": Self.failed(permanent), "c": RunScheduler.StepState(status: .running, attempts: 1)])
        let actions = machine.handle(.stepFinished(sid("b")), now: t0)
        #expect(actions == [.cancelStep(sid("c"), reason: "step 'b' failed"), .skip(sid("d"), reason: "step 'b' failed"), .fail(permanent)])
    }

    @Test("A false condition skips the step, and the skip propagates to its dependents under all_succeeded")
    func conditionSkipPropagates() {
        let plan = Plan(planID: "p", steps: [
            PlanStep(stepID: sid("a"), skill: "echo"),
            PlanStep(stepID: sid("b"), skill: "echo", dependsOn: [sid("a")], condition: StepCondition(stepID: sid("a"), field: "go", op: .eq, value: true)),
            PlanStep(stepID: sid("c"), skill: "echo", dependsOn: [sid("b")]),
            PlanStep(stepID: sid("e"), skill: "echo", dependsOn: [sid("b")], join: .allDone),
        ])
        var machine = Self.machine(plan, ["a": Self.succeeded], outputs: ["a": ["go": false]])
        let actions = machine.handle(.stepFinished(sid("a")), now: t0)
        #expect(actions == [
            .skip(sid("b"), reason: "condition on 'a'.go eq is false"),
            .skip(sid("c"), reason: "dependency 'b' was skipped"),
            .dispatch(sid("e"), .primary),
        ])
        var taken = Self.machine(plan, ["a": Self.succeeded], outputs: ["a": ["go": true]])
        #expect(taken.handle(.stepFinished(sid("a")), now: t0) == [.dispatch(sid("b"), .primary)])
    }

    @Test("A plan of only skipped steps still ends: joins always resolve")
    func allSkippedEnds() {
        let plan = Plan(planID: "p", steps: [
            PlanStep(stepID: sid("a"), skill: "echo"),
            PlanStep(stepID: sid("b"), skill: "echo", dependsOn: [sid("a")], condition: StepCondition(stepID: sid("a"), op: .notExists)),
        ])
        var machine = Self.machine(plan, ["a": Self.succeeded], outputs: ["a": [:]])
        #expect(machine.handle(.stepFinished(sid("a")), now: t0) == [.skip(sid("b"), reason: "condition on 'a' not_exists is false"), .succeed])
    }

    @Test("Cancel skips pending and waiting steps, cancels in-flight ones, and ends the run once")
    func cancel() {
        let plan = Plan(planID: "p", steps: [
            PlanStep(stepID: sid("a"), skill: "echo"), PlanStep(stepID: sid("b"), skill: "echo"),
            PlanStep(stepID: sid("c"), skill: "echo"), PlanStep(stepID: sid("d"), skill: "echo", dependsOn: [sid("a")]),
        ])
        var machine = Self.machine(plan, ["a": RunScheduler.StepState(status: .running, attempts: 1), "b": RunScheduler.StepState(status: .waiting, attempts: 1, notBefore: t0),
                                          "c": Self.succeeded])
        let actions = machine.handle(.cancel(reason: "user"), now: t0)
        #expect(actions == [.cancelStep(sid("a"), reason: "run cancelled: user"), .skip(sid("b"), reason: "run cancelled: user"),
                            .skip(sid("d"), reason: "run cancelled: user"), .cancelRun(reason: "user")])
        #expect(machine.status == .cancelled)
        #expect(machine.handle(.cancel(reason: "again"), now: t0).count == 1)
        #expect(machine.handle(.timer, now: t0.addingTimeInterval(10)).count == 1, "nothing is dispatched after a cancel")
    }

    @Test("The watchdog fails a running run with its error; it ignores runs that are not running")
    func stalled() {
        let error = AriaError(.runStalled, "no progress")
        let plan = Self.single(PlanStep(stepID: sid("a"), skill: "echo"))
        var machine = Self.machine(plan, ["a": RunScheduler.StepState(status: .dispatched)])
        #expect(machine.handle(.stalled(error), now: t0) == [.cancelStep(sid("a"), reason: "run failed: no progress"), .fail(error)])
        var accepted = Self.machine(plan, [:], status: .accepted)
        #expect(accepted.handle(.stalled(error), now: t0).count == 1)
        #expect(accepted.status == .accepted)
    }

    @Test("A failure before dispatch counts as an attempt, so a retryable error cannot loop forever")
    func failBeforeDispatch() {
        let plan = Self.single(PlanStep(stepID: sid("a"), skill: "echo", onError: .retry, retry: RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(1), jitter: 0)))
        var machine = Self.machine(plan, ["a": RunScheduler.StepState(status: .dispatched, attempts: 1)])
        machine.failBeforeDispatch(sid("a"), error: transient)
        #expect(machine.steps[sid("a")]?.attempts == 2)
        #expect(machine.handle(.stepFinished(sid("a")), now: t0) == [.fail(transient)])
    }

    @Test("Retry delays follow the jitter source")
    func jitterSource() {
        let plan = Self.single(PlanStep(stepID: sid("a"), skill: "echo", onError: .retry, retry: RetryPolicy(maxAttempts: 3, backoff: .constant, initialDelay: .seconds(10), maxDelay: .seconds(10), jitter: 0.5)))
        var low = Self.machine(plan, ["a": Self.failed(transient)], random: 0)
        #expect(low.handle(.stepFinished(sid("a")), now: t0) == [.retry(sid("a"), until: t0.addingTimeInterval(5), error: transient)])
    }
}
