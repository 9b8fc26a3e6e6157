import AriaCore
import AriaStore

/// Every subject of the bus contract (`docs/bus.md`). Tenant-facing subjects carry the tenant as their
/// third token; internal subjects live under `aria.int`.
public struct Subjects: SubjectResolver, Sendable {
    /// Creates the resolver.
    public init() {}

    /// `aria.t.<tenant>.submit`: durable job submission (JetStream).
    public static func submit(_ tenant: TenantID) -> String { "aria.t.\(tenant).submit" }
    /// `aria.t.<tenant>.api.<verb>`: request/reply API (core NATS, answered by gateways).
    public static func api(_ tenant: TenantID, _ verb: APIVerb) -> String { "aria.t.\(tenant).api.\(verb.rawValue)" }
    /// `aria.t.<tenant>.events.<run>.<kind>`: run events (JetStream, also readable as core NATS).
    public static func event(_ tenant: TenantID, run: RunID, kind: RunEventKind) -> String { "aria.t.\(tenant).events.\(run).\(kind.rawValue)" }
    /// `aria.t.<tenant>.events.>`: all of a tenant's events.
    public static func allEvents(_ tenant: TenantID) -> String { "aria.t.\(tenant).events.>" }
    /// `aria.t.<tenant>.events.<run>.*`: one run's events.
    public static func runEvents(_ tenant: TenantID, run: RunID) -> String { "aria.t.\(tenant).events.\(run).*" }
    /// `aria.t.<tenant>.inbox`: the inbox prefix of a tenant's clients; replies go only there.
    public static func inboxPrefix(_ tenant: TenantID) -> String { "aria.t.\(tenant).inbox" }
    /// `_INBOX.<service>`: a service's private inbox prefix.
    public static func serviceInboxPrefix(_ service: String) -> String { "_INBOX.\(service)" }

    /// `aria.int.plan`: runs waiting for the planner.
    public static let planIntake = "aria.int.plan"
    /// `aria.int.sched`: run starts and step completions for the scheduler.
    public static let scheduleIntake = "aria.int.sched"
    /// `aria.int.work.<pool>`: step dispatches for a worker pool.
    public static func workIntake(pool: String) -> String { "aria.int.work.\(pool)" }
    /// Core NATS (not a stream): "stop this attempt" notices for workers (cancel, abort). Best effort: a
    /// missed notice is caught by the worker's next lease renewal, and a late result is fenced off anyway.
    public static let cancelNotice = "aria.int.cancel"

    /// The tenant named by a tenant-facing subject (`aria.t.<tenant>....`), if valid.
    public static func tenant(of subject: String) -> TenantID? {
        let tokens = subject.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard tokens.count >= 3, tokens[0] == "aria", tokens[1] == "t" else { return nil }
        return try? TenantID(String(tokens[2]))
    }

    /// The API verb of an `aria.t.<tenant>.api.<verb>` subject.
    public static func apiVerb(of subject: String) -> String? {
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard tokens.count == 5, tokens[3] == "api" else { return nil }
        return String(tokens[4])
    }

    // SubjectResolver
    /// The event subject of a run.
    public func event(tenant: TenantID, run: RunID, kind: RunEventKind) -> String { Self.event(tenant, run: run, kind: kind) }
    /// The planner's intake.
    public var plan: String { Self.planIntake }
    /// The scheduler's intake.
    public var schedule: String { Self.scheduleIntake }
    /// A worker pool's intake.
    public func work(pool: String) -> String { Self.workIntake(pool: pool) }
}
