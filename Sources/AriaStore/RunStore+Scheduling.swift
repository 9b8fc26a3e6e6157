import AriaCore
import AriaPostgres
import Foundation

/// What one scheduler transaction did, for logs, tests and the notices to send after the commit.
public struct SchedulingResult: Sendable {
    /// The actions the state machine chose.
    public var actions: [RunScheduler.Action]
    /// The run's status afterwards (nil: the run does not exist for this tenant).
    public var status: RunStatus?
    /// The run's trace context, for log metadata.
    public var traceparent: String? = nil
    /// Attempts to tell to stop (publish on `aria.int.cancel` after the commit).
    public var cancelNotices: [CancelNotice] = []
}

extension RunStore {
    /// Applies a scheduler event to a run under its row lock: loads the committed state, lets
    /// ``RunScheduler`` decide, and writes the status changes, dispatch intents and events it asks for.
    public func advance(tenant: TenantID, run: RunID, event: RunScheduler.Event, catalog: SkillCatalog) async throws -> (SchedulingResult, [OutboxMessage]) {
        let subjects = subjects
        return try await transaction { tx in
            try Self.advance(tx: tx, tenant: tenant, run: run, event: event, catalog: catalog, subjects: subjects)
        }
    }

    /// Applies several scheduler events in one transaction (locks taken in run-id order to avoid deadlocks).
    public func advance(batch: [(tenant: TenantID, run: RunID, event: RunScheduler.Event)], catalog: SkillCatalog) async throws -> ([SchedulingResult], [OutboxMessage]) {
        let subjects = subjects
        return try await transaction { tx in
            try Self.advance(tx: tx, batch: batch, catalog: catalog, subjects: subjects)
        }
    }

    /// Applies several scheduler events in `tx`: every run is locked and read set-based (one round trip for
    /// the whole batch), then each event goes through ``RunScheduler`` in run-id order. A run with several
    /// events is read again for each later one, so it sees the earlier ones' writes.
    ///
    /// Runs in `preloaded` (read earlier in `tx`, under their lock, and brought up to date with its writes
    /// since) are not read again.
    static func advance(tx: StoreTransaction, batch: [(tenant: TenantID, run: RunID, event: RunScheduler.Event)], catalog: SkillCatalog, subjects: SubjectResolver,
                        preloaded: [RunID: RunSnapshot] = [:]) throws -> [SchedulingResult] {
        var results = [SchedulingResult](repeating: SchedulingResult(actions: [], status: nil), count: batch.count)
        guard !batch.isEmpty else { return results }
        let order = batch.indices.sorted { batch[$0].run.description < batch[$1].run.description }
        let missing = Set(batch.map(\.run)).filter { preloaded[$0] == nil }
        var snapshots = preloaded
        if !missing.isEmpty { snapshots.merge(try loadRuns(tx: tx, missing)) { $1 } }
        var seen = Set<RunID>()
        for index in order {
            let item = batch[index]
            guard seen.insert(item.run).inserted else {
                // A later event of the same run: read again, after this transaction's writes so far.
                results[index] = try advance(tx: tx, tenant: item.tenant, run: item.run, event: item.event, catalog: catalog, subjects: subjects)
                continue
            }
            guard let snapshot = snapshots[item.run], snapshot.tenant == item.tenant else {
                results[index] = SchedulingResult(actions: [.ignore("run \(item.run) does not exist")], status: nil)
                continue
            }
            results[index] = try advance(tx: tx, tenant: item.tenant, run: item.run, event: item.event, catalog: catalog, subjects: subjects, snapshot: snapshot)
        }
        return results
    }

    /// Locks `runs` (in run-id order) and reads them with their steps, and the unsettled breakers once per
    /// transaction, in one round trip.
    static func loadRuns(tx: StoreTransaction, _ runs: Set<RunID>) throws -> [RunID: RunSnapshot] {
        tx.writeDispatched()
        var reads = advanceReads(runs)
        let breakerRead = tx.unsettledBreakersStatement()
        if let breakerRead { reads.append(breakerRead) }
        let results = try tx.connection.pipeline(reads)
        if breakerRead != nil { tx.noteUnsettledBreakers(results[2]) }
        return try snapshots(tx: tx, runs: results[0], steps: results[1])
    }

