import AriaCore
import AriaPostgres
import Foundation

extension RunStore {
    /// A run with its steps, if it exists for `tenant`.
    public func runView(tenant: TenantID, run: RunID) async throws -> RunView? {
        try await pool.withConnection { connection in
            let runs = try connection.query("""
                SELECT agent_id, status, goal, idempotency_key, parent_run_id, error, output, last_seq,
                       (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,
                       (extract(epoch FROM finished_at) * 1000)::bigint AS finished_ms
                FROM runs WHERE run_id = $1 AND tenant_id = $2
                """, [run.description, tenant.rawValue])
            guard let row = runs.rows.first else { return nil }
            let steps = try connection.query(
                "SELECT step_id, skill, status, attempts, output, error, phase, reason, reused_from FROM steps WHERE run_id = $1 ORDER BY position",
                [run.description]).rows.map { step in
                    StepView(step: StepID(trusted: try step.required("step_id")), skill: try step.required("skill"),
                             status: StepStatus(rawValue: try step.required("status")) ?? .pending,
                             attempts: Int(step["attempts"] ?? "0") ?? 0, output: SQL.jsonValue(step["output"]),
                             error: try SQL.decode(AriaError.self, step["error"]), phase: step["phase"].flatMap(StepPhase.init(rawValue:)),
                             reason: step["reason"], reusedFrom: step["reused_from"].flatMap(RunID.init))
                }
            return RunView(
                run: run, tenant: tenant, agent: AgentID(trusted: try row.required("agent_id")),
                status: RunStatus(rawValue: try row.required("status")) ?? .accepted, goal: row["goal"],
                idempotencyKey: row["idempotency_key"], parentRun: row["parent_run_id"].flatMap(RunID.init),
                error: try SQL.decode(AriaError.self, row["error"]), output: SQL.jsonValue(row["output"]),
                createdAt: SQL.date(milliseconds: row["created_ms"]) ?? Date(timeIntervalSince1970: 0),
                finishedAt: SQL.date(milliseconds: row["finished_ms"]), lastSeq: Int64(row["last_seq"] ?? "0") ?? 0, steps: steps)
        }
    }

    /// A run's events with `seq > afterSeq`, in order (at most `limit`).
    public func events(tenant: TenantID, run: RunID, afterSeq: Int64, limit: Int = 1000) async throws -> [Envelope<RunEventBody>] {
        try await pool.withConnection { connection in
            let rows = try connection.query("""
                SELECT body FROM run_events e
                WHERE e.run_id = $1 AND e.tenant_id = $2 AND e.seq > $3 ORDER BY e.seq LIMIT $4
                """, [run.description, tenant.rawValue, String(afterSeq), String(limit)])
            return try rows.rows.compactMap { try SQL.decode(Envelope<RunEventBody>.self, $0["body"]) }
        }
    }
}

// MARK: - Outbox maintenance

extension RunStore {
    /// Deletes outbox rows whose messages the bus acknowledged.
    ///
    /// The delete commits asynchronously (`synchronous_commit = off` for this transaction only): losing it
    /// in a database crash only means the sweeper publishes those messages again, which the stream's
    /// `Nats-Msg-Id` window and the idempotent handlers absorb. It keeps a WAL flush off every hop.
    public func deleteOutbox(ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        let list = ids.map { String($0) }.joined(separator: ",")
        _ = try await pool.withConnection { connection in
            try connection.execute("BEGIN; SET LOCAL synchronous_commit = off; DELETE FROM outbox WHERE id IN (\(list)); COMMIT;")
        }
    }

