import AriaCore
import AriaPostgres
import Foundation

// MARK: - Worker

/// A step delivery a worker wants to start.
public struct AttemptStart: Sendable {
    /// The tenant.
    public var tenant: TenantID
    /// The run.
    public var run: RunID
    /// The step.
    public var step: StepID
    /// The skill (for the event).
    public var skill: String
    /// The trace context.
    public var traceparent: String?
    /// How long the attempt's lease lasts before the worker renews it.
    public var lease: AriaDuration

    /// Creates a start request.
    public init(tenant: TenantID, run: RunID, step: StepID, skill: String, traceparent: String?, lease: AriaDuration = .seconds(60)) {
        self.tenant = tenant
        self.run = run
        self.step = step
        self.skill = skill
        self.traceparent = traceparent
        self.lease = lease
    }
}

/// What a worker learns when it starts an attempt.
public struct AttemptDecision: Sendable, Equatable {
    /// What ``StepExecution`` decided.
    public var action: StepExecution.Action
    /// Whether the attempt runs the step's skill or its fallback.
    public var phase: StepPhase
    /// The execution's idempotency key (`<run>:<step>:<phase>`): the same for every attempt of the same
    /// execution, passed to the skill and used by the execution ledger.
    public var idempotencyKey: String
    /// The result recorded in the execution ledger by an earlier attempt whose side effect happened: return
    /// it instead of executing again.
    public var recorded: JSONValue?
}

/// The execution ledger's key for a step's execution in `phase`.
public func executionKey(run: RunID, step: StepID, phase: StepPhase) -> String { "\(run):\(step):\(phase.rawValue)" }

extension RunStore {
    /// Starts attempts for deliveries in one transaction; returns, per delivery, what ``StepExecution`` decided
    /// with the execution's ledger entry, if any.
    public func beginAttempts(_ starts: [AttemptStart], worker: String) async throws -> ([AttemptDecision], [OutboxMessage]) {
        let subjects = subjects
        return try await transaction { tx in
            var decisions: [AttemptDecision] = []
            for start in starts {
                decisions.append(try Self.begin(start, worker: worker, tx: tx, subjects: subjects))
            }
            return decisions
        }
    }

    private static func begin(_ start: AttemptStart, worker: String, tx: StoreTransaction, subjects: SubjectResolver) throws -> AttemptDecision {
        let connection = tx.connection
        let rows = try connection.query("""
            SELECT s.status, s.attempts, s.fencing_token, s.phase, l.output AS recorded
            FROM steps s LEFT JOIN step_ledger l ON l.idempotency_key = s.run_id::text || ':' || s.step_id || ':' || s.phase
            WHERE s.run_id = $1 AND s.step_id = $2 FOR UPDATE OF s
            """, [start.run.description, start.step.rawValue])
        guard let row = rows.rows.first else {
            return AttemptDecision(action: .drop("step does not exist"), phase: .primary, idempotencyKey: executionKey(run: start.run, step: start.step, phase: .primary))
        }
        let phase = StepPhase(rawValue: row["phase"] ?? "primary") ?? .primary
        var machine = StepExecution(
            status: StepStatus(rawValue: try row.required("status")) ?? .pending,
            attempts: Int(try row.required("attempts")) ?? 0, fencingToken: Int64(try row.required("fencing_token")) ?? 0)
        let action = machine.handle(.deliver).first ?? .drop("no decision")
        switch action {
        case .startAttempt(let number, let token, let superseding):
            try connection.query("""
                UPDATE steps SET status = 'running', attempts = $3, fencing_token = $4, started_at = now(),
                    lease_expires_at = now() + make_interval(secs => $5::float8 / 1000)
                WHERE run_id = $1 AND step_id = $2
                """, [start.run.description, start.step.rawValue, String(number), String(token), String(start.lease.milliseconds)])
            if let superseding {
                try connection.query("""
                    UPDATE step_attempts SET status = 'superseded', finished_at = now()
                    WHERE run_id = $1 AND step_id = $2 AND attempt = $3 AND status = 'running'
                    """, [start.run.description, start.step.rawValue, String(superseding)])
            }
            try connection.query("""
                INSERT INTO step_attempts (run_id, step_id, attempt, tenant_id, fencing_token, status, worker, skill, phase, ledger_hit)
                VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9)
                """, [start.run.description, start.step.rawValue, String(number), start.tenant.rawValue, String(token), worker,
                      start.skill, phase.rawValue, row["recorded"] == nil ? "f" : "t"])
            try tx.emitNext(tenant: start.tenant, run: start.run, step: start.step, attempt: number,
                            body: RunEventBody(kind: .stepStarted, status: .running, step: start.step, skill: start.skill, attempt: number),
                            traceparent: start.traceparent)
        case .alreadyFinished(let status):
            // The scheduler may have missed the first notice; telling it again is harmless.
            try tx.enqueue(subject: subjects.schedule, messageID: "\(start.run):\(start.step):fin:\(machine.attempts)",
                           envelope: Envelope(type: .stepFinished, tenant: start.tenant, run: start.run, step: start.step, attempt: machine.attempts,
                                              createdAt: tx.now, traceparent: start.traceparent, body: StepFinishedBody(status: status)))
        case .record, .rejectStale, .drop:
            break
        }
        return AttemptDecision(action: action, phase: phase, idempotencyKey: executionKey(run: start.run, step: start.step, phase: phase),
                               recorded: SQL.jsonValue(row["recorded"]))
    }

