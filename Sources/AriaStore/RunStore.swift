import AriaCore
import AriaPostgres
import Foundation
import Synchronization

/// The durable state of runs: every transition commits here, with its events and next-hop intents.
///
/// Each method is one transaction and returns the outbox messages it wrote, for the caller's relay to
/// publish right away (a sweeper republishes any that are left behind).
public struct RunStore: Sendable {
    /// The connection pool.
    public let pool: PostgresPool
    /// The writing service (`gateway`, `planner`, ...): owner of the outbox rows it writes.
    public let origin: String
    /// The bus subjects.
    public let subjects: SubjectResolver
    /// How long the writer has to publish its outbox rows before a sweeper does.
    public let outboxGrace: AriaDuration
    /// Stamps envelopes.
    public let clock: AriaClock
    /// The skill circuit breakers' settings: dispatches are gated and attempt outcomes recorded with them
    /// (nil: breakers are neither consulted nor fed).
    public let breakers: CircuitBreakerSettings?
    /// Whether submissions may be sent whole, assuming they are new (shared by copies of this store).
    let optimism = SubmissionOptimism()
    /// The agents this store has seen recorded (shared by copies of this store).
    let recordedAgents = RecordedAgents()

    /// Creates a store.
    public init(pool: PostgresPool, origin: String, subjects: SubjectResolver, outboxGrace: AriaDuration, clock: AriaClock = SystemClock(), breakers: CircuitBreakerSettings? = nil) {
        self.pool = pool
        self.origin = origin
        self.subjects = subjects
        self.outboxGrace = outboxGrace
        self.clock = clock
        self.breakers = breakers
    }

    /// Runs `body` in a transaction with a ``StoreTransaction`` and flushes its events and outbox rows.
    ///
    /// `ahead` gets the step dispatches the body queued ahead of the commit (``StoreTransaction/dispatchesAhead``)
    /// as soon as the COMMIT is sent, before its answer; `committed` gets the outbox messages once the
    /// transaction has committed, before the caller resumes (both on the connection's thread; they must
    /// not block). The messages are returned as well.
    public func transaction<T: Sendable>(ahead: (@Sendable ([OutboxMessage]) -> Void)? = nil,
                                         committed: (@Sendable ([OutboxMessage]) -> Void)? = nil,
                                         _ body: @escaping @Sendable (StoreTransaction) throws -> T) async throws -> (T, [OutboxMessage]) {
        let origin = origin, subjects = subjects, grace = outboxGrace, clock = clock, breakers = breakers
        let (value, batch) = try await pool.transaction { connection in
            // Read on the connection's thread, right before BEGIN: close to the transaction's `now()` in Postgres,
            // so times computed from it (a retry's `not_before`) line up with the times the rows record.
            let now = clock.now()
            let tx = StoreTransaction(connection: connection, origin: origin, subjects: subjects, now: now, breakers: breakers)
            let value = try body(tx)
            let batch = try tx.flush(outboxGrace: grace)
            if let ahead, !tx.aheadMessages.isEmpty {
                let messages = tx.aheadMessages
                connection.whenNextSent { ahead(messages) }
            }
            if let committed {
                // Read once committed: the rows' ids are set from the COMMIT's round trip.
                connection.whenCommitted {
                    let messages = batch.messages
                    if !messages.isEmpty { committed(messages) }
                }
            }
            return (value, batch)
        }
        return (value, batch.messages)
    }

    /// The session settings of connections to the cluster database: generic plans for every prepared
    /// statement. Aria's statements take their batches as arrays (`unnest($1::uuid[])`, `= ANY($1)`); a custom
    /// plan, which sees the array's length, always looks cheaper than the generic one, so by default Postgres
    /// planned them again on every execution (~30 % of their server time, `pg_stat_statements`), to choose
    /// the same plan. Partial-index predicates are written as literals, so generic plans still use them.
    public static let sessionSettings = ["plan_cache_mode": "force_generic_plan"]

    // MARK: Tenants

    /// Whether `tenant` exists and is active.
    public func isActiveTenant(_ tenant: TenantID) async throws -> Bool {
        try await pool.withConnection { connection in
            let result = try connection.query("SELECT status FROM tenants WHERE tenant_id = $1", [tenant.rawValue])
            return result.rows.first?[0] == "active"
        }
    }

