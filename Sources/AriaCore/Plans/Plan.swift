import Foundation

/// A plan: the validated DAG of steps a run executes; the contract between planner and scheduler.
public struct Plan: Codable, Sendable, Equatable {
    /// An id for the plan (from the template name and a counter, or the submitter's).
    public var planID: String
    /// The goal the plan serves.
    public var goal: String?
    /// The steps, in submission order.
    public var steps: [PlanStep]
    /// Free-form data carried along (template name, planner, ...).
    public var metadata: JSONValue
    /// Values steps inherit when they do not set them.
    public var defaults: StepDefaults

    /// Creates a plan.
    public init(planID: String, goal: String? = nil, steps: [PlanStep], metadata: JSONValue = .object([:]), defaults: StepDefaults = StepDefaults()) {
        self.planID = planID
        self.goal = goal
        self.steps = steps
        self.metadata = metadata
        self.defaults = defaults
    }

    /// The step with `id`, if any.
    public func step(_ id: StepID) -> PlanStep? { steps.first { $0.stepID == id } }

    /// The effective timeout of `step`: its own, else the plan default, else the skill's.
    public func timeout(of step: PlanStep, skillDefault: AriaDuration) -> AriaDuration {
        step.timeout ?? defaults.timeout ?? skillDefault
    }

    enum CodingKeys: String, CodingKey {
        case planID = "plan_id", goal, steps, metadata, defaults
    }
}

/// One call of a skill inside a plan.
public struct PlanStep: Codable, Sendable, Equatable {
    /// Unique within the plan, `[a-z0-9_-]+`.
    public var stepID: StepID
    /// The skill to call.
    public var skill: String
    /// The skill's input; strings may reference earlier outputs with `{{steps.<id>.output.<path>}}`.
    public var params: JSONValue
    /// Steps that must succeed before this one starts.
    public var dependsOn: [StepID]
    /// What a failure of this step does to the run.
    public var onError: OnError
    /// How long one attempt may take.
    public var timeout: AriaDuration?
    /// A name under which the step's output is also exposed in the run's result.
    public var outputKey: String?

    /// Creates a step.
    public init(stepID: StepID, skill: String, params: JSONValue = .object([:]), dependsOn: [StepID] = [], onError: OnError = .abort, timeout: AriaDuration? = nil, outputKey: String? = nil) {
        self.stepID = stepID
        self.skill = skill
        self.params = params
        self.dependsOn = dependsOn
        self.onError = onError
        self.timeout = timeout
        self.outputKey = outputKey
    }

    enum CodingKeys: String, CodingKey {
        case stepID = "step_id", skill, params, timeout
        case dependsOn = "depends_on"
        case onError = "on_error"
        case outputKey = "output_key"
    }
}

/// A step's error policy. This version implements `abort`; `continue`, `retry` and `fallback` are
/// rejected as unsupported until the scheduler implements them.
public enum OnError: String, Codable, Sendable, Equatable, CaseIterable {
    /// The run fails; steps not yet started are skipped.
    case abort
}

/// Defaults a plan's steps inherit.
public struct StepDefaults: Codable, Sendable, Equatable {
    /// Default per-attempt timeout.
    public var timeout: AriaDuration?
    /// Creates defaults.
    public init(timeout: AriaDuration? = nil) { self.timeout = timeout }
}
