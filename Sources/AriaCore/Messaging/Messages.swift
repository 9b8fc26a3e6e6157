import Foundation

/// Body of messages that need no content beyond the envelope (`plan.request`, `run.start`).
public struct EmptyBody: Codable, Sendable, Equatable {
    /// Creates an empty body.
    public init() {}
}

/// Body of `step.dispatch`: everything a worker needs to execute one attempt, params already resolved.
public struct StepDispatchBody: Codable, Sendable, Equatable {
    /// The skill to call.
    public var skill: String
    /// The resolved input.
    public var params: JSONValue
    /// The per-attempt timeout in milliseconds.
    public var timeoutMilliseconds: Int64
    /// The run as the dispatching transaction left it, when it is small and this is its only dispatch (a new
    /// run's single root): the worker of a pure step records its result assuming it (one round trip).
    public var run: RunDigest?

    /// Creates a body.
    public init(skill: String, params: JSONValue, timeoutMilliseconds: Int64, run: RunDigest? = nil) {
        self.skill = skill
        self.params = params
        self.timeoutMilliseconds = timeoutMilliseconds
        self.run = run
    }

    enum CodingKeys: String, CodingKey {
        case skill, params, run
        case timeoutMilliseconds = "timeout_ms"
    }
}

/// What a dispatching transaction knew of its run when it committed: enough for the worker to advance the
/// run without reading it. The worker's transaction checks the assumption (`runs.last_seq` unchanged) and
/// falls back to reading the run when it fails.
public struct RunDigest: Codable, Sendable, Equatable {
    /// The run's `last_seq` after the dispatching transaction.
    public var lastSeq: Int64
    /// The run's plan.
    public var plan: Plan
    /// The submitter's idempotency key (carried by the run's events).
    public var idempotencyKey: String?
    /// The status of every step that is not `pending` (no step of a digested run has an attempt or output yet).
    public var steps: [String: StepStatus]

    /// Creates a digest.
    public init(lastSeq: Int64, plan: Plan, idempotencyKey: String?, steps: [String: StepStatus]) {
        self.lastSeq = lastSeq
        self.plan = plan
        self.idempotencyKey = idempotencyKey
        self.steps = steps
    }

    enum CodingKeys: String, CodingKey {
        case plan, steps
        case lastSeq = "last_seq"
        case idempotencyKey = "idempotency_key"
    }
}

/// Body of `step.finished`: the attempt's status (the result itself is in Postgres).
public struct StepFinishedBody: Codable, Sendable, Equatable {
    /// The step's status after the attempt.
    public var status: StepStatus
    /// Creates a body.
    public init(status: StepStatus) { self.status = status }
}

/// Body of a run event as tenants receive it on `aria.t.<tenant>.events.<run>.<kind>`.
public struct RunEventBody: Codable, Sendable, Equatable {
    /// The event kind.
    public var kind: RunEventKind
    /// The run's status after the event.
    public var status: RunStatus?
    /// The submitter's idempotency key (acceptance, rejection and the run's end: `succeeded`, `failed`,
    /// `cancelled`), so a publisher can match its job and its outcome.
    public var idempotencyKey: String?
    /// The step concerned.
    public var step: StepID?
    /// The step's skill.
    public var skill: String?
    /// The attempt number.
    public var attempt: Int?
    /// The step's output (step_succeeded) or the run's outputs by output key (succeeded).
    public var output: JSONValue?
    /// The error (step_failed, step_retrying, failed, rejected).
    public var error: AriaError?
    /// Why (step_skipped, step_cancelled, cancelled, step_retrying).
    public var reason: String?
    /// When a waiting step is dispatched again (step_retrying).
    public var notBefore: Date?
    /// The run this one reruns (accepted of a rerun), or the run a reused output comes from (step_reused).
    public var parentRun: RunID?

    /// Creates a body.
    public init(kind: RunEventKind, status: RunStatus? = nil, idempotencyKey: String? = nil, step: StepID? = nil, skill: String? = nil, attempt: Int? = nil, output: JSONValue? = nil, error: AriaError? = nil,
                reason: String? = nil, notBefore: Date? = nil, parentRun: RunID? = nil) {
        self.kind = kind
        self.status = status
        self.idempotencyKey = idempotencyKey
        self.step = step
        self.skill = skill
        self.attempt = attempt
        self.output = output
        self.error = error
        self.reason = reason
        self.notBefore = notBefore
        self.parentRun = parentRun
    }

    enum CodingKeys: String, CodingKey {
        case kind, status, step, skill, attempt, output, error, reason
        case idempotencyKey = "idempotency_key"
        case notBefore = "not_before"
        case parentRun = "parent_run"
    }
}

/// The request/reply API verbs under `aria.t.<tenant>.api.<verb>`.
public enum APIVerb: String, Sendable, CaseIterable {
    /// Submit a job and get the run id once it is committed (request body: a `job.submit` envelope).
    case createJob = "create_job"
    /// Read a run with its steps (request body: `{"run": "<id>"}`).
    case getRun = "get_run"
    /// Read a run's events after a sequence number (request body: `{"run": "<id>", "after_seq": n}`).
    case runEvents = "run_events"
    /// Cancel a run (request body: `{"run": "<id>", "reason": "..."}`); the reply has the run's new status.
    case cancelRun = "cancel_run"
    /// Rerun an ended run as a new run with `parent_run_id` (request body: `{"run": "<id>", "mode":
    /// "from_scratch" | "from_failed"}`); the reply has the new run's id.
    case rerunRun = "rerun_run"
}