    /// Creates `tenant` if it does not exist (idempotent).
    public func addTenant(_ tenant: TenantID, displayName: String = "") async throws {
        _ = try await pool.withConnection { connection in
            try connection.query("INSERT INTO tenants (tenant_id, display_name) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING",
                                 [tenant.rawValue, displayName])
        }
    }
}

// MARK: - Gateway: submissions

/// A validated job ready to be recorded.
public struct SubmissionInput: Sendable {
    /// The tenant from the subject.
    public var tenant: TenantID
    /// The submitter's business idempotency key.
    public var idempotencyKey: String?
    /// The transport identity of the message (`<stream>:<seq>`), so a redelivered message is recognised.
    public var submissionRef: String?
    /// SHA-256 of the canonical job JSON.
    public var payloadHash: String
    /// The job.
    public var job: JobSpec
    /// The job's canonical JSON (stored).
    public var jobJSON: String
    /// When the submitter wants it done by.
    public var deadline: Date?
    /// The submitter's trace context.
    public var traceparent: String?

    /// Creates an input.
    public init(tenant: TenantID, idempotencyKey: String?, submissionRef: String?, payloadHash: String, job: JobSpec, jobJSON: String, deadline: Date?, traceparent: String?) {
        self.tenant = tenant
        self.idempotencyKey = idempotencyKey
        self.submissionRef = submissionRef
        self.payloadHash = payloadHash
        self.job = job
        self.jobJSON = jobJSON
        self.deadline = deadline
        self.traceparent = traceparent
    }
}

/// Sending a submission's step dispatches while its transaction commits, instead of after: the bus hop to a
/// worker overlaps the COMMIT's round trip and fsync.
///
/// Safe because nothing acts on such a dispatch before the transaction is over: the transaction holds a
/// lock per new run (``RunStore/lockCreation(of:)``) and a worker takes it, shared, before it reads the run
/// (``AriaHeader/ahead``), which makes it wait for the COMMIT. A dispatch whose transaction rolled back
/// finds no run: the worker redelivers it a few times (it may also have overtaken the transaction's start)
/// and then drops it. The dispatch is also in the outbox as usual, so a lost early publication costs nothing.
public struct DispatchAhead: Sendable {
    /// Only transactions of at most this many submissions send ahead: under load, large group commits keep
    /// the dispatches after the COMMIT so that workers do not hold connections waiting for them.
    public var maxSubmissions: Int
    /// Publishes the dispatches; called on the connection's thread right after the COMMIT is sent, so it
    /// must not block.
    public var publish: @Sendable ([OutboxMessage]) -> Void

    /// Creates the setting.
    public init(maxSubmissions: Int, publish: @escaping @Sendable ([OutboxMessage]) -> Void) {
        self.maxSubmissions = maxSubmissions
        self.publish = publish
    }
}

