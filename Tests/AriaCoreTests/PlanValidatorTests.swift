import AriaCore
import Testing

private func sid(_ name: String) -> StepID { StepID(trusted: name) }

private func step(_ name: String, _ skill: String = "echo", params: JSONValue = [:], after dependencies: [String] = []) -> PlanStep {
    PlanStep(stepID: sid(name), skill: skill, params: params, dependsOn: dependencies.map(sid))
}

private func plan(_ steps: [PlanStep]) -> Plan { Plan(planID: "p", steps: steps) }

private let validator = PlanValidator(catalog: .builtIn)

/// The error `validate` throws, or nil when the plan is valid.
private func rejection(_ plan: Plan, validator: PlanValidator = validator) -> AriaError? {
    do {
        try validator.validate(plan)
        return nil
    } catch {
        return error
    }
}

/// Checks that `order` lists every step of `plan` once, each after all of its dependencies.
private func expectTopological(_ order: [StepID], of plan: Plan, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(order.count == plan.steps.count, sourceLocation: sourceLocation)
    #expect(Set(order) == Set(plan.steps.map(\.stepID)), sourceLocation: sourceLocation)
    let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($0.element, $0.offset) })
    for step in plan.steps {
        for dependency in step.dependsOn {
            #expect(position[dependency]! < position[step.stepID]!,
                    "\(dependency) must come before \(step.stepID)", sourceLocation: sourceLocation)
        }
    }
}

private let diamond = plan([
    step("a", params: ["message": "start"]),
    step("b", params: ["message": "{{steps.a.output.message}}"], after: ["a"]),
    step("c", "sleep", params: ["duration": "10ms"], after: ["a"]),
    step("d", params: ["left": "{{steps.b.output}}", "right": "{{steps.c.output.slept_ms}}", "root": "{{steps.a.output}}"],
         after: ["b", "c"]),
])

/// 1 -> 20 -> 1: the join references every branch.
private let fanOutFanIn: Plan = {
    let branches = (1...20).map { step("branch-\($0)", params: ["n": .int(Int64($0)), "seed": "{{steps.source.output.seed}}"], after: ["source"]) }
    let joinParams = JSONValue.object(Dictionary(uniqueKeysWithValues: (1...20).map { ("b\($0)", JSONValue.string("{{steps.branch-\($0).output.n}}")) }))
    return plan([step("source", params: ["seed": 42])] + branches + [step("join", params: joinParams, after: (1...20).map { "branch-\($0)" })])
}()

@Suite("PlanValidator")
struct PlanValidatorTests {
    // MARK: Valid plans

    @Test("Valid plans pass: single step, chain, diamond, fan-out/fan-in 1->20->1")
    func validPlans() throws {
        try validator.validate(plan([step("only")]))
        try validator.validate(plan([step("a"), step("b", after: ["a"]), step("c", after: ["b"])]))
        try validator.validate(diamond)
        try validator.validate(fanOutFanIn)
        #expect(fanOutFanIn.steps.count == 22)
    }

    @Test("A step may reference any ancestor, not only its direct dependencies")
    func transitiveAncestorReference() throws {
        try validator.validate(plan([
            step("a"),
            step("b", after: ["a"]),
            step("c", params: ["deep": "{{steps.a.output.x.0.y}}", "text": "a said {{ steps.a.output.msg }}"], after: ["b"]),
        ]))
    }

    @Test("References nested in arrays and objects are accepted when they point at ancestors")
    func nestedReferences() throws {
        try validator.validate(plan([
            step("a"),
            step("b", params: ["list": ["{{steps.a.output.x}}", ["k": "v {{steps.a.output.y}}"]]], after: ["a"]),
        ]))
    }

    @Test("A plan with exactly maxSteps steps is accepted; one more is rejected")
    func stepLimit() throws {
        let small = PlanValidator(catalog: .builtIn, maxSteps: 3)
        try small.validate(plan((1...3).map { step("s\($0)") }))
        let error = rejection(plan((1...4).map { step("s\($0)") }), validator: small)
        #expect(error?.code == .invalidPlan)
        #expect(error?.details["limit"] == "3")
        #expect(error?.message.contains("4 steps") == true)
    }

    @Test("The default limit is 200 steps")
    func defaultStepLimit() throws {
        #expect(PlanValidator(catalog: .builtIn).maxSteps == 200)
        try validator.validate(plan((1...200).map { step("s\($0)") }))
        #expect(rejection(plan((1...201).map { step("s\($0)") }))?.code == .invalidPlan)
    }

