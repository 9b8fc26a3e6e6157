import AriaCore
import AriaPostgres
import Foundation

// MARK: - Scheduler

/// What one scheduler transaction did, for logs and tests.
public struct SchedulingResult: Sendable {
    /// The actions the state machine chose.
    public var actions: [RunScheduler.Action]
    /// The run's status afterwards.
    public var status: RunStatus?
    /// The run's trace context, for log metadata.
    public var traceparent: String? = nil
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
        let order = batch.indices.sorted { batch[$0].run.description < batch[$1].run.description }
        return try await transaction { tx in
            var results = [SchedulingResult](repeating: SchedulingResult(actions: [], status: nil), count: batch.count)
            for index in order {
                let item = batch[index]
                results[index] = try Self.advance(tx: tx, tenant: item.tenant, run: item.run, event: item.event, catalog: catalog, subjects: subjects)
            }
            return results
        }
    }

    private static func advance(tx: StoreTransaction, tenant: TenantID, run: RunID, event requested: RunScheduler.Event, catalog: SkillCatalog, subjects: SubjectResolver, staleness: Staleness? = nil) throws -> SchedulingResult {
        let connection = tx.connection
        var event = requested
        let runRows = try connection.query(
            "SELECT status, plan, traceparent, idempotency_key, deadline::text AS deadline FROM runs WHERE run_id = $1 AND tenant_id = $2 FOR UPDATE",
            [run.description, tenant.rawValue])
        guard let runRow = runRows.rows.first else {
            return SchedulingResult(actions: [.ignore("run \(run) does not exist")], status: nil)
        }
        let status = RunStatus(rawValue: try runRow.required("status")) ?? .accepted
        let plan = try SQL.decode(Plan.self, runRow["plan"])
        let traceparent = runRow["traceparent"]
        var steps: [StepID: StepStatus] = [:]
        var errors: [StepID: AriaError] = [:]
        var outputs: [String: JSONValue] = [:]
        var attempts: [StepID: Int] = [:]
        for row in try connection.query("SELECT step_id, status, attempts, output, error FROM steps WHERE run_id = $1", [run.description]).rows {
            let id = StepID(trusted: try row.required("step_id"))
            steps[id] = StepStatus(rawValue: try row.required("status")) ?? .pending
            attempts[id] = Int(row["attempts"] ?? "0") ?? 0
            if let error = try SQL.decode(AriaError.self, row["error"]) { errors[id] = error }
            if let output = SQL.jsonValue(row["output"]) { outputs[id.rawValue] = output }
        }
        if let staleness {
            // The reconciler's view: steps whose dispatch or attempt has been out for too long.
            let stale = try connection.query("""
                SELECT step_id FROM steps WHERE run_id = $1 AND (
                    (status = 'dispatched' AND dispatched_at < now() - make_interval(secs => $2::float8 / 1000)) OR
                    (status = 'running' AND started_at < now() - make_interval(secs => $3::float8 / 1000)))
                """, [run.description, String(staleness.dispatched.milliseconds), String(staleness.running.milliseconds)])
            event = .reconcile(stale: Set(try stale.rows.map { StepID(trusted: try $0.required("step_id")) }))
        }
        var machine = RunScheduler(status: status, plan: plan, steps: steps, errors: errors)
        var pending = [event]
        var taken: [RunScheduler.Action] = []
        while !pending.isEmpty {
            let actions = machine.handle(pending.removeFirst())
            taken += actions
            for action in actions {
                switch action {
                case .markRunning:
                    try connection.query("UPDATE runs SET status = 'running', updated_at = now() WHERE run_id = $1", [run.description])
                case .dispatch(let stepID), .redispatch(let stepID):
                    guard let plan, let step = plan.step(stepID) else { continue }
                    let params: JSONValue
                    do {
                        params = try ParamTemplate.render(step.params) { ParamTemplate.resolveStepOutput($0, outputs: outputs) }
                    } catch {
                        // An unresolvable reference fails the step before dispatch; the machine then ends the run.
                        try connection.query(
                            "UPDATE steps SET status = 'failed', error = $3, finished_at = now() WHERE run_id = $1 AND step_id = $2",
                            [run.description, stepID.rawValue, try SQL.json(error)])
                        try tx.emitNext(tenant: tenant, run: run, step: stepID, body: RunEventBody(kind: .stepFailed, status: .running, step: stepID, skill: step.skill, error: error), traceparent: traceparent)
                        machine = RunScheduler(status: machine.status, plan: plan, steps: machine.steps.merging([stepID: .failed]) { _, new in new }, errors: machine.errors.merging([stepID: error]) { _, new in new })
                        pending.append(.stepFinished(stepID))
                        continue
                    }
                    let descriptor = catalog[step.skill]
                    let timeout = plan.timeout(of: step, skillDefault: descriptor?.defaultTimeout ?? AriaDuration(milliseconds: 60_000))
                    let messageID: String
                    if case .redispatch = action {
                        // The original dispatch (or its attempt) was lost: a new message id, past the dedupe window.
                        try connection.query("UPDATE steps SET dispatched_at = now() WHERE run_id = $1 AND step_id = $2", [run.description, stepID.rawValue])
                        try connection.query("UPDATE runs SET updated_at = now() WHERE run_id = $1", [run.description])
                        messageID = "\(run):\(stepID):r\(Int64(tx.now.timeIntervalSince1970 * 1000))"
                    } else {
                        try connection.query(
                            "UPDATE steps SET status = 'dispatched', dispatched_at = now() WHERE run_id = $1 AND step_id = $2 AND status = 'pending'",
                            [run.description, stepID.rawValue])
                        messageID = "\(run):\(stepID):\((attempts[stepID] ?? 0) + 1)"
                    }
                    try tx.enqueue(
                        subject: subjects.work(pool: descriptor?.pool ?? "default"), messageID: messageID,
                        envelope: Envelope(type: .stepDispatch, tenant: tenant, run: run, step: stepID, createdAt: tx.now, traceparent: traceparent,
                                           body: StepDispatchBody(skill: step.skill, params: params, timeoutMilliseconds: timeout.milliseconds)))
                case .skip(let stepID):
                    try connection.query(
                        "UPDATE steps SET status = 'skipped', finished_at = now() WHERE run_id = $1 AND step_id = $2 AND status = 'pending'",
                        [run.description, stepID.rawValue])
                case .succeed:
                    let output = plan.map { Self.runOutput(plan: $0, outputs: outputs) } ?? .object([:])
                    try connection.query(
                        "UPDATE runs SET status = 'succeeded', output = $2, updated_at = now(), finished_at = now() WHERE run_id = $1",
                        [run.description, output.jsonString])
                    try tx.emitNext(tenant: tenant, run: run, body: RunEventBody(kind: .succeeded, status: .succeeded, output: output), traceparent: traceparent)
                case .fail(let error):
                    try connection.query(
                        "UPDATE runs SET status = 'failed', error = $2, updated_at = now(), finished_at = now() WHERE run_id = $1",
                        [run.description, try SQL.json(error)])
                    try tx.emitNext(tenant: tenant, run: run, body: RunEventBody(kind: .failed, status: .failed, error: error), traceparent: traceparent)
                case .reject(let error):
                    try connection.query(
                        "UPDATE runs SET status = 'rejected', error = $2, updated_at = now(), finished_at = now() WHERE run_id = $1",
                        [run.description, try SQL.json(error)])
                    try tx.emitNext(tenant: tenant, run: run, body: RunEventBody(kind: .rejected, status: .rejected, idempotencyKey: runRow["idempotency_key"], error: error), traceparent: traceparent)
                case .ignore:
                    break
                }
            }
        }
        return SchedulingResult(actions: taken, status: machine.status, traceparent: traceparent)
    }

    /// A succeeded run's output: step outputs by `output_key`; without any key, the outputs of the final
    /// steps (those nothing depends on) by step id.
    static func runOutput(plan: Plan, outputs: [String: JSONValue]) -> JSONValue {
        var result: [String: JSONValue] = [:]
        let keyed = plan.steps.filter { $0.outputKey != nil }
        if keyed.isEmpty {
            let dependedOn = Set(plan.steps.flatMap(\.dependsOn))
            for step in plan.steps where !dependedOn.contains(step.stepID) {
                result[step.stepID.rawValue] = outputs[step.stepID.rawValue] ?? .null
            }
        } else {
            for step in keyed { result[step.outputKey!] = outputs[step.stepID.rawValue] ?? .null }
        }
        return .object(result)
    }
}