extension RunID {
    /// The key of the transaction-scoped advisory lock that a run's creating transaction holds when its
    /// dispatches go ahead (``DispatchAhead``): the UUID's last 8 bytes, random in a UUIDv7. Two runs that
    /// share a key only wait for each other's creation.
    public var creationLockKey: Int64 {
        let bytes = uuid.uuid
        let tail: [UInt8] = [bytes.8, bytes.9, bytes.10, bytes.11, bytes.12, bytes.13, bytes.14, bytes.15]
        return Int64(bitPattern: tail.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }
}

extension RunStore {
    /// Takes the creation locks of `runs` until the transaction ends, in key order: exclusive for the
    /// transaction creating them, shared for one waiting for it (``awaitCreation(of:)``).
    static func lockCreation(of runs: [RunID], shared: Bool = false) -> PostgresStatement {
        let keys = Set(runs.map(\.creationLockKey)).sorted().map(String.init)
        let lock = ColumnRows("SELECT pg_advisory_xact_lock\(shared ? "_shared" : "")(k) FROM unnest($1::bigint[]) AS u(k)", rowCount: keys.count)
        return PostgresStatement(lock.sql, lock.parameters([.column(keys)]))
    }
}

/// What recording a submission did.
public enum SubmissionOutcome: Sendable, Equatable {
    /// A new run was recorded, with its status when the transaction committed: `accepted` (to be planned or
    /// started by a scheduler), `running` (started here), or how it ended (`succeeded`, `failed`) when its
    /// steps were all executed inline in the same transaction.
    case accepted(RunID, status: RunStatus)
    /// The same key and payload (or the same message) was recorded before: the existing run.
    case duplicate(RunID, RunStatus)
    /// The key was used before with a different payload.
    case conflict(existing: RunID)
}

extension RunStore {
    /// Records submissions in one transaction: each becomes a run (with `accepted` and, for an explicit plan,
    /// `planned` events and a `run.start` intent; for a template a `plan.request` intent), or is recognised as a
    /// duplicate or an idempotency conflict.
    ///
    /// With a `catalog`, an explicit plan is also started in the same transaction (the run goes `running`
    /// and its root steps are dispatched), saving the hop through a scheduler.
    ///
    /// The transaction is first sent whole, in one round trip, assuming every submission is new and the
    /// breakers of the skills it dispatches are closed without failures; the transaction checks both (a
    /// duplicate fails the run insert with `unique_violation`, `aria_assume` the breakers). If either was
    /// wrong it is rolled back and done again the careful way: the runs inserted first (duplicates and
    /// conflicts looked up) and the breakers read, then the rest, in two round trips. After a failed
    /// assumption the careful way is taken for a second.
    ///
    /// With `ahead` (and at most `ahead.maxSubmissions` inputs), the root steps' dispatches are handed to
    /// `ahead.publish` as soon as the COMMIT is sent: see ``DispatchAhead``. They stay in the returned
    /// outbox messages as well: the relay deletes their rows once the bus acknowledged them, and publishes
    /// any that could not go ahead (``OutboxRelay/publishAhead(_:)``).
    ///
    /// With `inline`, the pure steps the new runs dispatch are executed inside this transaction and recorded
    /// in turn (``InlineExecution``), as a worker's result transaction does: a run of pure steps only ends
    /// in the transaction that records it.
    ///
    /// With `committed`, the outbox messages are handed to it once the transaction has committed, on the
    /// connection's thread (``transaction(ahead:committed:_:)``), as well as returned.
    public func submit(_ inputs: [SubmissionInput], catalog: SkillCatalog? = nil, ahead: DispatchAhead? = nil,
                       inline: InlineExecution? = nil,
                       committed: (@Sendable ([OutboxMessage]) -> Void)? = nil) async throws -> ([SubmissionOutcome], [OutboxMessage]) {
        let ahead = ahead.flatMap { inputs.count <= $0.maxSubmissions ? $0 : nil }
        if optimism.mayAssume() {
            do {
                return try await submit(inputs, catalog: catalog, assumingNew: true, ahead: ahead, inline: inline, committed: committed)
            } catch let error as PostgresError where error.sqlState == Self.uniqueViolation || error.sqlState == Self.assumptionFailed {
                optimism.assumptionFailed()
            }
        }
        return try await submit(inputs, catalog: catalog, assumingNew: false, ahead: ahead, inline: inline, committed: committed)
    }

    /// SQLSTATE of a failed `aria_assume` (migration 5).
    public static let assumptionFailed = "AR001"
    /// SQLSTATE `unique_violation`.
    static let uniqueViolation = "23505"

    /// Records `inputs` in one transaction, then notes the agents it upserted (only once it committed).
    private func submit(_ inputs: [SubmissionInput], catalog: SkillCatalog?, assumingNew: Bool, ahead: DispatchAhead?,
                        inline: InlineExecution?, committed: (@Sendable ([OutboxMessage]) -> Void)?) async throws -> ([SubmissionOutcome], [OutboxMessage]) {
        let subjects = subjects
        // Agents already recorded need no upsert: rows of `agents` are never deleted.
        let newAgents = recordedAgents.unrecorded(inputs.map { RecordedAgents.Key(tenant: $0.tenant.rawValue, agent: $0.job.agent.rawValue) })
        let result = try await transaction(ahead: ahead?.publish, committed: committed) { tx in
            tx.dispatchesAhead = ahead != nil && catalog != nil
            tx.digestsDispatches = catalog != nil
            tx.inline = catalog != nil ? inline : nil
            let outcomes = try Self.record(inputs, tx: tx, subjects: subjects, catalog: catalog, assumingNew: assumingNew)
            if !newAgents.isEmpty {
                tx.connection.queue("""
                    INSERT INTO agents (tenant_id, agent_id) SELECT * FROM unnest($1::text[], $2::text[])
                    ON CONFLICT DO NOTHING
                    """, [SQL.array(newAgents.map(\.tenant)), SQL.array(newAgents.map(\.agent))])
            }
            return outcomes
        }
        recordedAgents.note(newAgents)
        return result
    }

