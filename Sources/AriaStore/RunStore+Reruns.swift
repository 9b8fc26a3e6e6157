import AriaCore
import AriaPostgres
import Foundation

extension RunStore {
    /// Creates a new run of `parent`'s plan with `parent_run_id` set and asks the scheduler to start it.
    ///
    /// The parent must have ended with a plan (a rejected run has none); `from_failed` needs a parent that
    /// failed or was cancelled. Throws `not_found` or `invalid_state`.
    public func rerun(tenant: TenantID, parent: RunID, mode: RerunMode) async throws -> (RunID, [OutboxMessage]) {
        let subjects = subjects
        return try await transaction { tx in
            let connection = tx.connection
            let rows = try connection.query("""
                SELECT status, agent_id, goal, payload_hash, job, plan, traceparent FROM runs WHERE run_id = $1 AND tenant_id = $2
                """, [parent.description, tenant.rawValue])
            guard let row = rows.rows.first else { throw AriaError(.notFound, "run \(parent) does not exist") }
            let status = RunStatus(rawValue: try row.required("status")) ?? .accepted
            guard status.isTerminal else {
                throw AriaError(.invalidState, "run \(parent) is \(status.rawValue); only a run that has ended can be rerun", details: ["status": status.rawValue])
            }
            guard let planText = row["plan"], let plan = try SQL.decode(Plan.self, planText) else {
                throw AriaError(.invalidState, "run \(parent) has no plan (it was rejected); submit the job again", details: ["status": status.rawValue])
            }
            if mode == .fromFailed, status != .failed, status != .cancelled {
                throw AriaError(.invalidState, "run \(parent) is \(status.rawValue); from_failed needs a failed or cancelled run", details: ["status": status.rawValue])
            }
            let run = RunID.generate(now: tx.now)
            let traceparent = row["traceparent"]
            try connection.query("""
                INSERT INTO runs (run_id, tenant_id, agent_id, status, goal, payload_hash, job, plan, parent_run_id, rerun_mode, traceparent)
                VALUES ($1, $2, $3, 'accepted', $4, $5, $6, $7, $8, $9, $10)
                """, [run.description, tenant.rawValue, try row.required("agent_id"), row["goal"], try row.required("payload_hash"),
                      try row.required("job"), planText, parent.description, mode.rawValue, traceparent])
            try Self.insertSteps(of: plan, run: run, tenant: tenant, connection: connection)
            try tx.emitNext(tenant: tenant, run: run, body: RunEventBody(kind: .accepted, status: .accepted, reason: "rerun (\(mode.rawValue))", parentRun: parent), traceparent: traceparent)
            try tx.emitNext(tenant: tenant, run: run, body: RunEventBody(kind: .planned, status: .accepted), traceparent: traceparent)
            if mode == .fromFailed {
                let reused = try connection.query("""
                    UPDATE steps n SET status = 'succeeded', output = p.output, reused_from = p.run_id, finished_at = now()
                    FROM steps p WHERE n.run_id = $1 AND p.run_id = $2 AND p.step_id = n.step_id AND p.status = 'succeeded'
                    RETURNING n.step_id, n.position, n.skill
                    """, [run.description, parent.description])
                for reusedRow in reused.rows.sorted(by: { Int($0["position"] ?? "0") ?? 0 < Int($1["position"] ?? "0") ?? 0 }) {
                    let step = StepID(trusted: try reusedRow.required("step_id"))
                    try tx.emitNext(tenant: tenant, run: run, step: step,
                                    body: RunEventBody(kind: .stepReused, status: .accepted, step: step, skill: reusedRow["skill"], parentRun: parent),
                                    traceparent: traceparent)
                }
            }
            try tx.enqueue(subject: subjects.schedule, messageID: "\(run):start",
                           envelope: Envelope(type: .runStart, tenant: tenant, run: run, createdAt: tx.now, traceparent: traceparent, body: EmptyBody()))
            return run
        }
    }
}