// MARK: - Reconciler

/// When a run's step counts as lost: dispatched without an attempt, or running, for longer than these.
public struct Staleness: Sendable {
    /// A dispatched step with no attempt for this long: its message was lost (or every worker is busy).
    public var dispatched: AriaDuration
    /// A running step for this long: its worker and its message are gone (longer than any timeout).
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
            try connection.query("""
                SELECT tenant_id, run_id FROM runs
                WHERE status IN ('accepted', 'running') AND plan IS NOT NULL
                  AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
                ORDER BY updated_at LIMIT $2
                """, [String(idle.milliseconds), String(limit)]).rows.compactMap { row in
                    guard let run = RunID(row["run_id"] ?? "") else { return nil }
                    return (TenantID(trusted: row["tenant_id"] ?? ""), run)
                }
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
}

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

    /// Creates a start request.
    public init(tenant: TenantID, run: RunID, step: StepID, skill: String, traceparent: String?) {
        self.tenant = tenant
        self.run = run
        self.step = step
        self.skill = skill
        self.traceparent = traceparent
    }
}

extension RunStore {
    /// Starts attempts for deliveries in one transaction; returns, per delivery, what ``StepExecution`` decided.
    public func beginAttempts(_ starts: [AttemptStart], worker: String) async throws -> ([StepExecution.Action], [OutboxMessage]) {
        let subjects = subjects
        return try await transaction { tx in
            var decisions: [StepExecution.Action] = []
            for start in starts {
                decisions.append(try Self.begin(start, worker: worker, tx: tx, subjects: subjects))
            }
            return decisions
        }
    }

