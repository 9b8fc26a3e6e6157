/// Checks a plan against the structural rules and the skill catalog before any step runs.
///
/// Rejects: no steps, too many steps, duplicate step ids, unknown dependencies, self-dependencies,
/// cycles, unknown skills, params that fail the skill's input rules, references to steps that are
/// not ancestors (their output could not exist yet), conditions on steps that are not ancestors, fallback
/// settings without `on_error: fallback` (and the reverse), unknown fallback skills, and repeated output keys.
public struct PlanValidator: Sendable {
    /// The skills steps may call.
    public var catalog: SkillCatalog
    /// Most steps a plan may have.
    public var maxSteps: Int
    /// The longest per-attempt timeout a step may ask for (10 minutes by default).
    public var maxStepTimeout: AriaDuration

    /// Creates a validator.
    public init(catalog: SkillCatalog, maxSteps: Int = 200, maxStepTimeout: AriaDuration = .minutes(10)) {
        self.catalog = catalog
        self.maxSteps = maxSteps
        self.maxStepTimeout = maxStepTimeout
    }

    /// Throws the first problem found, as a typed error.
    public func validate(_ plan: Plan) throws(AriaError) {
        guard !plan.steps.isEmpty else { throw AriaError(.invalidPlan, "plan has no steps") }
        guard plan.steps.count <= maxSteps else {
            throw AriaError(.invalidPlan, "plan has \(plan.steps.count) steps; the limit is \(maxSteps)", details: ["limit": String(maxSteps)])
        }
        var ids = Set<StepID>()
        for step in plan.steps {
            guard ids.insert(step.stepID).inserted else {
                throw AriaError(.invalidPlan, "duplicate step id '\(step.stepID)'", details: ["step_id": step.stepID.rawValue])
            }
        }
        for step in plan.steps {
            for dependency in step.dependsOn {
                guard dependency != step.stepID else {
                    throw AriaError(.invalidPlan, "step '\(step.stepID)' depends on itself", details: ["step_id": step.stepID.rawValue])
                }
                guard ids.contains(dependency) else {
                    throw AriaError(.invalidPlan, "step '\(step.stepID)' depends on unknown step '\(dependency)'", details: ["step_id": step.stepID.rawValue])
                }
            }
        }
        let order = try Self.topologicalOrder(plan)
        var ancestors: [StepID: Set<StepID>] = [:]
        for id in order {
            let step = plan.step(id)!
            var mine = Set<StepID>()
            for dependency in step.dependsOn { mine.insert(dependency); mine.formUnion(ancestors[dependency] ?? []) }
            ancestors[id] = mine
        }
        if let timeout = plan.defaults.timeout, timeout > maxStepTimeout {
            throw AriaError(.invalidPlan, "default timeout \(timeout) exceeds the limit of \(maxStepTimeout)")
        }
        var outputKeys = Set<String>()
        for step in plan.steps {
            if let timeout = step.timeout, timeout > maxStepTimeout {
                throw AriaError(.invalidPlan, "step '\(step.stepID)' timeout \(timeout) exceeds the limit of \(maxStepTimeout)",
                                details: ["step_id": step.stepID.rawValue])
            }
            guard let skill = catalog[step.skill] else {
                throw AriaError(.unknownSkill, "step '\(step.stepID)' calls unknown skill '\(step.skill.prefix(64))'",
                                details: ["step_id": step.stepID.rawValue, "skill": String(step.skill.prefix(64))])
            }
            try checkParams(step.params, skill: skill, step: step, ancestors: ancestors[step.stepID] ?? [])
            if let condition = step.condition, ancestors[step.stepID]?.contains(condition.stepID) != true {
                throw AriaError(.invalidPlan, "step '\(step.stepID)' has a condition on '\(condition.stepID)', which is not one of its dependencies",
                                details: ["step_id": step.stepID.rawValue])
            }
            switch (step.onError, step.fallbackSkill) {
            case (.fallback, nil):
                throw AriaError(.invalidPlan, "step '\(step.stepID)' has on_error 'fallback' but no fallback_skill", details: ["step_id": step.stepID.rawValue])
            case (.fallback, let name?):
                guard let fallback = catalog[name] else {
                    throw AriaError(.unknownSkill, "step '\(step.stepID)' has unknown fallback skill '\(name.prefix(64))'",
                                    details: ["step_id": step.stepID.rawValue, "skill": String(name.prefix(64))])
                }
                try checkParams(step.params(in: .fallback), skill: fallback, step: step, ancestors: ancestors[step.stepID] ?? [])
            case (_, _?):
                throw AriaError(.invalidPlan, "step '\(step.stepID)' has a fallback_skill but on_error is '\(step.onError.rawValue)', not 'fallback'",
                                details: ["step_id": step.stepID.rawValue])
            case (_, nil):
                if step.fallbackParams != nil {
                    throw AriaError(.invalidPlan, "step '\(step.stepID)' has fallback_params without a fallback_skill", details: ["step_id": step.stepID.rawValue])
                }
            }
            if let key = step.outputKey {
                guard !key.isEmpty, key.count <= 64 else {
                    throw AriaError(.invalidPlan, "step '\(step.stepID)' output_key must have 1 to 64 characters", details: ["step_id": step.stepID.rawValue])
                }
                guard outputKeys.insert(key).inserted else {
                    throw AriaError(.invalidPlan, "output_key '\(key)' is used by more than one step", details: ["step_id": step.stepID.rawValue])
                }
            }
        }
    }

