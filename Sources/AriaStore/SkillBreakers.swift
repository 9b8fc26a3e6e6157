import AriaCore
import AriaPostgres
import Foundation

/// A skill's circuit breaker as stored in `skill_breakers`.
public struct SkillBreakerRecord: Sendable, Equatable {
    /// The skill.
    public var skill: String
    /// Its breaker.
    public var breaker: CircuitBreaker
    /// When the row last changed.
    public var updatedAt: Date

    /// Creates a record.
    public init(skill: String, breaker: CircuitBreaker, updatedAt: Date) {
        self.skill = skill
        self.breaker = breaker
        self.updatedAt = updatedAt
    }
}

// MARK: - The per-skill circuit breakers (`skill_breakers`)

/// The functions run inside the caller's transaction, on its connection: a scheduler gates a dispatch in
/// the transaction that marks the step dispatched, a worker records an outcome in the transaction that
/// records the attempt's result. A skill without a row has a closed breaker with no failures; rows are
/// created on the first change. A change takes the row's lock (`SELECT ... FOR UPDATE`) until the caller
/// commits, so concurrent callers apply their events one after another and only one gets the probe.
/// Callers that gate several skills in one transaction should gate them in a fixed order (sorted by name)
/// to keep lock order consistent.
extension RunStore {
    /// Records the outcome of an attempt of `skill` (`error` nil for a success) and returns the breaker
    /// after it. A success of a closed breaker without failures, and any outcome that changes nothing,
    /// cost one primary-key read and no write.
    @discardableResult
    public static func recordSkillOutcome(
        connection: PostgresConnection, skill: String, error: AriaError?, now: Date, settings: CircuitBreakerSettings
    ) throws -> CircuitBreaker {
        try SkillBreakerRows.apply(connection: connection, skill: skill, now: now) { breaker in
            breaker.record(error, now: now, settings: settings)
            return breaker
        }
    }

    /// Whether a step of `skill` may be dispatched now. `.probe` means this caller took the half-open
    /// breaker's single probe (committed with the caller's transaction; a rollback gives it back).
    public static func breakerGate(
        connection: PostgresConnection, skill: String, now: Date, settings: CircuitBreakerSettings
    ) throws -> BreakerGate {
        try SkillBreakerRows.apply(connection: connection, skill: skill, now: now) { breaker in
            breaker.gate(now: now, settings: settings)
        }
    }

    /// Every stored breaker, sorted by skill (skills without a row are closed with no failures).
    public func breakerStates() async throws -> [SkillBreakerRecord] {
        try await pool.withConnection { connection in
            try connection.query("SELECT \(SkillBreakerRows.columns) FROM skill_breakers ORDER BY skill").rows.map { row in
                SkillBreakerRecord(
                    skill: try row.required("skill"), breaker: try SkillBreakerRows.breaker(row),
                    updatedAt: SQL.date(milliseconds: row["updated_ms"]) ?? Date(timeIntervalSince1970: 0))
            }
        }
    }
}

extension StoreTransaction {
    /// The statement that reads which skills' breakers are unsettled (not closed, or closed with failures),
    /// to send along with a transition's other reads; nil when breakers are off or this transaction read them.
    func unsettledBreakersStatement() -> PostgresStatement? {
        guard breakers != nil, unsettledBreakers == nil else { return nil }
        return PostgresStatement("SELECT skill FROM skill_breakers WHERE \(Self.unsettled)")
    }

    /// The condition of an unsettled breaker's row: not closed, or closed with failures.
    private static let unsettled = "(state <> 'closed' OR consecutive_failures > 0)"

    /// Assumes, without reading them, that no skill's breaker is unsettled, so dispatches go without a read;
    /// ``checkSettledBreakers()`` then checks the assumption for the skills dispatched (and those whose
    /// results were recorded, ``assumedSkills``).
    func assumeSettledBreakers() {
        guard breakers != nil else { return }
        unsettledBreakers = []
        breakersAssumed = true
    }

    /// Queues the check of ``assumeSettledBreakers()``: the transaction fails with
    /// ``RunStore/assumptionFailed`` if the breaker of a skill it dispatched is unsettled.
    func checkSettledBreakers() {
        let skills = dispatchedSkills.union(assumedSkills)
        guard breakers != nil, breakersAssumed, !skills.isEmpty else { return }
        connection.queue("""
            SELECT aria_assume(NOT EXISTS (SELECT 1 FROM skill_breakers WHERE skill = ANY($1::text[]) AND \(Self.unsettled)),
                               'the breakers of the dispatched skills are closed without failures')
            """, [SQL.array(skills.sorted())])
    }

