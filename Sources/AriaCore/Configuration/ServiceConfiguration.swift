import Foundation

/// The settings every Aria service reads at start (`docs/configuration.md` lists them with defaults).
public struct ServiceConfiguration: Sendable, CustomStringConvertible {
    /// `ARIA_NATS_URL`: comma-separated server URLs. Default `nats://127.0.0.1:4222`.
    public var natsURLs: [String]
    /// `ARIA_NATS_USER`: this service's NATS user. Default: the service name.
    public var natsUser: String
    /// `ARIA_NATS_PASSWORD` or `ARIA_NATS_PASSWORD_FILE`.
    public var natsPassword: Secret?
    /// `ARIA_DATABASE_URL` or `ARIA_DATABASE_URL_FILE`: `postgres://user:pass@host:port/db`.
    public var databaseURL: Secret
    /// `ARIA_DB_POOL_SIZE`: connections per process. Default 8.
    public var databasePoolSize: Int
    /// `ARIA_INSTANCE`: this replica's name in logs, attempts and presence. Default `<service>-<pid>`.
    public var instance: String
    /// `ARIA_LOG_LEVEL`: trace, debug, info, notice, warning, error. Default info.
    public var logLevel: String
    /// `ARIA_READY_FILE`: a file that exists exactly while the service is ready (connected to NATS and Postgres).
    public var readyFile: String?
    /// `ARIA_DRAIN_GRACE`: how long in-flight work may take to finish after SIGTERM. Default 10s.
    public var drainGrace: AriaDuration
    /// `ARIA_FETCH_BATCH`: most messages fetched (and handled in one transaction) at once. Default 64.
    public var fetchBatch: Int
    /// `ARIA_MAX_JOB_BYTES`: largest accepted job message. Default 524288 (512 KiB).
    public var maxJobBytes: Int
    /// `ARIA_MAX_PLAN_STEPS`: most steps a plan may have. Default 200.
    public var maxPlanSteps: Int
    /// `ARIA_WORKER_SLOTS`: steps one worker executes at once. Default 64 (more slots make larger group commits).
    public var workerSlots: Int
    /// `ARIA_WORKER_INLINE_STEPS`: the most steps of pure skills (of its own pool) a worker executes inside
    /// one result transaction, instead of sending them over the bus (inline execution). 0 turns it off.
    /// Default 32.
    public var workerInlineSteps: Int
    /// `ARIA_DISPATCH_AHEAD`: the gateway sends a new run's first step dispatches while the transaction that
    /// records it commits, instead of after, when the transaction carries at most this many submissions.
    /// 0 turns it off. Default 8.
    public var dispatchAhead: Int
    /// `ARIA_GATEWAY_INLINE_STEPS`: the most steps of pure skills (`echo`, `fail`, `json_transform`, when
    /// routed to the default pool) a gateway executes inside the transaction that records their run, instead
    /// of dispatching them to a worker (inline execution). 0 turns it off. Default 32.
    public var gatewayInlineSteps: Int
    /// `ARIA_WORKER_POOL`: the skill pool this worker serves. Default `default`.
    public var workerPool: String
    /// `ARIA_WORKER_SKILLS`: the skills of its pool this worker runs (comma-separated); nil for all of them.
    public var workerSkills: [String]?
    /// `ARIA_BREAKER_FAILURE_THRESHOLD`, `ARIA_BREAKER_COOLDOWN`: the per-skill circuit breakers.
    public var breaker: CircuitBreakerSettings
    /// `ARIA_PLANS_DIR`: plan templates (`*.yaml`). Default `config/plans`.
    public var plansDirectory: String
    /// `ARIA_OUTBOX_SWEEP`: how often unpublished outbox rows are swept. Default 1s.
    public var outboxSweepInterval: AriaDuration
    /// `ARIA_OUTBOX_GRACE`: how long a fresh outbox row is left to its writer before a sweeper takes it. Default 3s.
    public var outboxGrace: AriaDuration
    /// `ARIA_API_MAX_INFLIGHT`: API requests a gateway handles at once before answering `overloaded`. Default 256.
    public var apiMaxInFlight: Int
    /// `ARIA_RECONCILE_INTERVAL`: how often schedulers and planners look for runs that stopped moving. Default 5s.
    public var reconcileInterval: AriaDuration
    /// `ARIA_RECONCILE_IDLE_AFTER`: a run unchanged for this long is checked by the reconciler. Default 30s.
    public var reconcileIdleAfter: AriaDuration
    /// `ARIA_RECONCILE_DISPATCHED_AFTER`: a step dispatched this long without an attempt is dispatched again. Default 5m.
    public var reconcileDispatchedAfter: AriaDuration
    /// `ARIA_RECONCILE_RUNNING_AFTER`: a running step without a lease (from before leases) counts as lost after this long. Default 15m.
    public var reconcileRunningAfter: AriaDuration
    /// `ARIA_TIMER_INTERVAL`: how often schedulers look for waiting steps whose retry delay is over. Default 100ms.
    public var timerInterval: AriaDuration
    /// `ARIA_WATCHDOG_AFTER`: a running run with no progress (no step started or finished, no live lease, no
    /// retry pending) for this long fails with `run_stalled`. Default 15m.
    public var watchdogAfter: AriaDuration