    /// Checks params against the skill's input rules and their references against the step's ancestors.
    private func checkParams(_ params: JSONValue, skill: SkillDescriptor, step: PlanStep, ancestors: Set<StepID>) throws(AriaError) {
        let problems = skill.problems(in: params)
        guard problems.isEmpty else {
            throw AriaError(.invalidParams, "step '\(step.stepID)' (\(skill.name)): \(problems.joined(separator: "; "))",
                            details: ["step_id": step.stepID.rawValue])
        }
        for reference in ParamTemplate.references(in: params) {
            guard reference[0] == "steps" else {
                throw AriaError(.invalidParams, "step '\(step.stepID)' has an unrendered template parameter {{\(reference.joined(separator: "."))}}")
            }
            let target = reference[1]
            guard let targetID = try? StepID(target), ancestors.contains(targetID) else {
                throw AriaError(.invalidParams, "step '\(step.stepID)' references '\(target.prefix(64))', which is not one of its dependencies",
                                details: ["step_id": step.stepID.rawValue])
            }
        }
        _ = try ParamTemplate.render(params) { _ in .null }  // syntax check of every reference
    }

    /// The step ids in an order where every step comes after its dependencies; throws on a cycle.
    public static func topologicalOrder(_ plan: Plan) throws(AriaError) -> [StepID] {
        var remaining: [StepID: Int] = [:]
        var dependents: [StepID: [StepID]] = [:]
        for step in plan.steps {
            remaining[step.stepID] = step.dependsOn.count
            for dependency in step.dependsOn { dependents[dependency, default: []].append(step.stepID) }
        }
        var ready = plan.steps.filter { $0.dependsOn.isEmpty }.map(\.stepID)
        var order: [StepID] = []
        while let next = ready.popLast() {
            order.append(next)
            for dependent in dependents[next] ?? [] {
                remaining[dependent]! -= 1
                if remaining[dependent] == 0 { ready.append(dependent) }
            }
        }
        guard order.count == plan.steps.count else {
            let stuck = plan.steps.map(\.stepID).filter { remaining[$0]! > 0 }.map(\.rawValue).sorted()
            throw AriaError(.invalidPlan, "plan has a dependency cycle among: \(stuck.prefix(10).joined(separator: ", "))")
        }
        return order
    }
}