    /// Records in the execution ledger that the execution `key` produced `output` (its side effect
    /// happened). Committed on its own, before the attempt's result, so a worker killed between the two
    /// leaves the next attempt the recorded result. The first record wins.
    public func recordExecution(key: String, tenant: TenantID, run: RunID, step: StepID, skill: String, attempt: Int, output: JSONValue) async throws {
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO step_ledger (idempotency_key, tenant_id, run_id, step_id, skill, attempt, output)
                VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING
                """, [key, tenant.rawValue, run.description, step.rawValue, skill, String(attempt), output.jsonString])
        }
    }

    /// Extends the lease of the attempt holding `fencingToken`; false when the attempt no longer holds the
    /// step (cancelled, superseded, or the step ended): the worker should stop it.
    public func renewLease(run: RunID, step: StepID, fencingToken: Int64, lease: AriaDuration) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("""
                UPDATE steps SET lease_expires_at = now() + make_interval(secs => $4::float8 / 1000)
                WHERE run_id = $1 AND step_id = $2 AND fencing_token = $3 AND status = 'running'
                """, [run.description, step.rawValue, String(fencingToken), String(lease.milliseconds)]).affectedRows == 1
        }
    }

    /// Records the outcome of an attempt under its fencing token, emits the step event and tells the
    /// scheduler. A stale token (a superseded attempt) changes nothing.
    public func finishAttempt(tenant: TenantID, run: RunID, step: StepID, skill: String, attempt: Int, fencingToken: Int64, outcome: StepExecution.Outcome, output: JSONValue?, traceparent: String?, catalog: SkillCatalog? = nil) async throws -> (StepExecution.Action, [OutboxMessage]) {
        let finish = AttemptFinish(tenant: tenant, run: run, step: step, skill: skill, attempt: attempt, fencingToken: fencingToken, outcome: outcome, output: output, traceparent: traceparent)
        let (actions, outbox) = try await finishAttempts([finish], catalog: catalog)
        return (actions[0], outbox)
    }

    /// Records the outcomes of several attempts in one transaction (in run order, so concurrent batches
    /// lock runs in the same order). With a `catalog`, the attempt that ends a run's last open step also
    /// ends the run (`succeeded`) in the same transaction instead of sending `step.finished` to a scheduler.
    public func finishAttempts(_ finishes: [AttemptFinish], catalog: SkillCatalog? = nil) async throws -> ([StepExecution.Action], [OutboxMessage]) {
        let subjects = subjects
        let order = finishes.indices.sorted { (finishes[$0].run.description, finishes[$0].step.rawValue) < (finishes[$1].run.description, finishes[$1].step.rawValue) }
        return try await transaction { tx in
            var actions = [StepExecution.Action](repeating: .drop("not processed"), count: finishes.count)
            for index in order {
                actions[index] = try Self.finish(finishes[index], tx: tx, subjects: subjects, catalog: catalog)
            }
            return actions
        }
    }

    private static func finish(_ finish: AttemptFinish, tx: StoreTransaction, subjects: SubjectResolver, catalog: SkillCatalog?) throws -> StepExecution.Action {
        let connection = tx.connection
        let run = finish.run, step = finish.step, attempt = finish.attempt, output = finish.output
        let rows = try connection.query(
            "SELECT status, attempts, fencing_token FROM steps WHERE run_id = $1 AND step_id = $2 FOR UPDATE",
            [run.description, step.rawValue])
        guard let row = rows.rows.first else { return .drop("step does not exist") }
        var machine = StepExecution(
            status: StepStatus(rawValue: try row.required("status")) ?? .pending,
            attempts: Int(try row.required("attempts")) ?? 0, fencingToken: Int64(try row.required("fencing_token")) ?? 0)
        let action = machine.handle(.finish(fencingToken: finish.fencingToken, outcome: finish.outcome)).first ?? .drop("no decision")
        guard case .record = action else { return action }
        var error: AriaError?
        if case .failed(let failure) = finish.outcome { error = failure }
        try connection.query("""
            UPDATE steps SET status = $3, output = $4, error = $5, finished_at = now(), lease_expires_at = NULL WHERE run_id = $1 AND step_id = $2
            """, [run.description, step.rawValue, machine.status.rawValue, output?.jsonString, try error.map { try SQL.json($0) }])
        try connection.query("""
            UPDATE step_attempts SET status = $4, error = $5, finished_at = now() WHERE run_id = $1 AND step_id = $2 AND attempt = $3
            """, [run.description, step.rawValue, String(attempt), machine.status == .succeeded ? "succeeded" : "failed", try error.map { try SQL.json($0) }])
        let kind: RunEventKind = machine.status == .succeeded ? .stepSucceeded : .stepFailed
        try tx.emitNext(tenant: finish.tenant, run: run, step: step, attempt: attempt,
                        body: RunEventBody(kind: kind, status: .running, step: step, skill: finish.skill, attempt: attempt, output: output, error: error),
                        traceparent: finish.traceparent)
        if let catalog, machine.status == .succeeded, try lastOpenStep(connection: connection, run: run) {
            // Every other step has ended well: end the run here (the state machine can only succeed it, so
            // nothing needs a dispatch, which a worker may not publish).
            _ = try advance(tx: tx, tenant: finish.tenant, run: run, event: .stepFinished(step), catalog: catalog, subjects: subjects)
            return action
        }
        try tx.enqueue(subject: subjects.schedule, messageID: "\(run):\(step):fin:\(attempt)",
                       envelope: Envelope(type: .stepFinished, tenant: finish.tenant, run: run, step: step, attempt: attempt, fencingToken: finish.fencingToken,
                                          createdAt: tx.now, traceparent: finish.traceparent, body: StepFinishedBody(status: machine.status)))
        return action
    }

    /// Whether every step of `run` has succeeded, been skipped or cancelled (the caller's step included).
    static func lastOpenStep(connection: PostgresConnection, run: RunID) throws -> Bool {
        try connection.query(
            "SELECT 1 FROM steps WHERE run_id = $1 AND status NOT IN ('succeeded', 'skipped', 'cancelled') LIMIT 1",
            [run.description]).rows.isEmpty
    }
}

/// The outcome of one attempt, to record.
public struct AttemptFinish: Sendable {
    /// The tenant.
    public var tenant: TenantID
    /// The run.
    public var run: RunID
    /// The step.
    public var step: StepID
    /// The skill that ran (for the event).
    public var skill: String
    /// The attempt number.
    public var attempt: Int
    /// The attempt's fencing token.
    public var fencingToken: Int64
    /// How it ended.
    public var outcome: StepExecution.Outcome
    /// The output of a success.
    public var output: JSONValue?
    /// The trace context.
    public var traceparent: String?

    /// Creates a finish record.
    public init(tenant: TenantID, run: RunID, step: StepID, skill: String, attempt: Int, fencingToken: Int64, outcome: StepExecution.Outcome, output: JSONValue?, traceparent: String?) {
        self.tenant = tenant
        self.run = run
        self.step = step
        self.skill = skill
        self.attempt = attempt
        self.fencingToken = fencingToken
        self.outcome = outcome
        self.output = output
        self.traceparent = traceparent
    }
}