    /// The two statements that lock and read `runs` (in run-id order) and read all their steps (with their
    /// fencing tokens, for workers that finish attempts from the same read).
    static func advanceReads(_ runs: Set<RunID>) -> [PostgresStatement] {
        let ids = SQL.array(runs.map(\.description).sorted())
        return [
            PostgresStatement("""
                SELECT run_id::text AS run_id, tenant_id, status, plan, traceparent, idempotency_key, last_seq
                FROM runs WHERE run_id = ANY($1::uuid[]) ORDER BY run_id FOR UPDATE
                """, [ids]),
            PostgresStatement("""
                SELECT run_id::text AS run_id, step_id, status, attempts, fencing_token, phase, (extract(epoch FROM not_before) * 1000)::bigint AS not_before, output, error
                FROM steps WHERE run_id = ANY($1::uuid[])
                """, [ids]),
        ]
    }

    /// The snapshots of the results of ``advanceReads(_:)``; notes each run's `last_seq` in `tx`.
    static func snapshots(tx: StoreTransaction, runs: PostgresResult, steps: PostgresResult) throws -> [RunID: RunSnapshot] {
        var snapshots: [RunID: RunSnapshot] = [:]
        for row in runs.rows {
            guard let run = RunID(try row.required("run_id")) else { continue }
            snapshots[run] = RunSnapshot(
                tenant: TenantID(trusted: try row.required("tenant_id")),
                status: RunStatus(rawValue: try row.required("status")) ?? .accepted, plan: try SQL.decode(Plan.self, row["plan"]),
                traceparent: row["traceparent"], idempotencyKey: row["idempotency_key"])
            tx.lockedRun(run, lastSeq: Int64(try row.required("last_seq")) ?? 0)
        }
        for row in steps.rows {
            guard let run = RunID(try row.required("run_id")), snapshots[run] != nil else { continue }
            let id = StepID(trusted: try row.required("step_id"))
            snapshots[run]!.steps[id] = try stepState(row)
            snapshots[run]!.fencingTokens[id] = Int64(row["fencing_token"] ?? "0") ?? 0
            if let output = SQL.jsonValue(row["output"]) { snapshots[run]!.outputs[id] = output }
        }
        return snapshots
    }

    /// A step's scheduler state from a row with status, attempts, phase, not_before (epoch ms) and error.
    static func stepState(_ row: PostgresRow) throws -> RunScheduler.StepState {
        RunScheduler.StepState(
            status: StepStatus(rawValue: try row.required("status")) ?? .pending,
            attempts: Int(row["attempts"] ?? "0") ?? 0,
            phase: StepPhase(rawValue: row["phase"] ?? "primary") ?? .primary,
            notBefore: SQL.date(milliseconds: row["not_before"]),
            error: try SQL.decode(AriaError.self, row["error"]))
    }

    /// A run's committed state as a transition starts from it: read under the row lock, or just inserted.
    struct RunSnapshot {
        var tenant: TenantID
        var status: RunStatus
        var plan: Plan?
        var traceparent: String?
        var idempotencyKey: String?
        var steps: [StepID: RunScheduler.StepState] = [:]
        var outputs: [StepID: JSONValue] = [:]
        /// The steps' fencing tokens (for results recorded from the snapshot).
        var fencingTokens: [StepID: Int64] = [:]
    }