    /// Claims up to `limit` of this origin's outbox rows that nobody published in time, pushing their
    /// `available_at` forward by `retryAfter` so that concurrent sweepers do not take the same rows. An
    /// event marker comes back as the events it stands for (read from `run_events`), each with the
    /// marker's id.
    public func claimStaleOutbox(limit: Int, retryAfter: AriaDuration) async throws -> [OutboxMessage] {
        let origin = origin, subjects = subjects
        return try await pool.withConnection { connection in
            let rows = try connection.query("""
                UPDATE outbox SET available_at = now() + make_interval(secs => $3::float8 / 1000)
                WHERE id IN (SELECT id FROM outbox WHERE origin = $1 AND available_at <= now()
                             ORDER BY available_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                RETURNING id, tenant_id, subject, msg_id, headers, payload
                """, [origin, String(limit), String(retryAfter.milliseconds)])
            var messages: [OutboxMessage] = []
            for row in rows.rows {
                let id = Int64(try row.required("id")) ?? 0
                let tenant = TenantID(trusted: try row.required("tenant_id"))
                guard try row.required("subject") == EventMarker.subject else {
                    messages.append(OutboxMessage(
                        id: id, tenant: tenant, subject: try row.required("subject"), messageID: try row.required("msg_id"),
                        headers: try SQL.decode([OutboxMessage.Header].self, row["headers"]) ?? [],
                        payload: Array(try row.required("payload").utf8)))
                    continue
                }
                let references = try Wire.decode([EventMarker.Reference].self, from: Array(try row.required("payload").utf8))
                let events = try connection.query("""
                    SELECT e.run_id::text AS run_id, e.seq, e.kind, e.body::text AS body
                    FROM run_events e JOIN unnest($1::uuid[], $2::bigint[]) AS u(r, s) ON e.run_id = u.r AND e.seq = u.s
                    WHERE e.tenant_id = $3
                    """, [SQL.array(references.map(\.r)), SQL.array(references.map { String($0.s) }), tenant.rawValue])
                var found: [String: PostgresRow] = [:]
                for event in events.rows { found["\(event["run_id"] ?? ""):\(event["seq"] ?? "")"] = event }
                for reference in references {
                    let key = "\(reference.r):\(reference.s)"
                    guard let event = found[key], let run = RunID(reference.r), let kind = RunEventKind(rawValue: try event.required("kind")) else { continue }
                    messages.append(OutboxMessage(
                        id: id, tenant: tenant, subject: subjects.event(tenant: tenant, run: run, kind: kind), messageID: key,
                        headers: reference.h ?? [], payload: Array(try event.required("body").utf8)))
                }
            }
            // By row, and within a marker in the order it lists its events (seq order per run).
            return messages.enumerated().sorted { ($0.element.id, $0.offset) < ($1.element.id, $1.offset) }.map(\.element)
        }
    }

    /// Counts this origin's outbox rows (for readiness and tests).
    public func outboxBacklog() async throws -> Int {
        let origin = origin
        return try await pool.withConnection { connection in
            Int(try connection.query("SELECT count(*) FROM outbox WHERE origin = $1", [origin]).rows.first?[0] ?? "0") ?? 0
        }
    }
}

// MARK: - Dead letters

/// A message no handler could process.
public struct DeadLetter: Sendable {
    /// The tenant, when it could be read.
    public var tenant: TenantID?
    /// The stream it came from.
    public var stream: String
    /// The consumer that gave up.
    public var consumer: String
    /// Its subject.
    public var subject: String
    /// How often it was delivered.
    public var deliveries: Int
    /// Why it was dead-lettered.
    public var error: AriaError
    /// Its payload, as received.
    public var payload: [UInt8]

    /// Creates a dead letter.
    public init(tenant: TenantID?, stream: String, consumer: String, subject: String, deliveries: Int, error: AriaError, payload: [UInt8]) {
        self.tenant = tenant
        self.stream = stream
        self.consumer = consumer
        self.subject = subject
        self.deliveries = deliveries
        self.error = error
        self.payload = payload
    }
}

extension RunStore {
    /// Records a dead letter with its payload; returns its id.
    @discardableResult
    public func recordDeadLetter(_ letter: DeadLetter) async throws -> UUID {
        let id = UUIDv7Generator.shared.next()
        _ = try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO dead_letters (dead_letter_id, tenant_id, stream, consumer, subject, deliveries, error, payload)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bytea)
                """, [id.uuidString.lowercased(), letter.tenant?.rawValue, letter.stream, letter.consumer, letter.subject,
                      String(letter.deliveries), try SQL.json(letter.error), SQL.bytea(letter.payload)])
        }
        return id
    }
}