    @Test("Repeated entries in depends_on are harmless")
    func repeatedDependency() throws {
        let repeated = plan([step("a"), step("b", after: ["a", "a"])])
        try validator.validate(repeated)
        #expect(try PlanValidator.topologicalOrder(repeated) == [sid("a"), sid("b")])
    }

    // MARK: Structural rejections

    @Test("An empty plan is rejected")
    func empty() {
        let error = rejection(plan([]))
        #expect(error?.code == .invalidPlan)
        #expect(error?.message.contains("no steps") == true)
    }

    @Test("Duplicate step ids are rejected with the id")
    func duplicateIDs() {
        let error = rejection(plan([step("a"), step("b"), step("a", after: ["b"])]))
        #expect(error?.code == .invalidPlan)
        #expect(error?.details["step_id"] == "a")
        #expect(error?.message.contains("duplicate") == true)
    }

    @Test("An unknown dependency is rejected")
    func unknownDependency() {
        let error = rejection(plan([step("a"), step("b", after: ["a", "ghost"])]))
        #expect(error?.code == .invalidPlan)
        #expect(error?.details["step_id"] == "b")
        #expect(error?.message.contains("ghost") == true)
    }

    @Test("A self-dependency is rejected as such")
    func selfDependency() {
        let error = rejection(plan([step("a"), step("b", after: ["a", "b"])]))
        #expect(error?.code == .invalidPlan)
        #expect(error?.details["step_id"] == "b")
        #expect(error?.message.contains("itself") == true)
    }

    @Test("Cycles are rejected, naming the steps involved", arguments: [
        ([step("a", after: ["b"]), step("b", after: ["a"])], "a, b"),
        ([step("a", after: ["c"]), step("b", after: ["a"]), step("c", after: ["b"])], "a, b, c"),
        ([step("root"), step("a", after: ["root", "c"]), step("b", after: ["a"]), step("c", after: ["b"]), step("free")], "a, b, c"),
    ])
    func cycles(steps: [PlanStep], involved: String) {
        let error = rejection(plan(steps))
        #expect(error?.code == .invalidPlan)
        #expect(error?.message.contains("cycle") == true)
        #expect(error?.message.hasSuffix(": \(involved)") == true, "steps outside the cycle are not blamed")
    }

    @Test("Structural problems are reported before skill problems")
    func structureFirst() {
        let error = rejection(plan([step("a", "no-such-skill", after: ["b"]), step("b", after: ["a"])]))
        #expect(error?.code == .invalidPlan)
    }

    // MARK: Skills and params

    @Test("An unknown skill is rejected with unknown_skill")
    func unknownSkill() {
        let error = rejection(plan([step("a"), step("b", "teleport", after: ["a"])]))
        #expect(error?.code == .unknownSkill)
        #expect(error?.details["skill"] == "teleport")
        #expect(error?.details["step_id"] == "b")
        #expect(error?.category == .validation)
    }

    @Test("Params that fail the skill's input rules are rejected with invalid_params", arguments: [
        ("sleep", [:]),
        ("sleep", ["duration": "soon"]),
        ("sleep", ["duration": 600_001]),
        ("sleep", ["duration": -1]),
        ("sleep", ["duration": "11m"]),
        ("sleep", ["duration": "1s", "extra": true]),
        ("sleep", ["duration": .null]),
        ("fail", ["category": "bogus"]),
        ("fail", ["message": 42]),
        ("fail", ["reason": "unknown field"]),
    ] as [(String, JSONValue)])
    func invalidParams(skill: String, params: JSONValue) {
        let error = rejection(plan([step("s", skill, params: params)]))
        #expect(error?.code == .invalidParams)
        #expect(error?.details["step_id"] == "s")
        #expect(error?.message.contains(skill) == true)
    }

    @Test("Params within the skill's rules are accepted", arguments: [
        ("sleep", ["duration": "250ms"]),
        ("sleep", ["duration": 0]),
        ("sleep", ["duration": "10m"]),
        ("sleep", ["duration": 600_000]),
        ("fail", [:]),
        ("fail", ["message": "x", "category": "transient"]),
        ("echo", ["anything": ["goes": [1, 2.5, true, .null]]]),
    ] as [(String, JSONValue)])
    func validParams(skill: String, params: JSONValue) throws {
        try validator.validate(plan([step("s", skill, params: params)]))
    }

    @Test("A reference stands in for any type; it is checked again after rendering")
    func referenceInTypedParam() throws {
        try validator.validate(plan([step("a"), step("b", "sleep", params: ["duration": "{{steps.a.output.ms}}"], after: ["a"])]))
    }

    // MARK: References