    static func advance(tx: StoreTransaction, tenant: TenantID, run: RunID, event requested: RunScheduler.Event, catalog: SkillCatalog, subjects: SubjectResolver, staleness: Staleness? = nil, snapshot: RunSnapshot? = nil) throws -> SchedulingResult {
        let connection = tx.connection
        // Steps this transaction dispatched so far are written before anything here reads steps (loadRuns and
        // the two checks below write them first); not per run, so a batch's dispatches stay one statement.
        var event = requested
        // The run as the batch read it, or read now under its lock (one round trip with its steps).
        guard let loaded = try snapshot ?? loadRuns(tx: tx, [run])[run], loaded.tenant == tenant else {
            return SchedulingResult(actions: [.ignore("run \(run) does not exist")], status: nil)
        }
        // A run this transaction already ended is not yet ended in its row.
        let status = tx.endedStatus(of: run) ?? loaded.status
        let (plan, traceparent, idempotencyKey) = (loaded.plan, loaded.traceparent, loaded.idempotencyKey)
        let (states, outputs) = (loaded.steps, loaded.outputs)
        if let staleness {
            // The reconciler's view: dispatched steps nobody started, running steps whose lease ran out.
            tx.writeDispatched()
            let stale = try connection.query("""
                SELECT step_id FROM steps WHERE run_id = $1 AND (
                    (status = 'dispatched' AND dispatched_at < now() - make_interval(secs => $2::float8 / 1000)) OR
                    (status = 'running' AND coalesce(lease_expires_at, started_at + make_interval(secs => $3::float8 / 1000)) < now()))
                """, [run.description, String(staleness.dispatched.milliseconds), String(staleness.running.milliseconds)])
            event = .reconcile(stale: Set(try stale.rows.map { StepID(trusted: try $0.required("step_id")) }))
        }
        if case .stalled(let error) = event {
            // The watchdog's view, checked again under the lock: progress since the scan cancels it.
            tx.writeDispatched()
            guard try stalledSince(connection: connection, run: run, after: AriaDuration(milliseconds: Int64(error.details["after_ms"] ?? "0") ?? 0)) else {
                return SchedulingResult(actions: [.ignore("the run made progress")], status: status, traceparent: traceparent)
            }
        }
        var machine = RunScheduler(status: status, plan: plan, steps: states, outputs: outputs)
        // Steps whose row ends up other than the machine says (a dispatch held back by an open breaker).
        var heldBack: [StepID: Date] = [:]
        var pending = [event]
        var taken: [RunScheduler.Action] = []
        var notices: [CancelNotice] = []
        let renderedOutputs = Dictionary(uniqueKeysWithValues: outputs.map { ($0.key.rawValue, $0.value) })
        while !pending.isEmpty {
            let actions = machine.handle(pending.removeFirst(), now: tx.now)
            taken += actions
            for action in actions {
                switch action {
                case .markRunning:
                    connection.queue("UPDATE runs SET status = 'running', progressed_at = now(), updated_at = now() WHERE run_id = $1", [run.description])
                case .dispatch(let stepID, let phase):
                    guard let plan, let step = plan.step(stepID) else { continue }
                    let attempts = machine.steps[stepID]?.attempts ?? 0
                    let skill = step.skill(in: phase)
                    let params: JSONValue
                    do {
                        params = try renderParams(step: step, phase: phase, outputs: renderedOutputs, catalog: catalog)
                    } catch {
                        // An unresolvable reference or an input the skill refuses fails the step before dispatch;
                        // its error policy then decides (a validation error is never retried).
                        connection.queue(
                            "UPDATE steps SET status = 'failed', phase = $3, error = $4, attempts = attempts + 1, finished_at = now() WHERE run_id = $1 AND step_id = $2",
                            [run.description, stepID.rawValue, phase.rawValue, try SQL.json(error)])
                        try tx.emitNext(tenant: tenant, run: run, step: stepID, body: RunEventBody(kind: .stepFailed, status: .running, step: stepID, skill: skill, error: error), traceparent: traceparent)
                        machine.failBeforeDispatch(stepID, error: error)
                        pending.append(.stepFinished(stepID))
                        continue
                    }
                    if let breakers = tx.breakers, tx.breakerMayHold(skill), case .wait(let until) = try gate(tx: tx, skill: skill, settings: breakers) {
                        // The skill's circuit breaker is open: the step waits (no attempt is used) and the timer
                        // tries again when a probe may go.
                        connection.queue(
                            "UPDATE steps SET status = 'waiting', phase = $3, not_before = to_timestamp($4::float8 / 1000) WHERE run_id = $1 AND step_id = $2",
                            [run.description, stepID.rawValue, phase.rawValue, String(Int64((until.timeIntervalSince1970 * 1000).rounded()))])
                        heldBack[stepID] = until
                        try tx.emitNext(tenant: tenant, run: run, step: stepID,
                                        body: RunEventBody(kind: .stepRetrying, status: .running, step: stepID, skill: skill,
                                                           reason: "the circuit breaker of skill '\(skill)' is open", notBefore: until),
                                        traceparent: traceparent)
                        continue
                    }
                    tx.markDispatched(run: run, step: stepID, phase: phase)
                    tx.dispatchedSkills.insert(skill)
                    if phase == .fallback {
                        try tx.emitNext(tenant: tenant, run: run, step: stepID,
                                        body: RunEventBody(kind: .stepFallback, status: .running, step: stepID, skill: skill, error: machine.steps[stepID]?.error),
                                        traceparent: traceparent)
                    }
                    try enqueueDispatch(tx: tx, tenant: tenant, run: run, plan: plan, step: step, skill: skill, params: params,
                                        messageID: "\(run):\(stepID):\(attempts + 1)", catalog: catalog, subjects: subjects, traceparent: traceparent)
                case .redispatch(let stepID):
                    // The original dispatch (or its attempt) was lost: a new message id, past the dedupe window.
                    guard let plan, let step = plan.step(stepID) else { continue }
                    let phase = machine.steps[stepID]?.phase ?? .primary
                    let skill = step.skill(in: phase)
                    guard let params = try? renderParams(step: step, phase: phase, outputs: renderedOutputs, catalog: catalog) else { continue }
                    connection.queue("UPDATE steps SET dispatched_at = now() WHERE run_id = $1 AND step_id = $2", [run.description, stepID.rawValue])
                    connection.queue("UPDATE runs SET updated_at = now() WHERE run_id = $1", [run.description])
                    try enqueueDispatch(tx: tx, tenant: tenant, run: run, plan: plan, step: step, skill: skill, params: params,
                                        messageID: "\(run):\(stepID):r\(Int64(tx.now.timeIntervalSince1970 * 1000))", catalog: catalog, subjects: subjects, traceparent: traceparent)
                case .retry(let stepID, let until, let error):
                    connection.queue(
                        "UPDATE steps SET status = 'waiting', not_before = to_timestamp($3::float8 / 1000) WHERE run_id = $1 AND step_id = $2",
                        [run.description, stepID.rawValue, String(Int64((until.timeIntervalSince1970 * 1000).rounded()))])
                    try tx.emitNext(tenant: tenant, run: run, step: stepID,
                                    body: RunEventBody(kind: .stepRetrying, status: .running, step: stepID, attempt: machine.steps[stepID]?.attempts,
                                                       error: error, reason: "retry \(machine.steps[stepID]?.attempts ?? 0) of the step's policy", notBefore: until),
                                    traceparent: traceparent)
                case .skip(let stepID, let reason):
                    connection.queue(
                        "UPDATE steps SET status = 'skipped', reason = $3, not_before = NULL, finished_at = now() WHERE run_id = $1 AND step_id = $2 AND status IN ('pending', 'waiting')",
                        [run.description, stepID.rawValue, reason])
                    try tx.emitNext(tenant: tenant, run: run, step: stepID, body: RunEventBody(kind: .stepSkipped, status: machine.status, step: stepID, reason: reason), traceparent: traceparent)
                case .cancelStep(let stepID, let reason):
                    connection.queue(
                        "UPDATE steps SET status = 'cancelled', reason = $3, finished_at = now() WHERE run_id = $1 AND step_id = $2",
                        [run.description, stepID.rawValue, reason])
                    connection.queue(
                        "UPDATE step_attempts SET status = 'cancelled', finished_at = now() WHERE run_id = $1 AND step_id = $2 AND status = 'running'",
                        [run.description, stepID.rawValue])
                    try tx.emitNext(tenant: tenant, run: run, step: stepID, body: RunEventBody(kind: .stepCancelled, status: machine.status, step: stepID, reason: reason), traceparent: traceparent)
                    notices.append(CancelNotice(tenant: tenant, run: run, step: stepID, reason: reason))
                case .succeed:
                    let output = plan.map { runOutput(plan: $0, outputs: renderedOutputs) } ?? .object([:])
                    tx.endRun(run, status: .succeeded, output: output.jsonString)
                    try tx.emitNext(tenant: tenant, run: run, body: RunEventBody(kind: .succeeded, status: .succeeded, idempotencyKey: idempotencyKey, output: output), traceparent: traceparent)
                case .fail(let error):
                    tx.endRun(run, status: .failed, error: try SQL.json(error))
                    try tx.emitNext(tenant: tenant, run: run, body: RunEventBody(kind: .failed, status: .failed, idempotencyKey: idempotencyKey, error: error), traceparent: traceparent)
                case .reject(let error):
                    tx.endRun(run, status: .rejected, error: try SQL.json(error))
                    try tx.emitNext(tenant: tenant, run: run, body: RunEventBody(kind: .rejected, status: .rejected, idempotencyKey: idempotencyKey, error: error), traceparent: traceparent)
                case .cancelRun(let reason):
                    let error = AriaError(.runCancelled, reason)
                    tx.endRun(run, status: .cancelled, error: try SQL.json(error))
                    try tx.emitNext(tenant: tenant, run: run, body: RunEventBody(kind: .cancelled, status: .cancelled, idempotencyKey: idempotencyKey, reason: reason), traceparent: traceparent)
                case .ignore:
                    break
                }
            }
        }
        if tx.inline != nil || tx.digestsDispatches {
            // Later rounds of inline execution start from the run as this transition left it, not from a read;
            // a submission's dispatches carry it (``RunDigest``).
            var steps = machine.steps
            for (id, until) in heldBack {
                steps[id]?.status = .waiting
                steps[id]?.notBefore = until
            }
            tx.runStates[run] = RunSnapshot(tenant: tenant, status: machine.status, plan: plan, traceparent: traceparent, idempotencyKey: idempotencyKey,
                                            steps: steps, outputs: outputs, fencingTokens: loaded.fencingTokens)
        }
        return SchedulingResult(actions: taken, status: machine.status, traceparent: traceparent, cancelNotices: notices)
    }

