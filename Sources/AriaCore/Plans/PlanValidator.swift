/// Checks a plan against the structural rules and the skill catalog before any step runs.
///
/// Rejects: no steps, too many steps, duplicate step ids, unknown dependencies, self-dependencies,
/// cycles, unknown skills, params that fail the skill's input rules, and references to steps that are
/// not ancestors (their output could not exist yet).
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
        for step in plan.steps {
            if let timeout = step.timeout, timeout > maxStepTimeout {
                throw AriaError(.invalidPlan, "step '\(step.stepID)' timeout \(timeout) exceeds the limit of \(maxStepTimeout)",
                                details: ["step_id": step.stepID.rawValue])
            }
            guard let skill = catalog[step.skill] else {
                throw AriaError(.unknownSkill, "step '\(step.stepID)' calls unknown skill '\(step.skill.prefix(64))'",
                                details: ["step_id": step.stepID.rawValue, "skill": String(step.skill.prefix(64))])
            }
            let problems = skill.problems(in: step.params)
            guard problems.isEmpty else {
                throw AriaError(.invalidParams, "step '\(step.stepID)' (\(skill.name)): \(problems.joined(separator: "; "))",
                                details: ["step_id": step.stepID.rawValue])
            }
            for reference in ParamTemplate.references(in: step.params) {
                guard reference[0] == "steps" else {
                    throw AriaError(.invalidParams, "step '\(step.stepID)' has an unrendered template parameter {{\(reference.joined(separator: "."))}}")
                }
                let target = reference[1]
                guard let targetID = try? StepID(target), ancestors[step.stepID]?.contains(targetID) == true else {
                    throw AriaError(.invalidParams, "step '\(step.stepID)' references '\(target.prefix(64))', which is not one of its dependencies",
                                    details: ["step_id": step.stepID.rawValue])
                }
            }
            _ = try ParamTemplate.render(step.params) { _ in .null }  // syntax check of every reference
        }
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