    /// Records a batch of submissions set-based: one statement inserts every run (duplicates and conflicts
    /// fall out of `ON CONFLICT DO NOTHING` and are looked up one by one), one inserts every step.
    ///
    /// `assumingNew`: every statement is queued to go out with the COMMIT; the run insert has no `ON
    /// CONFLICT`, so a duplicate fails the transaction, and the breakers are assumed settled and checked.
    private static func record(_ inputs: [SubmissionInput], tx: StoreTransaction, subjects: SubjectResolver, catalog: SkillCatalog?, assumingNew: Bool) throws -> [SubmissionOutcome] {
        let connection = tx.connection
        let runs = inputs.map { _ in RunID.generate(now: tx.now) }
        // Dispatches sent ahead of the COMMIT: workers wait for this transaction's end through these locks,
        // taken first. Left out when, by the time the statement goes, the transaction is flushed and none
        // goes ahead (its steps were all executed inline).
        if tx.dispatchesAhead {
            let lock = lockCreation(of: runs)
            connection.queue(lock.sql, parametersIfNeeded: { tx.mayDispatchAhead ? lock.parameters : nil })
        }
        let plans: [Plan?] = inputs.map { input in
            if case .plan(let explicit) = input.job.source { return explicit }
            return nil
        }
        // An explicit plan is started here when the caller gave the catalog: it is inserted `running`.
        let startsHere = plans.map { $0 != nil && catalog != nil }
        // A run that ends in this transaction (its pure steps executed inline) is inserted ended: the
        // status, output, error and last `last_seq` are taken when the insert is sent, when it is queued.
        let insertSQL = """
            INSERT INTO runs (run_id, tenant_id, agent_id, status, goal, idempotency_key, submission_ref, payload_hash,
                              job, plan, last_seq, deadline, traceparent, output, error, finished_at)
            SELECT r, t, a, s, g, k, ref, h, j, p, seq, dl, tp, o, e, CASE WHEN s IN ('succeeded', 'failed', 'cancelled') THEN now() END
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                        $9::jsonb[], $10::jsonb[], $11::bigint[], $12::timestamptz[], $13::text[], $14::jsonb[], $15::jsonb[])
                 AS u(r, t, a, s, g, k, ref, h, j, p, seq, dl, tp, o, e)
            \(assumingNew ? "" : "ON CONFLICT DO NOTHING RETURNING run_id::text")
            """
        let planJSON: [String?] = try plans.map { try $0.map { try SQL.json($0) } }
        let insert = ColumnRows(insertSQL, rowCount: runs.count)
        let fixed: [RowParameter] = [.column(runs.map(\.description)), .column(inputs.map(\.tenant.rawValue)), .column(inputs.map(\.job.agent.rawValue))]
        let details: [RowParameter] = [
            .column(inputs.map(\.job.goal)), .column(inputs.map(\.idempotencyKey)),
            .column(inputs.map(\.submissionRef)), .column(inputs.map(\.payloadHash)), .column(inputs.map(\.jobJSON)), .column(planJSON),
        ]
        let timing: [RowParameter] = [.column(inputs.map { $0.deadline.map { Timestamp.format($0) } }), .column(inputs.map(\.traceparent))]
        let initialSeqs = plans.map { $0 == nil ? Int64(1) : 2 }
        func parameters(_ finals: [StoreTransaction.RunFinal]?) -> [String?] {
            let statuses = startsHere.indices.map { finals?[$0].end?.status.rawValue ?? (startsHere[$0] ? "running" : "accepted") }
            let seqs = initialSeqs.indices.map { String(finals?[$0].lastSeq ?? initialSeqs[$0]) }
            return insert.parameters(fixed + [.column(statuses)] + details + [.column(seqs)] + timing
                + [.column(runs.indices.map { finals?[$0].end?.output }), .column(runs.indices.map { finals?[$0].end?.error })])
        }
        let inserted: Set<String>
        if assumingNew {
            tx.queueRunInsert(insert.sql, runs: runs) { parameters($0) }
            if startsHere.contains(true) { tx.assumeSettledBreakers() }
            inserted = Set(runs.map(\.description))
        } else {
            // One round trip: BEGIN, the runs, and (when runs start here) which skills' breakers are unsettled.
            let breakerRead = startsHere.contains(true) ? tx.unsettledBreakersStatement() : nil
            let insertRuns = PostgresStatement(insert.sql, parameters(nil))
            let results = try connection.pipeline([insertRuns] + (breakerRead.map { [$0] } ?? []))
            if breakerRead != nil { tx.noteUnsettledBreakers(results[1]) }
            inserted = Set(results[0].rows.compactMap { $0[0] })
        }
        // Steps of every new run with a plan, in one statement (those the start dispatches are inserted dispatched).
        var stepRows: [(run: RunID, step: StepID, tenant: TenantID, position: Int, skill: String)] = []
        for (index, plan) in plans.enumerated() where inserted.contains(runs[index].description) {
            for (position, step) in (plan?.steps ?? []).enumerated() {
                stepRows.append((runs[index], step.stepID, inputs[index].tenant, position, step.skill))
            }
        }
        tx.insertSteps(stepRows)
        var outcomes: [SubmissionOutcome] = []
        for (index, input) in inputs.enumerated() {
            let run = runs[index]
            guard inserted.contains(run.description) else {
                outcomes.append(try existing(for: input, tx: tx))
                continue
            }
            // Inserted by this transaction with `last_seq` 1 (accepted) or 2 (and planned): its row is locked.
            tx.lockedRun(run, lastSeq: plans[index] == nil ? 1 : 2)
            let keyHeader = input.idempotencyKey.map { [OutboxMessage.Header(AriaHeader.idempotencyKey, $0)] } ?? []
            try tx.emit(tenant: input.tenant, run: run, seq: 1,
                        body: RunEventBody(kind: .accepted, status: .accepted, idempotencyKey: input.idempotencyKey),
                        headers: keyHeader, traceparent: input.traceparent)
            if let plan = plans[index] {
                try tx.emit(tenant: input.tenant, run: run, seq: 2, body: RunEventBody(kind: .planned, status: .accepted), traceparent: input.traceparent)
                if let catalog {
                    // Start the run here: the same state machine and writes as a scheduler's `run.start`.
                    _ = try advance(tx: tx, tenant: input.tenant, run: run, event: .start, catalog: catalog, subjects: subjects,
                                    snapshot: RunSnapshot(tenant: input.tenant, status: .running, plan: plan, traceparent: input.traceparent, idempotencyKey: input.idempotencyKey))
                } else {
                    try tx.enqueue(subject: subjects.schedule, messageID: "\(run):start",
                                   envelope: Envelope(type: .runStart, tenant: input.tenant, run: run, deadline: input.deadline, createdAt: tx.now, traceparent: input.traceparent, body: EmptyBody()))
                }
            } else {
                try tx.enqueue(subject: subjects.plan, messageID: "\(run):plan",
                               envelope: Envelope(type: .planRequest, tenant: input.tenant, run: run, deadline: input.deadline, createdAt: tx.now, traceparent: input.traceparent, body: EmptyBody()))
            }
            outcomes.append(.accepted(run, status: startsHere[index] ? .running : .accepted))
        }
        // Pure steps the new runs dispatched, executed here when the caller asked for it (nothing to cancel yet).
        if let catalog { _ = try executeInline(tx: tx, subjects: subjects, catalog: catalog) }
        if assumingNew { tx.checkSettledBreakers() }
        return outcomes.map { outcome in
            guard case .accepted(let run, _) = outcome, let ended = tx.endedStatus(of: run) else { return outcome }
            return .accepted(run, status: ended)
        }
    }