    /// Consults `skill`'s breaker once per transaction while it is closed (a probe or a wait is never cached).
    private static func gate(tx: StoreTransaction, skill: String, settings: CircuitBreakerSettings) throws -> BreakerGate {
        let gate = try breakerGate(connection: tx.connection, skill: skill, now: tx.now, settings: settings)
        if gate == .allow { tx.closedBreakers.insert(skill) }
        return gate
    }

    /// The params a step's attempt gets in `phase`: references resolved (to `null` for a dependency without
    /// output under join `all_done`), then checked against the skill's input schema.
    static func renderParams(step: PlanStep, phase: StepPhase, outputs: [String: JSONValue], catalog: SkillCatalog) throws(AriaError) -> JSONValue {
        let skill = step.skill(in: phase)
        let template = step.params(in: phase)
        let lenient = step.effectiveJoin == .allDone
        let params = try ParamTemplate.render(template) { path in
            if let value = ParamTemplate.resolveStepOutput(path, outputs: outputs) { return value }
            return lenient && path.count > 1 && outputs[path[1]] == nil ? .null : nil
        }
        if let refused = catalog.validateInput(skill: skill, params: params) {
            var error = refused
            error.details["step_id"] = step.stepID.rawValue
            throw error
        }
        return params
    }

    private static func enqueueDispatch(tx: StoreTransaction, tenant: TenantID, run: RunID, plan: Plan, step: PlanStep, skill: String, params: JSONValue, messageID: String, catalog: SkillCatalog, subjects: SubjectResolver, traceparent: String?) throws {
        let descriptor = catalog[skill]
        let timeout = plan.timeout(of: step, skillDefault: descriptor?.defaultTimeout ?? AriaDuration(milliseconds: 60_000))
        let subject = subjects.work(pool: descriptor?.pool ?? "default")
        let body = StepDispatchBody(skill: skill, params: params, timeoutMilliseconds: timeout.milliseconds)
        if tx.takeInline(InlineDispatch(tenant: tenant, run: run, step: step.stepID, body: body, traceparent: traceparent), subject: subject) { return }
        try tx.enqueueDispatch(subject: subject, messageID: messageID,
                               envelope: Envelope(type: .stepDispatch, tenant: tenant, run: run, step: step.stepID, createdAt: tx.now, traceparent: traceparent, body: body))
    }

