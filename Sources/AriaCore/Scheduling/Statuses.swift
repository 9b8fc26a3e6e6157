/// The lifecycle of a run.
public enum RunStatus: String, Sendable, Codable, CaseIterable {
    /// Recorded by the gateway; waiting for a plan (template) or for the scheduler (explicit plan).
    case accepted
    /// A planner is turning the template into a plan.
    case planning
    /// The scheduler is dispatching steps.
    case running
    /// Every step succeeded.
    case succeeded
    /// A step failed under `abort`.
    case failed
    /// The job could not be planned or validated (unknown template, invalid plan).
    case rejected

    /// Whether the run has ended.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .rejected }
}

/// The lifecycle of a step within its run.
public enum StepStatus: String, Sendable, Codable, CaseIterable {
    /// Waiting for its dependencies.
    case pending
    /// A dispatch message is on its way to a worker.
    case dispatched
    /// A worker holds an attempt.
    case running
    /// An attempt succeeded; its output is recorded.
    case succeeded
    /// An attempt failed.
    case failed
    /// Not executed because the run ended first.
    case skipped

    /// Whether the step has ended.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .skipped }
}

/// The lifecycle of one attempt of a step.
public enum AttemptStatus: String, Sendable, Codable, CaseIterable {
    /// A worker executes it.
    case running
    /// It produced an output.
    case succeeded
    /// It produced an error.
    case failed
    /// A later attempt took over (the worker was presumed dead); its late result is rejected.
    case superseded

    /// Whether the attempt has ended.
    public var isTerminal: Bool { self != .running }
}

/// The kinds of run events, in the order a successful run emits them.
public enum RunEventKind: String, Sendable, Codable, CaseIterable {
    /// The gateway recorded the run.
    case accepted
    /// The run has a validated plan.
    case planned
    /// A worker started an attempt of a step.
    case stepStarted = "step_started"
    /// A step succeeded.
    case stepSucceeded = "step_succeeded"
    /// A step failed.
    case stepFailed = "step_failed"
    /// The run succeeded.
    case succeeded
    /// The run failed.
    case failed
    /// The job was rejected (invalid, unknown tenant, unknown template, ...).
    case rejected

    /// Whether this event ends the run.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .rejected }
}