    private static func existing(for input: SubmissionInput, tx: StoreTransaction) throws -> SubmissionOutcome {
        if let ref = input.submissionRef {
            let byRef = try tx.connection.query("SELECT run_id, status FROM runs WHERE submission_ref = $1", [ref])
            if let row = byRef.rows.first {
                return .duplicate(RunID(try row.required("run_id"))!, RunStatus(rawValue: try row.required("status")) ?? .accepted)
            }
        }
        guard let key = input.idempotencyKey else {
            throw AriaError(.internal, "run insert conflicted without a key or reference")
        }
        let byKey = try tx.connection.query(
            "SELECT run_id, status, payload_hash FROM runs WHERE tenant_id = $1 AND idempotency_key = $2",
            [input.tenant.rawValue, key])
        guard let row = byKey.rows.first, let run = RunID(try row.required("run_id")) else {
            throw AriaError(.internal, "run insert conflicted but no run holds the key")
        }
        if try row.required("payload_hash") == input.payloadHash {
            return .duplicate(run, RunStatus(rawValue: try row.required("status")) ?? .accepted)
        }
        return .conflict(existing: run)
    }

    static func insertSteps(of plan: Plan, run: RunID, tenant: TenantID, connection: PostgresConnection) throws {
        try connection.query("""
            INSERT INTO steps (run_id, step_id, tenant_id, position, skill)
            SELECT $1, s, $2, p, k FROM unnest($3::text[], $4::int[], $5::text[]) AS u(s, p, k)
            ON CONFLICT DO NOTHING
            """, [
                run.description, tenant.rawValue, SQL.array(plan.steps.map(\.stepID.rawValue)),
                SQL.array(plan.steps.indices.map { String($0) }), SQL.array(plan.steps.map(\.skill)),
            ])
    }