    @Test("References to steps that are not ancestors are rejected", arguments: [
        // sibling
        [step("a"), step("b", after: ["a"]), step("c", params: ["x": "{{steps.b.output}}"], after: ["a"])],
        // descendant
        [step("a", params: ["x": "{{steps.b.output.y}}"]), step("b", after: ["a"])],
        // unrelated root
        [step("a"), step("b", params: ["x": "{{steps.a.output}}"])],
        // unknown step
        [step("a"), step("b", params: ["x": "{{steps.ghost.output}}"], after: ["a"])],
        // itself
        [step("a", params: ["x": "{{steps.a.output}}"])],
        // not a valid step id
        [step("a"), step("b", params: ["x": "{{steps.A.output}}"], after: ["a"])],
        // nested deep inside params
        [step("a"), step("c"), step("b", params: ["list": [["k": "see {{steps.c.output.z}}"]]], after: ["a"])],
    ])
    func nonAncestorReference(steps: [PlanStep]) {
        let error = rejection(plan(steps))
        #expect(error?.code == .invalidParams)
        #expect(error?.message.contains("not one of its dependencies") == true)
    }

    @Test("An unrendered {{params...}} reference is rejected", arguments: [
        "{{params.url}}", "fetch {{params.url}} now", "{{ params.url }}",
    ])
    func unrenderedTemplateParameter(text: String) {
        let error = rejection(plan([step("a", params: ["x": .string(text)])]))
        #expect(error?.code == .invalidParams)
        #expect(error?.message.contains("unrendered") == true)
        #expect(error?.message.contains("params.url") == true)
    }

    @Test("Malformed references are rejected with invalid_params", arguments: [
        "{{steps.a}}", "{{steps.a.result.x}}", "{{nothing}}", "{{}}", "{{steps..output}}", "{{env.HOME}}",
        "{{steps.a.output.x}} and {{steps.a.output.y",
    ])
    func malformedReference(text: String) {
        let error = rejection(plan([step("a"), step("b", params: ["x": .string(text)], after: ["a"])]))
        #expect(error?.code == .invalidParams)
    }

    // MARK: topologicalOrder

    @Test("topologicalOrder of a chain is the chain")
    func chainOrder() throws {
        let chain = plan([step("a"), step("b", after: ["a"]), step("c", after: ["b"]), step("d", after: ["c"])])
        #expect(try PlanValidator.topologicalOrder(chain) == ["a", "b", "c", "d"].map(sid))
    }

    @Test("topologicalOrder puts every step after its dependencies", arguments: [
        diamond,
        fanOutFanIn,
        // Listed in reverse: dependents before their dependencies.
        plan([step("d", after: ["b", "c"]), step("c", after: ["a"]), step("b", after: ["a"]), step("a")]),
        // Independent components.
        plan([step("x"), step("y", after: ["x"]), step("p"), step("q", after: ["p", "x"]), step("lonely")]),
    ])
    func topologicalOrder(of plan: Plan) throws {
        expectTopological(try PlanValidator.topologicalOrder(plan), of: plan)
    }

    @Test("topologicalOrder throws invalid_plan on a cycle")
    func topologicalOrderCycle() {
        #expect(throws: AriaError.self) {
            try PlanValidator.topologicalOrder(plan([step("a", after: ["b"]), step("b", after: ["a"])]))
        }
        do {
            _ = try PlanValidator.topologicalOrder(plan([step("x"), step("a", after: ["b", "x"]), step("b", after: ["a"])]))
            Issue.record("expected a cycle error")
        } catch {
            #expect(error.code == .invalidPlan)
            #expect(error.message.contains("a, b"))
        }
    }

    @Test("topologicalOrder of an empty plan is empty")
    func emptyOrder() throws {
        #expect(try PlanValidator.topologicalOrder(plan([])).isEmpty)
    }
}

@Suite("PlanValidator timeouts")
struct PlanValidatorTimeoutTests {
    @Test("a step or default timeout above the limit is invalid_plan; at the limit it is fine")
    func timeoutLimit() throws {
        let validator = PlanValidator(catalog: .builtIn, maxStepTimeout: .minutes(10))
        var plan = Plan(planID: "p", steps: [PlanStep(stepID: StepID(trusted: "a"), skill: "echo", timeout: .minutes(10))])
        try validator.validate(plan)
        plan.steps[0].timeout = .minutes(11)
        #expect(throws: AriaError.self) { try validator.validate(plan) }
        plan.steps[0].timeout = nil
        plan.defaults.timeout = .minutes(11)
        do { try validator.validate(plan); Issue.record("accepted") } catch { #expect(error.code == .invalidPlan) }
    }
}
