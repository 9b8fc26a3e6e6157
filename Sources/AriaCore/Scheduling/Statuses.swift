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
    /// Cancelled on request: nothing new was dispatched, running steps were told to stop.
    case cancelled

    /// Whether the run has ended.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .rejected || self == .cancelled }
}

/// The lifecycle of a step within its run.
public enum StepStatus: String, Sendable, Codable, CaseIterable {
    /// Waiting for its dependencies.
    case pending
    /// Waiting for a retry's backoff (or an open circuit breaker) to pass; dispatched at `not_before`.
    case waiting
    /// A dispatch message is on its way to a worker.
    case dispatched
    /// A worker holds an attempt.
    case running
    /// An attempt succeeded; its output is recorded.
    case succeeded
    /// An attempt failed.
    case failed
    /// Not executed: its condition was false, a dependency did not succeed (join rule), or the run ended first.
    case skipped
    /// Was dispatched or running when the run was cancelled or aborted; its worker was told to stop and a
    /// late result is discarded.
    case cancelled

    /// Whether the step has ended (a failed step may still be retried or fall back; see ``RunScheduler``).
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .skipped || self == .cancelled }

    /// Whether a dispatch is out or an attempt holds it.
    public var isInFlight: Bool { self == .dispatched || self == .running }
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
    /// The run was cancelled or aborted while it ran; its result is discarded.
    case cancelled

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
    /// A failed step will be tried again at `not_before` (retry backoff), or waits for its skill's circuit breaker.
    case stepRetrying = "step_retrying"
    /// A step gave up on its skill and runs its fallback skill.
    case stepFallback = "step_fallback"
    /// A step will not run (condition false, a dependency did not succeed, the run ended); `reason` says why.
    case stepSkipped = "step_skipped"
    /// A dispatched or running step was stopped because the run was cancelled or aborted.
    case stepCancelled = "step_cancelled"
    /// A rerun took a step's output from the parent run instead of running it.
    case stepReused = "step_reused"
    /// The run succeeded.
    case succeeded
    /// The run failed.
    case failed
    /// The job was rejected (invalid, unknown tenant, unknown template, ...).
    case rejected
    /// The run was cancelled.
    case cancelled

    /// Whether this event ends the run.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .rejected || self == .cancelled }
}