    /// Takes the result of ``unsettledBreakersStatement()``.
    func noteUnsettledBreakers(_ result: PostgresResult) {
        unsettledBreakers = Set(result.rows.compactMap { $0[0] })
    }

    /// Whether `skill`'s breaker may hold a dispatch back: false when this transaction knows it is closed.
    func breakerMayHold(_ skill: String) -> Bool {
        !closedBreakers.contains(skill) && unsettledBreakers?.contains(skill) != false
    }

    /// Whether an outcome of `skill` may change its breaker: a success of a settled breaker does not.
    func breakerMayChange(_ skill: String, error: AriaError?) -> Bool {
        error != nil || unsettledBreakers?.contains(skill) != false
    }
}

/// Reading and writing `skill_breakers` rows.
enum SkillBreakerRows {
    /// The selected columns, dates as epoch milliseconds.
    static let columns = """
        skill, state, consecutive_failures, last_error,
        (extract(epoch FROM opened_at) * 1000)::bigint AS opened_ms,
        (extract(epoch FROM probe_at) * 1000)::bigint AS probe_ms,
        (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms
        """

    /// Applies `event` to the skill's breaker: first on an unlocked read; only when the breaker would
    /// change, again on the locked row (created if missing), writing the result.
    static func apply<T>(connection: PostgresConnection, skill: String, now: Date, _ event: (inout CircuitBreaker) -> T) throws -> T {
        let current = try read(connection: connection, skill: skill, lock: false) ?? .closed
        var candidate = current
        let result = event(&candidate)
        guard candidate != current else { return result }
        try connection.query("INSERT INTO skill_breakers (skill, updated_at) VALUES ($1, to_timestamp($2::float8 / 1000)) ON CONFLICT (skill) DO NOTHING",
                             [skill, milliseconds(now)])
        let locked = try read(connection: connection, skill: skill, lock: true) ?? .closed
        var breaker = locked
        let lockedResult = event(&breaker)
        if breaker != locked { try write(connection: connection, skill: skill, breaker: breaker, now: now) }
        return lockedResult
    }

    /// The skill's breaker, nil without a row; `lock` takes the row's lock until the transaction ends.
    static func read(connection: PostgresConnection, skill: String, lock: Bool) throws -> CircuitBreaker? {
        let result = try connection.query("SELECT \(columns) FROM skill_breakers WHERE skill = $1\(lock ? " FOR UPDATE" : "")", [skill])
        return try result.rows.first.map(breaker)
    }

    /// The breaker of a row selected with ``columns``.
    static func breaker(_ row: PostgresRow) throws -> CircuitBreaker {
        let stateText = try row.required("state")
        guard let state = CircuitBreaker.State(rawValue: stateText) else {
            throw AriaError(.internal, "skill_breakers.state '\(stateText)' is unknown")
        }
        return CircuitBreaker(
            state: state, consecutiveFailures: Int(row["consecutive_failures"] ?? "0") ?? 0,
            openedAt: SQL.date(milliseconds: row["opened_ms"]), probeAt: SQL.date(milliseconds: row["probe_ms"]),
            lastError: try SQL.decode(AriaError.self, row["last_error"]))
    }

    /// Stores `breaker` in the skill's (existing, locked) row.
    static func write(connection: PostgresConnection, skill: String, breaker: CircuitBreaker, now: Date) throws {
        try connection.query("""
            UPDATE skill_breakers SET state = $2, consecutive_failures = $3, opened_at = to_timestamp($4::float8 / 1000),
                   probe_at = to_timestamp($5::float8 / 1000), last_error = $6::jsonb, updated_at = to_timestamp($7::float8 / 1000)
            WHERE skill = $1
            """, [skill, breaker.state.rawValue, String(breaker.consecutiveFailures), breaker.openedAt.map(milliseconds),
                  breaker.probeAt.map(milliseconds), try breaker.lastError.map { try SQL.json($0) }, milliseconds(now)])
    }

    /// A date as epoch milliseconds, for `to_timestamp($n::float8 / 1000)`.
    static func milliseconds(_ date: Date) -> String {
        String(Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }
}
