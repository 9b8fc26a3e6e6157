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

    /// The plan's final steps: those no other step depends on.
    public var sinks: Set<StepID> {
        let dependedOn = Set(steps.flatMap(\.dependsOn))
        return Set(steps.map(\.stepID).filter { !dependedOn.contains($0) })
    }

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
    /// A test on an earlier output; when false the step is skipped.
    public var condition: StepCondition?
    /// How failed attempts are retried (with `on_error: retry`, ``RetryPolicy/standard`` when absent).
    public var retry: RetryPolicy?
    /// The skill run once when the step gave up, under `on_error: fallback`.
    public var fallbackSkill: String?
    /// The fallback skill's params (may reference earlier outputs like `params`).
    public var fallbackParams: JSONValue?
    /// When the step runs if a dependency did not succeed (nil: ``JoinRule/allSucceeded``).
    public var join: JoinRule?

    /// Creates a step.
    public init(stepID: StepID, skill: String, params: JSONValue = .object([:]), dependsOn: [StepID] = [], onError: OnError = .abort, timeout: AriaDuration? = nil, outputKey: String? = nil,
                condition: StepCondition? = nil, retry: RetryPolicy? = nil, fallbackSkill: String? = nil, fallbackParams: JSONValue? = nil, join: JoinRule? = nil) {
        self.stepID = stepID
        self.skill = skill
        self.params = params
        self.dependsOn = dependsOn
        self.onError = onError
        self.timeout = timeout
        self.outputKey = outputKey
        self.condition = condition
        self.retry = retry
        self.fallbackSkill = fallbackSkill
        self.fallbackParams = fallbackParams
        self.join = join
    }

    /// The retry policy in force: the step's own, the standard one under `on_error: retry`, else none.
    public var effectiveRetry: RetryPolicy? { retry ?? (onError == .retry ? .standard : nil) }

    /// The join rule in force.
    public var effectiveJoin: JoinRule { join ?? .allSucceeded }

    /// The skill an attempt in `phase` runs.
    public func skill(in phase: StepPhase) -> String { phase == .fallback ? (fallbackSkill ?? skill) : skill }

    /// The params (before rendering) of an attempt in `phase`.
    public func params(in phase: StepPhase) -> JSONValue { phase == .fallback ? (fallbackParams ?? .object([:])) : params }

    enum CodingKeys: String, CodingKey {
        case stepID = "step_id", skill, params, timeout, condition, retry, join
        case dependsOn = "depends_on"
        case onError = "on_error"
        case outputKey = "output_key"
        case fallbackSkill = "fallback_skill"
        case fallbackParams = "fallback_params"
    }
}

/// Defaults a plan's steps inherit.
public struct StepDefaults: Codable, Sendable, Equatable {
    /// Default per-attempt timeout.
    public var timeout: AriaDuration?
    /// Creates defaults.
    public init(timeout: AriaDuration? = nil) { self.timeout = timeout }
}