    /// Records a refused submission (no run) and its `rejected` event, with the submitter's key.
    public func reject(tenant: TenantID, idempotencyKey: String?, subject: String, error: AriaError, payload: [UInt8], traceparent: String?) async throws -> (RunID, [OutboxMessage]) {
        let cappedPayload = Array(payload.prefix(64 * 1024))
        return try await transaction { tx in
            let id = RunID.generate(now: tx.now)
            try tx.connection.query("""
                INSERT INTO rejections (rejection_id, tenant_id, idempotency_key, subject, code, message, payload)
                VALUES ($1, $2, $3, $4, $5, $6, $7::bytea)
                """, [id.description, tenant.rawValue, idempotencyKey, subject, error.code.rawValue, error.message, SQL.bytea(cappedPayload)])
            let headers = [OutboxMessage.Header(AriaHeader.errorCode, error.code.rawValue)]
                + (idempotencyKey.map { [OutboxMessage.Header(AriaHeader.idempotencyKey, $0)] } ?? [])
            try tx.emit(tenant: tenant, run: id, seq: 1,
                        body: RunEventBody(kind: .rejected, status: .rejected, idempotencyKey: idempotencyKey, error: error),
                        headers: headers, traceparent: traceparent)
            return id
        }
    }
}

// MARK: - Planner

/// A run waiting for a plan, as the planner reads it.
public struct PlanningRequest: Sendable {
    /// The tenant.
    public var tenant: TenantID
    /// The run.
    public var run: RunID
    /// The run's status.
    public var status: RunStatus
    /// The submitted job.
    public var job: JobSpec
    /// The submitter's key.
    public var idempotencyKey: String?
    /// The submitter's trace context.
    public var traceparent: String?
}

extension RunStore {
    /// Loads a run for the planner; nil if it does not exist.
    public func planningRequest(run: RunID) async throws -> PlanningRequest? {
        try await pool.withConnection { connection in
            let result = try connection.query(
                "SELECT tenant_id, status, job, idempotency_key, traceparent FROM runs WHERE run_id = $1", [run.description])
            guard let row = result.rows.first else { return nil }
            guard let job = try SQL.decode(JobSpec.self, row["job"]) else { throw AriaError(.internal, "run \(run) has no job") }
            return PlanningRequest(tenant: TenantID(trusted: try row.required("tenant_id")), run: run,
                                   status: RunStatus(rawValue: try row.required("status")) ?? .accepted, job: job,
                                   idempotencyKey: row["idempotency_key"], traceparent: row["traceparent"])
        }
    }