    private static func begin(_ start: AttemptStart, worker: String, tx: StoreTransaction, subjects: SubjectResolver) throws -> StepExecution.Action {
        let connection = tx.connection
        let rows = try connection.query(
            "SELECT status, attempts, fencing_token FROM steps WHERE run_id = $1 AND step_id = $2 FOR UPDATE",
            [start.run.description, start.step.rawValue])
        guard let row = rows.rows.first else { return .drop("step does not exist") }
        var machine = StepExecution(
            status: StepStatus(rawValue: try row.required("status")) ?? .pending,
            attempts: Int(try row.required("attempts")) ?? 0, fencingToken: Int64(try row.required("fencing_token")) ?? 0)
        let action = machine.handle(.deliver).first ?? .drop("no decision")
        switch action {
        case .startAttempt(let number, let token, let superseding):
            try connection.query(
                "UPDATE steps SET status = 'running', attempts = $3, fencing_token = $4, started_at = now() WHERE run_id = $1 AND step_id = $2",
                [start.run.description, start.step.rawValue, String(number), String(token)])
            if let superseding {
                try connection.query("""
                    UPDATE step_attempts SET status = 'superseded', finished_at = now()
                    WHERE run_id = $1 AND step_id = $2 AND attempt = $3 AND status = 'running'
                    """, [start.run.description, start.step.rawValue, String(superseding)])
            }
            try connection.query("""
                INSERT INTO step_attempts (run_id, step_id, attempt, tenant_id, fencing_token, status, worker)
                VALUES ($1, $2, $3, $4, $5, 'running', $6)
                """, [start.run.description, start.step.rawValue, String(number), start.tenant.rawValue, String(token), worker])
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
        return action
    }

    /// Records the outcome of an attempt under its fencing token, emits the step event and tells the
    /// scheduler. A stale token (a superseded attempt) changes nothing.
    public func finishAttempt(tenant: TenantID, run: RunID, step: StepID, skill: String, attempt: Int, fencingToken: Int64, outcome: StepExecution.Outcome, output: JSONValue?, traceparent: String?) async throws -> (StepExecution.Action, [OutboxMessage]) {
        let subjects = subjects
        return try await transaction { tx in
            let connection = tx.connection
            let rows = try connection.query(
                "SELECT status, attempts, fencing_token FROM steps WHERE run_id = $1 AND step_id = $2 FOR UPDATE",
                [run.description, step.rawValue])
            guard let row = rows.rows.first else { return .drop("step does not exist") }
            var machine = StepExecution(
                status: StepStatus(rawValue: try row.required("status")) ?? .pending,
                attempts: Int(try row.required("attempts")) ?? 0, fencingToken: Int64(try row.required("fencing_token")) ?? 0)
            let action = machine.handle(.finish(fencingToken: fencingToken, outcome: outcome)).first ?? .drop("no decision")
            guard case .record = action else { return action }
            var error: AriaError?
            if case .failed(let failure) = outcome { error = failure }
            try connection.query("""
                UPDATE steps SET status = $3, output = $4, error = $5, finished_at = now() WHERE run_id = $1 AND step_id = $2
                """, [run.description, step.rawValue, machine.status.rawValue, output?.jsonString, try error.map { try SQL.json($0) }])
            try connection.query("""
                UPDATE step_attempts SET status = $4, error = $5, finished_at = now() WHERE run_id = $1 AND step_id = $2 AND attempt = $3
                """, [run.description, step.rawValue, String(attempt), machine.status == .succeeded ? "succeeded" : "failed", try error.map { try SQL.json($0) }])
            let kind: RunEventKind = machine.status == .succeeded ? .stepSucceeded : .stepFailed
            try tx.emitNext(tenant: tenant, run: run, step: step, attempt: attempt,
                            body: RunEventBody(kind: kind, status: .running, step: step, skill: skill, attempt: attempt, output: output, error: error),
                            traceparent: traceparent)
            try tx.enqueue(subject: subjects.schedule, messageID: "\(run):\(step):fin:\(attempt)",
                           envelope: Envelope(type: .stepFinished, tenant: tenant, run: run, step: step, attempt: attempt, fencingToken: fencingToken,
                                              createdAt: tx.now, traceparent: traceparent, body: StepFinishedBody(status: machine.status)))
            return action
        }
    }
}