    /// Reads the settings for `service` from `reader`.
    public init(service: String, reader: ConfigReader = ConfigReader()) throws(AriaError) {
        natsURLs = reader.list("ARIA_NATS_URL", default: ["nats://127.0.0.1:4222"])
        natsUser = reader.string("ARIA_NATS_USER", default: service)
        natsPassword = try reader.secret("ARIA_NATS_PASSWORD")
        databaseURL = try reader.secret("ARIA_DATABASE_URL") ?? Secret("postgres://aria@127.0.0.1:5432/aria")
        databasePoolSize = try reader.int("ARIA_DB_POOL_SIZE", default: 8, range: 1...256)
        instance = reader.string("ARIA_INSTANCE", default: "\(service)-\(ProcessInfo.processInfo.processIdentifier)")
        logLevel = reader.string("ARIA_LOG_LEVEL", default: "info")
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw AriaError(.invalidConfiguration, "ARIA_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical")
        }
        readyFile = reader.optionalString("ARIA_READY_FILE")
        drainGrace = try reader.duration("ARIA_DRAIN_GRACE", default: AriaDuration(milliseconds: 10_000))
        fetchBatch = try reader.int("ARIA_FETCH_BATCH", default: 64, range: 1...1024)
        maxJobBytes = try reader.int("ARIA_MAX_JOB_BYTES", default: 512 * 1024, range: 1024...(64 * 1024 * 1024))
        maxPlanSteps = try reader.int("ARIA_MAX_PLAN_STEPS", default: 200, range: 1...10_000)
        workerSlots = try reader.int("ARIA_WORKER_SLOTS", default: 64, range: 1...4096)
        workerInlineSteps = try reader.int("ARIA_WORKER_INLINE_STEPS", default: 32, range: 0...1024)
        dispatchAhead = try reader.int("ARIA_DISPATCH_AHEAD", default: 8, range: 0...1024)
        gatewayInlineSteps = try reader.int("ARIA_GATEWAY_INLINE_STEPS", default: 32, range: 0...1024)
        workerPool = reader.string("ARIA_WORKER_POOL", default: SkillDescriptor.defaultPool)
        guard SubjectSafeName.isValid(workerPool) else {
            throw AriaError(.invalidConfiguration, "ARIA_WORKER_POOL must match [a-z0-9_-]{1,64}")
        }
        let skills = reader.list("ARIA_WORKER_SKILLS", default: [])
        for skill in skills where !SubjectSafeName.isValid(skill) {
            throw AriaError(.invalidConfiguration, "ARIA_WORKER_SKILLS: '\(skill.prefix(64))' is not a skill name")
        }
        workerSkills = skills.isEmpty ? nil : skills
        breaker = try CircuitBreakerSettings(reader: reader)
        plansDirectory = reader.string("ARIA_PLANS_DIR", default: "config/plans")
        outboxSweepInterval = try reader.duration("ARIA_OUTBOX_SWEEP", default: AriaDuration(milliseconds: 1_000))
        outboxGrace = try reader.duration("ARIA_OUTBOX_GRACE", default: AriaDuration(milliseconds: 3_000))
        apiMaxInFlight = try reader.int("ARIA_API_MAX_INFLIGHT", default: 256, range: 1...100_000)
        reconcileInterval = try reader.duration("ARIA_RECONCILE_INTERVAL", default: .seconds(5))
        reconcileIdleAfter = try reader.duration("ARIA_RECONCILE_IDLE_AFTER", default: .seconds(30))
        reconcileDispatchedAfter = try reader.duration("ARIA_RECONCILE_DISPATCHED_AFTER", default: .minutes(5))
        reconcileRunningAfter = try reader.duration("ARIA_RECONCILE_RUNNING_AFTER", default: .minutes(15))
        timerInterval = try reader.duration("ARIA_TIMER_INTERVAL", default: .milliseconds(100))
        watchdogAfter = try reader.duration("ARIA_WATCHDOG_AFTER", default: .minutes(15))
    }

    /// The settings with secrets redacted.
    public var description: String {
        "nats=\(natsURLs.joined(separator: ",")) user=\(natsUser) instance=\(instance) pool=\(databasePoolSize) fetchBatch=\(fetchBatch) slots=\(workerSlots) inlineSteps=\(workerInlineSteps) gatewayInlineSteps=\(gatewayInlineSteps) dispatchAhead=\(dispatchAhead) workerPool=\(workerPool)\(workerSkills.map { " workerSkills=\($0.joined(separator: ","))" } ?? "") breaker=\(breaker)"
    }
}

/// The cluster's notion of "now" for things the sender stamps (envelopes); leases and deadlines use
/// Postgres `now()` instead.
public protocol AriaClock: Sendable {
    /// The current time.
    func now() -> Date
}

/// The system clock.
public struct SystemClock: AriaClock {
    /// Creates the clock.
    public init() {}
    /// `Date()`.
    public func now() -> Date { Date() }
}