/// The reply to every API request: `ok` with a result, or an error.
public struct APIReply: Codable, Sendable {
    /// Whether the request succeeded.
    public var ok: Bool
    /// The run concerned (create_job: the new or existing run; idempotency_conflict: the existing run).
    public var run: RunID?
    /// The run's status (create_job).
    public var status: RunStatus?
    /// Whether create_job found an existing run for the same key and payload.
    public var duplicate: Bool?
    /// The run with its steps (get_run).
    public var runView: RunView?
    /// Events (run_events).
    public var events: [Envelope<RunEventBody>]?
    /// The error when `ok` is false.
    public var error: AriaError?

    /// A successful reply.
    public static func success(run: RunID? = nil, status: RunStatus? = nil, duplicate: Bool? = nil, runView: RunView? = nil, events: [Envelope<RunEventBody>]? = nil) -> APIReply {
        APIReply(ok: true, run: run, status: status, duplicate: duplicate, runView: runView, events: events, error: nil)
    }

    /// A failed reply.
    public static func failure(_ error: AriaError, run: RunID? = nil) -> APIReply {
        APIReply(ok: false, run: run, status: nil, duplicate: nil, runView: nil, events: nil, error: error)
    }

    enum CodingKeys: String, CodingKey {
        case ok, run, status, duplicate, events, error
        case runView = "run_view"
    }
}

/// A run as the API shows it.
public struct RunView: Codable, Sendable, Equatable {
    /// The run id.
    public var run: RunID
    /// The tenant.
    public var tenant: TenantID
    /// The agent.
    public var agent: AgentID
    /// The status.
    public var status: RunStatus
    /// The goal.
    public var goal: String?
    /// The idempotency key it was submitted with.
    public var idempotencyKey: String?
    /// The run it was re-run from.
    public var parentRun: RunID?
    /// Why it failed or was rejected.
    public var error: AriaError?
    /// Outputs of steps with an `output_key`, by key.
    public var output: JSONValue?
    /// When it was accepted.
    public var createdAt: Date
    /// When it ended.
    public var finishedAt: Date?
    /// The sequence number of its latest event.
    public var lastSeq: Int64
    /// Its steps, in plan order.
    public var steps: [StepView]

    /// Creates a view.
    public init(run: RunID, tenant: TenantID, agent: AgentID, status: RunStatus, goal: String?, idempotencyKey: String?, parentRun: RunID?, error: AriaError?, output: JSONValue?, createdAt: Date, finishedAt: Date?, lastSeq: Int64, steps: [StepView]) {
        self.run = run
        self.tenant = tenant
        self.agent = agent
        self.status = status
        self.goal = goal
        self.idempotencyKey = idempotencyKey
        self.parentRun = parentRun
        self.error = error
        self.output = output
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.lastSeq = lastSeq
        self.steps = steps
    }

    enum CodingKeys: String, CodingKey {
        case run, tenant, agent, status, goal, error, output, steps
        case idempotencyKey = "idempotency_key"
        case parentRun = "parent_run"
        case createdAt = "created_at"
        case finishedAt = "finished_at"
        case lastSeq = "last_seq"
    }
}

/// A step as the API shows it.
public struct StepView: Codable, Sendable, Equatable {
    /// The step id.
    public var step: StepID
    /// The skill.
    public var skill: String
    /// The status.
    public var status: StepStatus
    /// Attempts started.
    public var attempts: Int
    /// The output, once succeeded.
    public var output: JSONValue?
    /// The error, once failed.
    public var error: AriaError?
    /// Whether it runs its skill or its fallback.
    public var phase: StepPhase?
    /// Why it was skipped or cancelled.
    public var reason: String?
    /// The run its output was reused from (a rerun from failed).
    public var reusedFrom: RunID?

    /// Creates a view.
    public init(step: StepID, skill: String, status: StepStatus, attempts: Int, output: JSONValue?, error: AriaError?, phase: StepPhase? = nil, reason: String? = nil, reusedFrom: RunID? = nil) {
        self.step = step
        self.skill = skill
        self.status = status
        self.attempts = attempts
        self.output = output
        self.error = error
        self.phase = phase
        self.reason = reason
        self.reusedFrom = reusedFrom
    }

    enum CodingKeys: String, CodingKey {
        case step, skill, status, attempts, output, error, phase, reason
        case reusedFrom = "reused_from"
    }
}

/// A notice on `aria.int.cancel` (core NATS, not a stream) telling the worker that holds an attempt to stop
/// it: its run was cancelled or aborted. Best effort; the worker's lease renewal catches a lost notice.
public struct CancelNotice: Codable, Sendable, Equatable {
    /// The tenant.
    public var tenant: TenantID
    /// The run.
    public var run: RunID
    /// The step whose attempt must stop.
    public var step: StepID
    /// Why.
    public var reason: String

    /// Creates a notice.
    public init(tenant: TenantID, run: RunID, step: StepID, reason: String) {
        self.tenant = tenant
        self.run = run
        self.step = step
        self.reason = reason
    }
}

/// How a rerun treats the parent run's steps.
public enum RerunMode: String, Sendable, Codable, CaseIterable {
    /// Every step runs again.
    case fromScratch = "from_scratch"
    /// Steps that succeeded in the parent keep their output (`step_reused`); the others run.
    case fromFailed = "from_failed"
}