    /// A succeeded run's output: step outputs by `output_key`; without any key, the outputs of the final
    /// steps (those nothing depends on) by step id. Steps without output (skipped, failed under `continue`)
    /// give `null`.
    static func runOutput(plan: Plan, outputs: [String: JSONValue]) -> JSONValue {
        var result: [String: JSONValue] = [:]
        let keyed = plan.steps.filter { $0.outputKey != nil }
        if keyed.isEmpty {
            let sinks = plan.sinks
            for step in plan.steps where sinks.contains(step.stepID) {
                result[step.stepID.rawValue] = outputs[step.stepID.rawValue] ?? .null
            }
        } else {
            for step in keyed { result[step.outputKey!] = outputs[step.stepID.rawValue] ?? .null }
        }
        return .object(result)
    }
}

// MARK: - Cancel

extension RunStore {
    /// Cancels a run for its tenant: nothing new is dispatched, pending steps are skipped, in-flight ones
    /// cancelled (the result lists the notices to send their workers). Throws `not_found` for an unknown
    /// run and `invalid_state` for a run that has already ended.
    public func cancel(tenant: TenantID, run: RunID, reason: String, catalog: SkillCatalog) async throws -> (SchedulingResult, [OutboxMessage]) {
        let (result, outbox) = try await advance(tenant: tenant, run: run, event: .cancel(reason: reason), catalog: catalog)
        guard let status = result.status else { throw AriaError(.notFound, "run \(run) does not exist") }
        guard result.actions.contains(where: { if case .cancelRun = $0 { true } else { false } }) else {
            throw AriaError(.invalidState, "run \(run) is \(status.rawValue); only a run that has not ended can be cancelled", details: ["status": status.rawValue])
        }
        return (result, outbox)
    }
}

