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
    /// The dispatch was sent ahead of its run's commit (``AriaHeader/ahead``): wait for the creating transaction.
    public var ahead: Bool

    /// Creates a start request.
    public init(tenant: TenantID, run: RunID, step: StepID, skill: String, traceparent: String?, lease: AriaDuration = .seconds(60), ahead: Bool = false) {
        self.ahead = ahead
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
            try Self.begin(starts, worker: worker, tx: tx, subjects: subjects)
        }
    }

    /// Starts a batch of attempts with one statement per kind of write, whatever the batch size.
    private static func begin(_ starts: [AttemptStart], worker: String, tx: StoreTransaction, subjects: SubjectResolver) throws -> [AttemptDecision] {
        let connection = tx.connection
        // Lock every step of the batch, in key order, with its ledger entry.
        let keys = Set(starts.map { "\($0.run) \($0.step)" }).sorted()
        let pairs = keys.map { $0.split(separator: " ").map(String.init) }
        let awaited = awaitCreation(of: starts.filter(\.ahead).map(\.run))
        let reads = try connection.pipeline(awaited + [
            lockRuns(pairs.map { $0[0] }),
            PostgresStatement("""
                SELECT s.run_id::text AS run_id, s.step_id, s.status, s.attempts, s.fencing_token, s.phase, l.output AS recorded
                FROM steps s JOIN unnest($1::uuid[], $2::text[]) AS u(r, st) ON s.run_id = u.r AND s.step_id = u.st
                LEFT JOIN step_ledger l ON l.idempotency_key = s.run_id::text || ':' || s.step_id || ':' || s.phase
                ORDER BY s.run_id, s.step_id FOR UPDATE OF s
                """, [SQL.array(pairs.map { $0[0] }), SQL.array(pairs.map { $0[1] })]),
        ])
        noteLockedRuns(reads[awaited.count], tx: tx)
        let rows = reads[awaited.count + 1]
        var found: [String: PostgresRow] = [:]
        for row in rows.rows { found["\(row["run_id"] ?? "") \(row["step_id"] ?? "")"] = row }
        var decisions: [AttemptDecision] = []
        var seen = Set<String>()
        var started: [(start: AttemptStart, number: Int, token: Int64, superseding: Int?, phase: StepPhase, ledgerHit: Bool)] = []
        for start in starts {
            let key = "\(start.run) \(start.step)"
            guard let row = found[key] else {
                decisions.append(AttemptDecision(action: .unknownStep, phase: .primary, idempotencyKey: executionKey(run: start.run, step: start.step, phase: .primary)))
                continue
            }
            let phase = StepPhase(rawValue: row["phase"] ?? "primary") ?? .primary
            let idempotencyKey = executionKey(run: start.run, step: start.step, phase: phase)
            guard seen.insert(key).inserted else {
                // The same step twice in one batch (a redelivery next to a re-dispatch): one attempt is enough.
                decisions.append(AttemptDecision(action: .drop("the step was delivered twice in one batch"), phase: phase, idempotencyKey: idempotencyKey))
                continue
            }
            var machine = StepExecution(
                status: StepStatus(rawValue: try row.required("status")) ?? .pending,
                attempts: Int(try row.required("attempts")) ?? 0, fencingToken: Int64(try row.required("fencing_token")) ?? 0)
            let action = machine.handle(.deliver).first ?? .drop("no decision")
            switch action {
            case .startAttempt(let number, let token, let superseding):
                started.append((start, number, token, superseding, phase, row["recorded"] != nil))
                try tx.emitNext(tenant: start.tenant, run: start.run, step: start.step, attempt: number,
                                body: RunEventBody(kind: .stepStarted, status: .running, step: start.step, skill: start.skill, attempt: number),
                                traceparent: start.traceparent)
            case .alreadyFinished(let status):
                // The scheduler may have missed the first notice; telling it again is harmless.
                try tx.enqueue(subject: subjects.schedule, messageID: "\(start.run):\(start.step):fin:\(machine.attempts)",
                               envelope: Envelope(type: .stepFinished, tenant: start.tenant, run: start.run, step: start.step, attempt: machine.attempts,
                                                  createdAt: tx.now, traceparent: start.traceparent, body: StepFinishedBody(status: status)))
            case .record, .rejectStale, .drop, .unknownStep:
                break
            }
            decisions.append(AttemptDecision(action: action, phase: phase, idempotencyKey: idempotencyKey, recorded: SQL.jsonValue(row["recorded"])))
        }
        guard !started.isEmpty else { return decisions }
        let runs = RowParameter.column(started.map { $0.start.run.description }), steps = RowParameter.column(started.map { $0.start.step.rawValue })
        let claim = ColumnRows("""
            UPDATE steps s SET status = 'running', attempts = u.n, fencing_token = u.t, started_at = now(),
                lease_expires_at = now() + make_interval(secs => u.l::float8 / 1000)
            FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[], $5::bigint[]) AS u(r, st, n, t, l)
            WHERE s.run_id = u.r AND s.step_id = u.st
            """, rowCount: started.count)
        connection.queue(claim.sql, claim.parameters([
            runs, steps, .column(started.map { String($0.number) }), .column(started.map { String($0.token) }),
            .column(started.map { String($0.start.lease.milliseconds) }),
        ]))
        let superseded = started.filter { $0.superseding != nil }
        if !superseded.isEmpty {
            connection.queue("""
                UPDATE step_attempts a SET status = 'superseded', finished_at = now()
                FROM unnest($1::uuid[], $2::text[], $3::int[]) AS u(r, st, n)
                WHERE a.run_id = u.r AND a.step_id = u.st AND a.attempt = u.n AND a.status = 'running'
                """, [SQL.array(superseded.map { $0.start.run.description }), SQL.array(superseded.map { $0.start.step.rawValue }),
                      SQL.array(superseded.map { String($0.superseding!) })])
        }
        let attempts = ColumnRows("""
            INSERT INTO step_attempts (run_id, step_id, attempt, tenant_id, fencing_token, status, worker, skill, phase, ledger_hit)
            SELECT r, st, n, tn, t, 'running', $6, sk, ph, lh
            FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::bigint[], $7::text[], $8::text[], $9::bool[]) AS u(r, st, n, tn, t, sk, ph, lh)
            """, rowCount: started.count)
        connection.queue(attempts.sql, attempts.parameters([
            runs, steps, .column(started.map { String($0.number) }), .column(started.map { $0.start.tenant.rawValue }),
            .column(started.map { String($0.token) }), .scalar(worker), .column(started.map { $0.start.skill }),
            .column(started.map { $0.phase.rawValue }), .column(started.map { $0.ledgerHit ? "t" : "f" }),
        ]))
        return decisions
    }

    /// What a batch of results needs to read, in one round trip with BEGIN, with the unsettled breakers.
    ///
    /// With a `catalog` (a worker, which advances the runs of its results itself) the runs are locked (in
    /// run-id order, as schedulers lock them) and read whole, with all their steps: the batch's steps and
    /// the snapshots ``advance(tx:batch:catalog:subjects:preloaded:)`` needs. Steps need no lock of their
    /// own: every writer of a step's status holds its run's lock. Without one, the runs are locked and the
    /// batch's steps read. First, the transactions creating the `ahead` runs are waited for.
    private static func finishReads(pairs: [[String]], ahead: [RunID], tx: StoreTransaction, catalog: SkillCatalog?) throws -> (steps: [PostgresRow], snapshots: [RunID: RunSnapshot]) {
        let breakerRead = tx.unsettledBreakersStatement()
        let breakerReads = breakerRead.map { [$0] } ?? []
        let awaited = awaitCreation(of: ahead)
        guard catalog != nil else {
            let reads = try tx.connection.pipeline(awaited + [
                lockRuns(pairs.map { $0[0] }),
                PostgresStatement("""
                    SELECT s.run_id::text AS run_id, s.step_id, s.status, s.attempts, s.fencing_token, s.phase
                    FROM steps s JOIN unnest($1::uuid[], $2::text[]) AS u(r, st) ON s.run_id = u.r AND s.step_id = u.st
                    ORDER BY s.run_id, s.step_id
                    """, [SQL.array(pairs.map { $0[0] }), SQL.array(pairs.map { $0[1] })]),
            ] + breakerReads).dropFirst(awaited.count).map { $0 }
            noteLockedRuns(reads[0], tx: tx)
            if breakerRead != nil { tx.noteUnsettledBreakers(reads[2]) }
            return (reads[1].rows, [:])
        }
        let reads = try tx.connection.pipeline(awaited + advanceReads(Set(pairs.compactMap { RunID($0[0]) })) + breakerReads).dropFirst(awaited.count).map { $0 }
        if breakerRead != nil { tx.noteUnsettledBreakers(reads[2]) }
        let batch = Set(pairs.map { "\($0[0]) \($0[1])" })
        let steps = reads[1].rows.filter { batch.contains("\($0["run_id"] ?? "") \($0["step_id"] ?? "")") }
        return (steps, try snapshots(tx: tx, runs: reads[0], steps: reads[1]))
    }

    /// Waits for the transactions creating `runs`, whose dispatches were sent ahead of their commit
    /// (``AriaHeader/ahead``): a submission holds its new runs' creation locks until it ends
    /// (``RunStore/lockCreation(of:)``). Statements after this one in the same round trip see the committed
    /// rows (each statement of a read-committed transaction takes a new snapshot). Empty when `runs` is.
    static func awaitCreation(of runs: [RunID]) -> [PostgresStatement] {
        runs.isEmpty ? [] : [lockCreation(of: runs, shared: true)]
    }

    /// The runs of `finishes` as this transaction's last transitions left them, if it knows them all.
    private static func knownRuns(_ finishes: [AttemptFinish], tx: StoreTransaction) -> [RunID: RunSnapshot]? {
        var known: [RunID: RunSnapshot] = [:]
        for finish in finishes {
            guard let state = tx.runStates[finish.run] else { return nil }
            known[finish.run] = state
        }
        return known
    }

    /// Locks the runs of a batch in run-id order (the order schedulers lock them in) and reads their `last_seq`.
    private static func lockRuns(_ runs: [String]) -> PostgresStatement {
        PostgresStatement(
            "SELECT run_id::text, last_seq FROM runs WHERE run_id = ANY($1::uuid[]) ORDER BY run_id FOR UPDATE",
            [SQL.array(Array(Set(runs)).sorted())])
    }

    /// Tells the transaction the `last_seq` of the runs ``lockRuns(_:)`` locked.
    private static func noteLockedRuns(_ result: PostgresResult, tx: StoreTransaction) {
        for row in result.rows {
            if let run = RunID(row[0] ?? ""), let last = Int64(row[1] ?? "") { tx.lockedRun(run, lastSeq: last) }
        }
    }

    /// Records in the execution ledger that the execution `key` produced `output` (its side effect
    /// happened). Committed on its own, before the attempt's result, so a worker killed between the two
    /// leaves the next attempt the recorded result. The first record wins.
    public func recordExecution(key: String, tenant: TenantID, run: RunID, step: StepID, skill: String, attempt: Int, output: JSONValue) async throws {
        _ = try await pool.withConnection { connection in
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
        let (actions, outbox, _) = try await finishAttempts([finish], catalog: catalog)
        return (actions[0], outbox)
    }

    /// Records the outcomes of several attempts in one transaction (in run order, so concurrent batches
    /// lock runs in the same order).
    ///
    /// With a `catalog`, each run with a recorded result is advanced in the same transaction, as a scheduler
    /// would on `step.finished`: its next steps dispatched, its policies applied, the run ended. The
    /// scheduling results carry the cancel notices to send after the commit. Without one, a scheduler is
    /// told of each result (`step.finished`).
    ///
    /// With `inline`, the pure steps those runs dispatch are executed inside the transaction and recorded in
    /// turn (``InlineExecution``); their runs' cancel notices are among the scheduling results.
    public func finishAttempts(_ finishes: [AttemptFinish], catalog: SkillCatalog? = nil, inline: InlineExecution? = nil) async throws -> ([StepExecution.Action], [OutboxMessage], [SchedulingResult]) {
        guard finishes.contains(where: { $0.assumed != nil }) else { return try await finishOnce(finishes, catalog: catalog, inline: inline) }
        do {
            return try await finishOnce(finishes, catalog: catalog, inline: inline)
        } catch let error as PostgresError where error.sqlState == Self.assumptionFailed {
            // A run changed since its dispatch described it (or a breaker is unsettled): read it after all.
            return try await finishOnce(finishes.map { var finish = $0; finish.assumed = nil; return finish }, catalog: catalog, inline: inline)
        }
    }

    private func finishOnce(_ finishes: [AttemptFinish], catalog: SkillCatalog?, inline: InlineExecution?) async throws -> ([StepExecution.Action], [OutboxMessage], [SchedulingResult]) {
        let subjects = subjects
        let ((actions, scheduling), outbox) = try await transaction { tx in
            tx.inline = inline
            var (actions, scheduling) = try Self.finish(finishes, tx: tx, subjects: subjects, catalog: catalog)
            scheduling += try Self.executeInline(tx: tx, subjects: subjects, catalog: catalog)
            tx.checkSettledBreakers()
            return (actions, scheduling)
        }
        return (actions, outbox, scheduling)
    }

    /// Executes the pure steps `tx` took for inline execution (``StoreTransaction/inline``) and records their
    /// results, which may dispatch (and execute) further steps, until none is left or the limit is reached.
    static func executeInline(tx: StoreTransaction, subjects: SubjectResolver, catalog: SkillCatalog?) throws -> [SchedulingResult] {
        var scheduling: [SchedulingResult] = []
        while let inline = tx.inline, !tx.inlineDispatches.isEmpty {
            let executed = tx.inlineDispatches.map(inline.execute)
            tx.inlineDispatches.removeAll()
            // Their dispatch marks are written before their results.
            tx.writeDispatched()
            scheduling += try finish(executed, tx: tx, subjects: subjects, catalog: catalog).1
        }
        return scheduling
    }

    /// The runs of a batch whose every result carries its run's digest (optimistic attempts of distinct runs),
    /// as the digests describe them, assumed instead of read: queued are the wait for the runs' creation
    /// (ahead dispatches), a check that each run's `last_seq` is still the digest's (locking the run; the
    /// transaction fails with ``RunStore/assumptionFailed`` otherwise), and the breakers are assumed settled
    /// (checked at the end). Nil when the batch cannot be recorded this way.
    private static func assumedRuns(_ finishes: [AttemptFinish], tx: StoreTransaction) -> [RunID: RunSnapshot]? {
        var digests: [RunID: (finish: AttemptFinish, digest: RunDigest)] = [:]
        for finish in finishes {
            guard finish.optimistic, let digest = finish.assumed, digests[finish.run] == nil, tx.runStates[finish.run] == nil else { return nil }
            digests[finish.run] = (finish, digest)
        }
        guard !digests.isEmpty else { return nil }
        let runs = digests.keys.sorted { $0.description < $1.description }
        for statement in awaitCreation(of: finishes.filter(\.ahead).map(\.run)) { tx.connection.queue(statement.sql, statement.parameters) }
        tx.connection.queue("""
            SELECT aria_assume(count(*) = $3, 'the runs are as their dispatches described them')
            FROM (SELECT 1 FROM runs r JOIN unnest($1::uuid[], $2::bigint[]) AS u(id, s) ON r.run_id = u.id
                  WHERE r.last_seq = u.s AND r.status = 'running' ORDER BY r.run_id FOR UPDATE OF r) AS locked
            """, [SQL.array(runs.map(\.description)), SQL.array(runs.map { String(digests[$0]!.digest.lastSeq) }), String(runs.count)])
        tx.assumeSettledBreakers()
        var snapshots: [RunID: RunSnapshot] = [:]
        for run in runs {
            let (finish, digest) = digests[run]!
            tx.lockedRun(run, lastSeq: digest.lastSeq)
            var steps: [StepID: RunScheduler.StepState] = [:]
            for step in digest.plan.steps { steps[step.stepID] = RunScheduler.StepState(status: digest.steps[step.stepID.rawValue] ?? .pending) }
            snapshots[run] = RunSnapshot(tenant: finish.tenant, status: .running, plan: digest.plan, traceparent: finish.traceparent,
                                         idempotencyKey: digest.idempotencyKey, steps: steps)
        }
        return snapshots
    }

    /// Records a batch of results with one statement per kind of write; with a `catalog`, then advances
    /// each of their runs once (one scheduler transition each). The runs and steps are read under their
    /// locks, unless an earlier round of inline execution in `tx` left them all known (``StoreTransaction/runStates``).
    private static func finish(_ finishes: [AttemptFinish], tx: StoreTransaction, subjects: SubjectResolver, catalog: SkillCatalog?) throws -> ([StepExecution.Action], [SchedulingResult]) {
        let connection = tx.connection
        var snapshots: [RunID: RunSnapshot]
        var machines: [String: StepExecution] = [:]
        var phases: [String: StepPhase] = [:]
        if catalog != nil, let known = knownRuns(finishes, tx: tx) {
            // A round of inline execution: the runs are locked and known as this transaction left them.
            snapshots = known
            for finish in finishes {
                guard let state = known[finish.run]?.steps[finish.step] else { continue }
                let key = "\(finish.run) \(finish.step)"
                phases[key] = state.phase
                machines[key] = StepExecution(status: state.status, attempts: state.attempts, fencingToken: known[finish.run]?.fencingTokens[finish.step] ?? 0)
            }
        } else if catalog != nil, let assumed = assumedRuns(finishes, tx: tx) {
            // Each run as its dispatch described it: nothing is read, the whole transaction is one round trip.
            snapshots = assumed
            for finish in finishes {
                let key = "\(finish.run) \(finish.step)"
                phases[key] = .primary
                machines[key] = StepExecution(status: assumed[finish.run]?.steps[finish.step]?.status ?? .pending, attempts: 0, fencingToken: 0)
            }
        } else {
            let pairs = Set(finishes.map { "\($0.run) \($0.step)" }).sorted().map { $0.split(separator: " ").map(String.init) }
            let (rows, read) = try finishReads(pairs: pairs, ahead: finishes.filter(\.ahead).map(\.run), tx: tx, catalog: catalog)
            snapshots = read
            for row in rows {
                let key = "\(row["run_id"] ?? "") \(row["step_id"] ?? "")"
                phases[key] = StepPhase(rawValue: row["phase"] ?? "primary") ?? .primary
                machines[key] = StepExecution(
                    status: StepStatus(rawValue: try row.required("status")) ?? .pending,
                    attempts: Int(try row.required("attempts")) ?? 0, fencingToken: Int64(try row.required("fencing_token")) ?? 0)
            }
        }
        var actions: [StepExecution.Action] = []
        var recorded: [(finish: AttemptFinish, status: StepStatus, error: AriaError?)] = []
        var superseded: [(run: RunID, step: StepID, attempt: Int)] = []
        for var finish in finishes {
            let key = "\(finish.run) \(finish.step)"
            guard var machine = machines[key] else {
                actions.append(.unknownStep)
                continue
            }
            if finish.optimistic {
                // Start the attempt now, as a delivery would have, then record its result under its token.
                let delivered = machine.handle(.deliver).first ?? .drop("no decision")
                guard case .startAttempt(let number, let token, let previous) = delivered else {
                    machines[key] = machine
                    actions.append(delivered)
                    if case .alreadyFinished(let status) = delivered {
                        try tx.enqueue(subject: subjects.schedule, messageID: "\(finish.run):\(finish.step):fin:\(machine.attempts)",
                                       envelope: Envelope(type: .stepFinished, tenant: finish.tenant, run: finish.run, step: finish.step, attempt: machine.attempts,
                                                          createdAt: tx.now, traceparent: finish.traceparent, body: StepFinishedBody(status: status)))
                    }
                    continue
                }
                finish.attempt = number
                finish.fencingToken = token
                if let previous { superseded.append((finish.run, finish.step, previous)) }
                try tx.emitNext(tenant: finish.tenant, run: finish.run, step: finish.step, attempt: number,
                                body: RunEventBody(kind: .stepStarted, status: .running, step: finish.step, skill: finish.skill, attempt: number),
                                traceparent: finish.traceparent)
            }
            let action = machine.handle(.finish(fencingToken: finish.fencingToken, outcome: finish.outcome)).first ?? .drop("no decision")
            machines[key] = machine
            actions.append(action)
            guard case .record = action else { continue }
            var error: AriaError?
            if case .failed(let failure) = finish.outcome { error = failure }
            recorded.append((finish, machine.status, error))
            try tx.emitNext(tenant: finish.tenant, run: finish.run, step: finish.step, attempt: finish.attempt,
                            body: RunEventBody(kind: machine.status == .succeeded ? .stepSucceeded : .stepFailed, status: .running, step: finish.step,
                                               skill: finish.skill, attempt: finish.attempt, output: finish.output, error: error),
                            traceparent: finish.traceparent)
        }
        guard !recorded.isEmpty else { return (actions, []) }
        // Rows this transaction inserted and has not sent yet take their result in that insert.
        let updated = try recorded.filter { item in
            let error = try item.error.map { try SQL.json($0) }
            return !tx.foldResult(run: item.finish.run, step: item.finish.step, StoreTransaction.FoldedResult(
                status: item.status, output: item.finish.output?.jsonString, error: error,
                attempts: item.finish.attempt, fencingToken: item.finish.fencingToken, startedHere: item.finish.optimistic))
        }
        if !updated.isEmpty {
            let update = ColumnRows("""
                UPDATE steps s SET status = u.status, output = u.output, error = u.error, finished_at = now(), lease_expires_at = NULL,
                    attempts = u.n, fencing_token = u.t, started_at = CASE WHEN u.opt THEN now() ELSE s.started_at END
                FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::int[], $7::bigint[], $8::bool[]) AS u(r, st, status, output, error, n, t, opt)
                WHERE s.run_id = u.r AND s.step_id = u.st
                """, rowCount: updated.count)
            connection.queue(update.sql, update.parameters([
                .column(updated.map { $0.finish.run.description }), .column(updated.map { $0.finish.step.rawValue }),
                .column(updated.map { $0.status.rawValue }), .column(updated.map { $0.finish.output?.jsonString }),
                .column(try updated.map { try $0.error.map { try SQL.json($0) } }),
                .column(updated.map { String($0.finish.attempt) }), .column(updated.map { String($0.finish.fencingToken) }),
                .column(updated.map { $0.finish.optimistic ? "t" : "f" }),
            ]))
        }
        if !superseded.isEmpty {
            connection.queue("""
                UPDATE step_attempts a SET status = 'superseded', finished_at = now()
                FROM unnest($1::uuid[], $2::text[], $3::int[]) AS u(r, st, n)
                WHERE a.run_id = u.r AND a.step_id = u.st AND a.attempt = u.n AND a.status = 'running'
                """, [SQL.array(superseded.map { $0.run.description }), SQL.array(superseded.map { $0.step.rawValue }), SQL.array(superseded.map { String($0.attempt) })])
        }
        let normal = recorded.filter { !$0.finish.optimistic }, optimistic = recorded.filter(\.finish.optimistic)
        // An attempt's end is the transaction's clock, the time a retry's delay counts from (this transaction
        // may schedule it), not Postgres' `now()`, which comes a little later.
        let ended = Timestamp.format(tx.now)
        if !normal.isEmpty {
            let update = ColumnRows("""
                UPDATE step_attempts a SET status = u.status, error = u.error, finished_at = $6::timestamptz
                FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::jsonb[]) AS u(r, st, n, status, error)
                WHERE a.run_id = u.r AND a.step_id = u.st AND a.attempt = u.n
                """, rowCount: normal.count)
            connection.queue(update.sql, update.parameters([
                .column(normal.map { $0.finish.run.description }), .column(normal.map { $0.finish.step.rawValue }),
                .column(normal.map { String($0.finish.attempt) }), .column(normal.map { $0.status.rawValue }),
                .column(try normal.map { try $0.error.map { try SQL.json($0) } }), .scalar(ended),
            ]))
        }
        if !optimistic.isEmpty {
            let insert = ColumnRows("""
                INSERT INTO step_attempts (run_id, step_id, attempt, tenant_id, fencing_token, status, worker, skill, phase, error, started_at, finished_at)
                SELECT r, st, n, tn, t, status, w, sk, ph, error, $11::timestamptz, $11::timestamptz
                FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[])
                    AS u(r, st, n, tn, t, status, w, sk, ph, error)
                """, rowCount: optimistic.count)
            connection.queue(insert.sql, insert.parameters([
                .column(optimistic.map { $0.finish.run.description }), .column(optimistic.map { $0.finish.step.rawValue }),
                .column(optimistic.map { String($0.finish.attempt) }), .column(optimistic.map { $0.finish.tenant.rawValue }),
                .column(optimistic.map { String($0.finish.fencingToken) }), .column(optimistic.map { $0.status.rawValue }),
                .column(optimistic.map { $0.finish.worker }), .column(optimistic.map { $0.finish.skill }),
                .column(optimistic.map { (phases["\($0.finish.run) \($0.finish.step)"] ?? .primary).rawValue }),
                .column(try optimistic.map { try $0.error.map { try SQL.json($0) } }), .scalar(ended),
            ]))
        }
        // Feed the skills' circuit breakers (a run of successes of one skill is one event).
        if let breakers = tx.breakers {
            var lastWasSuccess: [String: Bool] = [:]
            for item in recorded {
                let skill = item.finish.skill
                if tx.breakersAssumed { tx.assumedSkills.insert(skill) }
                if item.error == nil, lastWasSuccess[skill] == true { continue }
                lastWasSuccess[skill] = item.error == nil
                guard tx.breakerMayChange(skill, error: item.error) else { continue }
                try recordSkillOutcome(connection: connection, skill: skill, error: item.error, now: tx.now, settings: breakers)
            }
        }
        guard let catalog else {
            for item in recorded {
                let finish = item.finish
                try tx.enqueue(subject: subjects.schedule, messageID: "\(finish.run):\(finish.step):fin:\(finish.attempt)",
                               envelope: Envelope(type: .stepFinished, tenant: finish.tenant, run: finish.run, step: finish.step, attempt: finish.attempt,
                                                  fencingToken: finish.fencingToken, createdAt: tx.now, traceparent: finish.traceparent,
                                                  body: StepFinishedBody(status: item.status)))
            }
            return (actions, [])
        }
        // Bring the runs read before the writes up to date with this transaction's results, then advance each
        // run once: the state machine is level-triggered (it looks at all of a run's steps).
        var events: [(tenant: TenantID, run: RunID, event: RunScheduler.Event)] = []
        var advancing = Set<RunID>()
        for item in recorded where snapshots[item.finish.run] != nil {
            let finish = item.finish
            snapshots[finish.run]!.steps[finish.step] = RunScheduler.StepState(
                status: item.status, attempts: finish.attempt, phase: phases["\(finish.run) \(finish.step)"] ?? .primary, notBefore: nil, error: item.error)
            snapshots[finish.run]!.fencingTokens[finish.step] = finish.fencingToken
            if let output = finish.output, item.status == .succeeded { snapshots[finish.run]!.outputs[finish.step] = output }
            if advancing.insert(finish.run).inserted { events.append((finish.tenant, finish.run, .stepFinished(finish.step))) }
        }
        let scheduling = try advance(tx: tx, batch: events, catalog: catalog, subjects: subjects, preloaded: snapshots.filter { advancing.contains($0.key) })
        return (actions, scheduling)
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
    /// An optimistic attempt of a pure skill: it was not started in its own transaction; starting it and
    /// recording its result happen together here (`attempt` and `fencingToken` are assigned then).
    public var optimistic: Bool
    /// The worker that ran it (for an optimistic attempt's row).
    public var worker: String
    /// The optimistic attempt's dispatch was sent ahead of its run's commit (``AriaHeader/ahead``): wait for
    /// the creating transaction.
    public var ahead: Bool
    /// The run as the optimistic attempt's dispatch described it (``StepDispatchBody/run``): recorded assuming
    /// it, without reading the run, when the whole batch has digests.
    public var assumed: RunDigest?

    /// Creates a finish record.
    public init(tenant: TenantID, run: RunID, step: StepID, skill: String, attempt: Int, fencingToken: Int64, outcome: StepExecution.Outcome, output: JSONValue?, traceparent: String?,
                optimistic: Bool = false, worker: String = "", ahead: Bool = false, assumed: RunDigest? = nil) {
        self.ahead = ahead
        self.assumed = assumed
        self.optimistic = optimistic
        self.worker = worker
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