    /// Stores the plan of an accepted run, emits `planned` and asks the scheduler to start it. A run that
    /// already has a plan is left as it is (a redelivered request); the start intent is sent again.
    public func storePlan(_ plan: Plan, for request: PlanningRequest) async throws -> [OutboxMessage] {
        let subjects = subjects
        return try await transaction { tx in
            let status = try tx.connection.query("SELECT status, plan IS NOT NULL AS planned FROM runs WHERE run_id = $1 FOR UPDATE", [request.run.description])
            guard let row = status.rows.first else { throw AriaError(.notFound, "run \(request.run) does not exist") }
            if row["status"] == RunStatus.accepted.rawValue, row["planned"] == "f" {
                try tx.connection.query("UPDATE runs SET plan = $2, updated_at = now() WHERE run_id = $1", [request.run.description, try SQL.json(plan)])
                try Self.insertSteps(of: plan, run: request.run, tenant: request.tenant, connection: tx.connection)
                try tx.emitNext(tenant: request.tenant, run: request.run, body: RunEventBody(kind: .planned, status: .accepted), traceparent: request.traceparent)
            } else if row["status"] != RunStatus.accepted.rawValue {
                return
            }
            try tx.enqueue(subject: subjects.schedule, messageID: "\(request.run):start",
                           envelope: Envelope(type: .runStart, tenant: request.tenant, run: request.run, createdAt: tx.now, traceparent: request.traceparent, body: EmptyBody()))
        }.1
    }

    /// Rejects an accepted run that cannot be planned (unknown template, invalid plan).
    public func rejectRun(_ request: PlanningRequest, error: AriaError) async throws -> [OutboxMessage] {
        try await transaction { tx in
            let result = try tx.connection.query("""
                UPDATE runs SET status = 'rejected', error = $2, updated_at = now(), finished_at = now()
                WHERE run_id = $1 AND status IN ('accepted', 'planning')
                """, [request.run.description, try SQL.json(error)])
            guard result.affectedRows == 1 else { return }
            try tx.emitNext(tenant: request.tenant, run: request.run,
                            body: RunEventBody(kind: .rejected, status: .rejected, idempotencyKey: request.idempotencyKey, error: error),
                            traceparent: request.traceparent)
        }.1
    }
}

/// The agents a store has seen committed to `agents`, so that later submissions skip the upsert (a
/// statement per transaction, with its check constraint and conflict probe). Rows of `agents` are never
/// deleted, so a remembered agent stays recorded; the memory is dropped whole past `limit` entries and
/// learnt again.
final class RecordedAgents: Sendable {
    /// An agent of a tenant.
    struct Key: Hashable, Sendable, Comparable {
        var tenant: String
        var agent: String
        static func < (lhs: Key, rhs: Key) -> Bool { (lhs.tenant, lhs.agent) < (rhs.tenant, rhs.agent) }
    }

    private let known = Mutex<Set<Key>>([])
    private let limit: Int

    /// Creates an empty memory holding at most `limit` agents.
    init(limit: Int = 100_000) { self.limit = limit }

    /// The distinct agents of `keys` not known to be recorded, sorted (a stable lock order for the upsert).
    func unrecorded(_ keys: [Key]) -> [Key] {
        known.withLock { known in Set(keys).subtracting(known) }.sorted()
    }

    /// Remembers agents whose upsert committed.
    func note(_ keys: [Key]) {
        guard !keys.isEmpty else { return }
        known.withLock { known in
            if known.count + keys.count > limit { known.removeAll() }
            known.formUnion(keys)
        }
    }
}

/// Whether a store sends submissions whole, assuming they are new and their skills' breakers settled:
/// always, except for a second after an assumption failed, so a stream of duplicates (or dispatches of a
/// skill whose breaker is open) wastes one transaction a second, not one each.
final class SubmissionOptimism: Sendable {
    private let failedAt = Mutex<ContinuousClock.Instant?>(nil)

    /// Whether the next submission may assume.
    func mayAssume() -> Bool {
        failedAt.withLock { failed in failed.map { ContinuousClock.now - $0 > .seconds(1) } ?? true }
    }

    /// Notes a failed assumption.
    func assumptionFailed() {
        failedAt.withLock { $0 = ContinuousClock.now }
    }
}