// MARK: - Reconciler, timer and watchdog

/// When a run's step counts as lost: dispatched without an attempt for too long, or running past its lease.
public struct Staleness: Sendable {
    /// A dispatched step with no attempt for this long: its message was lost (or every worker is busy).
    public var dispatched: AriaDuration
    /// A running step without a lease (written before leases existed) counts as lost after this long.
    public var running: AriaDuration
    /// Creates thresholds.
    public init(dispatched: AriaDuration, running: AriaDuration) {
        self.dispatched = dispatched
        self.running = running
    }
}

extension RunStore {
    /// Runs that should be moving but have not changed for `idle`: accepted with a plan, or running.
    public func idleRuns(idle: AriaDuration, limit: Int) async throws -> [(tenant: TenantID, run: RunID)] {
        try await pool.withConnection { connection in
            try Self.runPairs(connection.query("""
                SELECT tenant_id, run_id FROM runs
                WHERE status IN ('accepted', 'running') AND plan IS NOT NULL
                  AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
                ORDER BY updated_at LIMIT $2
                """, [String(idle.milliseconds), String(limit)]))
        }
    }

    /// Template runs still waiting for a plan after `idle` (their planning request was lost).
    public func unplannedRuns(idle: AriaDuration, limit: Int) async throws -> [RunID] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT run_id FROM runs WHERE status = 'accepted' AND plan IS NULL
                  AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
                ORDER BY updated_at LIMIT $2
                """, [String(idle.milliseconds), String(limit)]).rows.compactMap { RunID($0["run_id"] ?? "") }
        }
    }

    /// Re-drives one run: starts it if its start was lost, dispatches lost steps again, advances what is
    /// ready (a lost completion notice), under the run's row lock.
    public func reconcile(tenant: TenantID, run: RunID, staleness: Staleness, catalog: SkillCatalog) async throws -> (SchedulingResult, [OutboxMessage]) {
        let subjects = subjects
        return try await transaction { tx in
            try Self.advance(tx: tx, tenant: tenant, run: run, event: .reconcile(stale: []), catalog: catalog, subjects: subjects, staleness: staleness)
        }
    }

    /// Runs with a waiting step whose `not_before` has passed (retry backoff over, breaker probe time).
    public func dueRuns(limit: Int) async throws -> [(tenant: TenantID, run: RunID)] {
        try await pool.withConnection { connection in
            try Self.runPairs(connection.query("""
                SELECT DISTINCT tenant_id, run_id FROM steps WHERE status = 'waiting' AND not_before <= now() LIMIT $1
                """, [String(limit)]))
        }
    }

    /// Running runs without progress for `after`: no step started or finished, no live lease, no waiting
    /// step. Each comes with a description of what it waits for.
    public func stalledRuns(after: AriaDuration, limit: Int) async throws -> [(tenant: TenantID, run: RunID, waitingFor: String)] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT r.tenant_id, r.run_id,
                       (SELECT string_agg(s.step_id || ' (' || s.status || ')', ', ' ORDER BY s.position) FROM steps s
                        WHERE s.run_id = r.run_id AND s.status IN ('pending', 'dispatched', 'running')) AS waiting_for
                FROM runs r
                WHERE r.status = 'running' AND r.progressed_at < now() - make_interval(secs => $1::float8 / 1000)
                  AND NOT EXISTS (\(Self.progressSQL))
                LIMIT $2
                """, [String(after.milliseconds), String(limit)]).rows.compactMap { row in
                    guard let run = RunID(row["run_id"] ?? "") else { return nil }
                    return (TenantID(trusted: row["tenant_id"] ?? ""), run, row["waiting_for"] ?? "nothing")
                }
        }
    }

    /// Steps of run `r` that show progress within `$1` milliseconds (shared by the scan and the re-check).
    static let progressSQL = """
        SELECT 1 FROM steps s WHERE s.run_id = r.run_id AND (
            s.started_at > now() - make_interval(secs => $1::float8 / 1000) OR
            s.finished_at > now() - make_interval(secs => $1::float8 / 1000) OR
            s.status = 'waiting' OR (s.status = 'running' AND s.lease_expires_at > now()))
        """

    static func stalledSince(connection: PostgresConnection, run: RunID, after: AriaDuration) throws -> Bool {
        try connection.query("""
            SELECT 1 FROM runs r WHERE r.run_id = $2::uuid AND r.status = 'running'
              AND r.progressed_at < now() - make_interval(secs => $1::float8 / 1000) AND NOT EXISTS (\(progressSQL))
            """, [String(after.milliseconds), run.description]).rows.count == 1
    }

    /// The error the watchdog fails a run with.
    public static func stalledError(after: AriaDuration, waitingFor: String) -> AriaError {
        AriaError(.runStalled, "no progress for \(after); waiting for: \(waitingFor)", details: ["after_ms": String(after.milliseconds)])
    }

    private static func runPairs(_ result: PostgresResult) throws -> [(tenant: TenantID, run: RunID)] {
        result.rows.compactMap { row in
            guard let run = RunID(row["run_id"] ?? "") else { return nil }
            return (TenantID(trusted: row["tenant_id"] ?? ""), run)
        }
    }
}
