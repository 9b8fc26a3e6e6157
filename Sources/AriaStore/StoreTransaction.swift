import AriaCore
import AriaPostgres
import Foundation
import Synchronization

/// A message committed to the outbox, to be published on the bus after the transaction commits.
public struct OutboxMessage: Sendable, Equatable {
    /// The outbox row id (set once inserted).
    public var id: Int64
    /// The tenant it concerns.
    public var tenant: TenantID
    /// The subject to publish on.
    public var subject: String
    /// The JetStream `Nats-Msg-Id` (transport dedupe).
    public var messageID: String
    /// Extra headers.
    public var headers: [Header]
    /// The encoded envelope.
    public var payload: [UInt8]

    /// A header name and value.
    public struct Header: Sendable, Equatable, Codable {
        /// The name.
        public var name: String
        /// The value.
        public var value: String
        /// Creates a header.
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    /// Creates a message (id 0 until inserted).
    public init(id: Int64 = 0, tenant: TenantID, subject: String, messageID: String, headers: [Header] = [], payload: [UInt8]) {
        self.id = id
        self.tenant = tenant
        self.subject = subject
        self.messageID = messageID
        self.headers = headers
        self.payload = payload
    }
}

/// Where bus messages go: the subjects of the bus contract, as the store needs them.
public protocol SubjectResolver: Sendable {
    /// The event subject of a run.
    func event(tenant: TenantID, run: RunID, kind: RunEventKind) -> String
    /// The planner's intake.
    var plan: String { get }
    /// The scheduler's intake.
    var schedule: String { get }
    /// A worker pool's intake.
    func work(pool: String) -> String
}

/// The outbox messages of a transaction; their row ids are filled in when the COMMIT's round trip returns.
///
/// Intents have a row each. The events of one tenant share one row, the transaction's *event marker* for
/// that tenant, which lists them by run and seq (their payloads are in `run_events`): every event message
/// carries its marker's id, and the relay deletes the marker once all of them are published.
public final class OutboxBatch: Sendable {
    private let stored: Mutex<[OutboxMessage]>
    /// Per message, the `msg_id` of the row that carries it: its own, or its tenant's event marker.
    private let rowMessageIDs: [String]

    init(intents: [OutboxMessage], events: [(message: OutboxMessage, marker: String)]) {
        stored = Mutex(intents + events.map(\.message))
        rowMessageIDs = intents.map(\.messageID) + events.map(\.marker)
    }

    /// The messages (with their ids once the transaction committed).
    public var messages: [OutboxMessage] { stored.withLock { $0 } }

    /// Sets the ids from the rows `INSERT … RETURNING id, msg_id` returned.
    func assignIDs(_ result: PostgresResult) {
        var idsByMessage: [String: [Int64]] = [:]
        for row in result.rows {
            idsByMessage[row[1] ?? "", default: []].append(Int64(row[0] ?? "0") ?? 0)
        }
        stored.withLock { messages in
            for index in messages.indices {
                let rowID = rowMessageIDs[index]
                if rowID == messages[index].messageID {
                    messages[index].id = idsByMessage[rowID]?.popLast() ?? 0
                } else {
                    messages[index].id = idsByMessage[rowID]?.last ?? 0  // a marker: shared by its events
                }
            }
        }
    }
}

/// Inline execution: a worker's result transaction executes the steps it dispatches whose skill is pure
/// and computes its output at once (`echo`, `fail`, `json_transform`), inside the same transaction, instead
/// of sending them over the bus. Their results are recorded and their runs advanced again in the same
/// transaction, which may dispatch (and execute) further steps, up to `limit` executions in all.
///
/// Nothing is kept outside the transaction: if it rolls back, so do the executions, which had no effect.
public struct InlineExecution: Sendable {
    /// The most steps executed inline in one transaction; the rest are dispatched as usual.
    public var limit: Int
    /// Whether a dispatch of `skill` to `subject` may be executed inline (a pure skill this worker has, of
    /// its own pool).
    public var accepts: @Sendable (_ skill: String, _ subject: String) -> Bool
    /// Executes a dispatched step (synchronously) and returns its result, to be recorded like an optimistic one.
    public var execute: @Sendable (_ dispatch: InlineDispatch) -> AttemptFinish

    /// Creates an inline executor.
    public init(limit: Int, accepts: @escaping @Sendable (_ skill: String, _ subject: String) -> Bool,
                execute: @escaping @Sendable (_ dispatch: InlineDispatch) -> AttemptFinish) {
        self.limit = limit
        self.accepts = accepts
        self.execute = execute
    }
}

/// A step dispatch taken for inline execution: what a `step.dispatch` message would have carried.
public struct InlineDispatch: Sendable {
    /// The run's tenant.
    public var tenant: TenantID
    /// The run.
    public var run: RunID
    /// The step.
    public var step: StepID
    /// The skill, its rendered params and the step's timeout.
    public var body: StepDispatchBody
    /// The run's trace context.
    public var traceparent: String?

    /// Creates a dispatch taken for inline execution.
    public init(tenant: TenantID, run: RunID, step: StepID, body: StepDispatchBody, traceparent: String?) {
        self.tenant = tenant
        self.run = run
        self.step = step
        self.body = body
        self.traceparent = traceparent
    }
}

/// The outbox's stand-in for a transaction's events: the `subject` of its row (never published) and the
/// JSON of its payload, which names the events by run and seq with their headers.
enum EventMarker {
    /// The marker row's subject.
    static let subject = "aria.outbox.events"

    /// One event the marker stands for.
    struct Reference: Codable, Sendable {
        /// The run.
        var r: String
        /// The event's seq.
        var s: Int64
        /// Its headers, if any.
        var h: [OutboxMessage.Header]?
    }
}

/// Collects the events and intents of one state transition, and writes them in the same transaction.
///
/// Events get the run's next gapless `seq`. A run whose `last_seq` the transaction read under the row lock
/// (``lockedRun(_:lastSeq:)``) gets its seqs without asking; for the others they are reserved at flush by
/// bumping `runs.last_seq`, which also locks the run row. Events go both to `run_events` (the permanent log)
/// and to the outbox (for the relay); both inserts are queued to go out with the COMMIT.
public final class StoreTransaction {
    /// The connection the transaction runs on.
    public let connection: PostgresConnection
    /// Which service writes (the outbox sweeper of that service republishes its rows).
    public let origin: String
    let subjects: SubjectResolver
    let now: Date
    /// The breaker settings of the store (nil: breakers off).
    let breakers: CircuitBreakerSettings?
    /// Skills whose breaker let a dispatch through (closed) in this transaction: not read again.
    var closedBreakers = Set<String>()
    /// The skills whose breaker is anything but closed without failures, once read in this transaction
    /// (nil: not read). Every other skill's breaker neither holds a dispatch back nor changes on a success.
    var unsettledBreakers: Set<String>?
    /// Runs locked by this transaction, with their `last_seq` as read under the lock (and as advanced since).
    private var lockedSeqs: [RunID: Int64] = [:]
    /// Locked runs whose new `last_seq` is written at flush.
    private var seqUpdates: [RunID: Int64] = [:]
    /// Steps dispatched by this transaction and not yet written (see ``markDispatched(run:step:phase:)``).
    private var dispatched: [(run: RunID, step: StepID, phase: StepPhase)] = []
    /// Runs this transaction ends, written at flush together with their `last_seq` (one row version each).
    private var runEnds: [RunID: (status: RunStatus, output: String?, error: String?)] = [:]
    private var outbox: [OutboxMessage] = []
    private var eventMessages: [(message: OutboxMessage, run: RunID, seq: Int64)] = []
    private var deferred: [(tenant: TenantID, run: RunID, step: StepID?, attempt: Int?, body: RunEventBody, traceparent: String?)] = []
    private var events: [(tenant: TenantID, run: RunID, seq: Int64, kind: RunEventKind, body: String)] = []

    /// Starts collecting for a transaction on `connection`.
    public init(connection: PostgresConnection, origin: String, subjects: SubjectResolver, now: Date, breakers: CircuitBreakerSettings? = nil) {
        self.connection = connection
        self.origin = origin
        self.subjects = subjects
        self.now = now
        self.breakers = breakers
    }

    /// Notes that this transaction holds `run`'s row lock and read its `last_seq` (or inserted the row with
    /// it): the run's events then get their seqs without a round trip.
    public func lockedRun(_ run: RunID, lastSeq: Int64) {
        // A run read again later in the same transaction still has, in its row, the seq the transaction
        // started from (the new one is written at flush); the events since are counted here.
        lockedSeqs[run] = max(lockedSeqs[run] ?? lastSeq, lastSeq)
    }

    /// The skills of the steps this transaction dispatched.
    var dispatchedSkills = Set<String>()
    /// Whether the breakers were assumed settled instead of read (``assumeSettledBreakers()``).
    var breakersAssumed = false
    /// The skills of results recorded under assumed breakers (``RunStore/finishAttempts(_:catalog:inline:)``
    /// with digests): checked with the dispatched ones (``checkSettledBreakers()``).
    var assumedSkills = Set<String>()

    /// Whether this transaction's step dispatches go out ahead of its COMMIT (a submission's, see
    /// ``DispatchAhead``): they carry ``AriaHeader/ahead`` and are collected in ``aheadMessages`` at flush.
    var dispatchesAhead = false
    /// The step dispatches to publish once the COMMIT is sent (their rows are in the outbox as well).
    private(set) var aheadMessages: [OutboxMessage] = []
    /// Whether ``flush(outboxGrace:)`` ran: ``aheadMessages`` is final.
    private var flushed = false
    /// Whether this transaction may still send a dispatch ahead of its COMMIT: until it is flushed when it
    /// ``dispatchesAhead``, then only if it has ``aheadMessages``.
    var mayDispatchAhead: Bool { dispatchesAhead && (!flushed || !aheadMessages.isEmpty) }
    /// Whether a run's only dispatch of this transaction carries the run's ``RunDigest`` (a submission's new
    /// runs): the run's state after this transaction, from ``runStates``.
    var digestsDispatches = false
    /// The step dispatches queued, by their index in `outbox`, to attach digests to at flush.
    private var dispatchEnvelopes: [(index: Int, envelope: Envelope<StepDispatchBody>)] = []
    /// The largest plan a digest carries, in steps.
    static let digestMaxSteps = 64
    /// The step statuses a digest can describe by status alone (a waiting step's time or a failed step's
    /// error would be lost: such a run gets no digest).
    static let digestStatuses: Set<StepStatus> = [.pending, .dispatched, .skipped]

    /// Queues a step dispatch: like ``enqueue(subject:messageID:envelope:)``, marked when the transaction
    /// dispatches ahead.
    func enqueueDispatch(subject: String, messageID: String, envelope: Envelope<StepDispatchBody>) throws {
        // With digests, the payload is encoded once, at flush, when the run's digest is known.
        var message = OutboxMessage(tenant: envelope.tenant, subject: subject, messageID: messageID,
                                    payload: digestsDispatches ? [] : try Wire.encode(envelope))
        if dispatchesAhead { message.headers.append(OutboxMessage.Header(AriaHeader.ahead, "1")) }
        if digestsDispatches { dispatchEnvelopes.append((outbox.count, envelope)) }
        outbox.append(message)
    }

    /// Attaches to each run's only dispatch its ``RunDigest``: the run as this transaction leaves it (its
    /// final seq, its steps' statuses), when no step has started yet, every step is pending, dispatched or
    /// skipped, and the plan is small.
    private func attachDigests() throws {
        let dispatchCounts = Dictionary(dispatchEnvelopes.map { ($0.envelope.run, 1) }, uniquingKeysWith: +)
        for (index, var envelope) in dispatchEnvelopes {
            if let run = envelope.run, dispatchCounts[run] == 1, let digest = digest(of: run) { envelope.body.run = digest }
            outbox[index].payload = try Wire.encode(envelope)
        }
        dispatchEnvelopes.removeAll()
    }

    /// The digest of `run` as this transaction leaves it, if a digest can describe it (see ``attachDigests()``).
    private func digest(of run: RunID) -> RunDigest? {
        guard let state = runStates[run], let plan = state.plan, plan.steps.count <= Self.digestMaxSteps,
              let lastSeq = lockedSeqs[run], state.outputs.isEmpty,
              state.steps.values.allSatisfy({ $0.attempts == 0 && Self.digestStatuses.contains($0.status) }) else { return nil }
        var steps: [String: StepStatus] = [:]
        for (id, step) in state.steps where step.status != .pending { steps[id.rawValue] = step.status }
        return RunDigest(lastSeq: lastSeq, plan: plan, idempotencyKey: state.idempotencyKey, steps: steps)
    }

    /// Executes pure steps inside this transaction (nil: never; see ``InlineExecution``).
    var inline: InlineExecution?
    /// The dispatches taken for inline execution and not yet executed.
    var inlineDispatches: [InlineDispatch] = []
    /// How many dispatches this transaction took for inline execution.
    private var inlineTaken = 0
    /// With inline execution, the runs as this transaction's last transition of each left them (under their
    /// lock): the next round records its results and advances from these, without reading again.
    var runStates: [RunID: RunStore.RunSnapshot] = [:]

    /// Takes `dispatch` (to `subject`) for inline execution if ``inline`` accepts it and its limit allows:
    /// it is then executed before the COMMIT instead of being sent (true); false: send it.
    func takeInline(_ dispatch: InlineDispatch, subject: String) -> Bool {
        guard let inline, inlineTaken < inline.limit, inline.accepts(dispatch.body.skill, subject) else { return false }
        inlineTaken += 1
        inlineDispatches.append(dispatch)
        return true
    }

    /// Marks a step dispatched (in `phase`). The steps of a batch are written together by one statement, at
    /// flush or by ``writeDispatched()``, which code that reads steps in the same transaction calls first.
    public func markDispatched(run: RunID, step: StepID, phase: StepPhase) {
        dispatched.append((run, step, phase))
    }

    /// Queues the write of the steps marked dispatched so far (but not of steps whose insert is still
    /// queued: they are inserted dispatched).
    public func writeDispatched() {
        let marks = dispatched.filter { !unsentStepInserts.contains(Self.key($0.run, $0.step)) }
        guard !marks.isEmpty else { return }
        connection.queue("""
            UPDATE steps s SET status = 'dispatched', phase = u.p, not_before = NULL, dispatched_at = now()
            FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(r, st, p) WHERE s.run_id = u.r AND s.step_id = u.st
            """, [SQL.array(marks.map(\.run.description)), SQL.array(marks.map(\.step.rawValue)), SQL.array(marks.map(\.phase.rawValue))])
        dispatched.removeAll { !unsentStepInserts.contains(Self.key($0.run, $0.step)) }
    }

    /// Steps whose insert is queued and not yet sent.
    private var unsentStepInserts = Set<String>()
    /// Results of steps whose insert was not sent yet, written by that insert (``foldResult(run:step:_:)``).
    private var foldedResults: [String: FoldedResult] = [:]

    /// A step's result as the insert of its row writes it.
    struct FoldedResult {
        var status: StepStatus
        var output: String?
        var error: String?
        var attempts: Int
        var fencingToken: Int64
        /// Whether the attempt started in this transaction (an optimistic one): `started_at` is its time.
        var startedHere: Bool
    }

    /// Takes the result of a step this transaction inserted and has not sent yet: its insert writes it, so
    /// the row is written once instead of inserted and then updated (a row of this transaction's own would
    /// also have its foreign key checked again by the update). False when the row must be updated.
    func foldResult(run: RunID, step: StepID, _ result: FoldedResult) -> Bool {
        let key = Self.key(run, step)
        guard unsentStepInserts.contains(key) else { return false }
        foldedResults[key] = result
        return true
    }

    private static func key(_ run: RunID, _ step: StepID) -> String { "\(run) \(step.rawValue)" }

    /// Queues the insert of new steps (`pending`). The insert's rows are computed when it is sent: a step
    /// this transaction marks dispatched before then is inserted `dispatched` (its phase and
    /// `dispatched_at` set), and one whose result it records before then (inline execution) is inserted
    /// with that result, which saves updating the rows it just wrote.
    public func insertSteps(_ rows: [(run: RunID, step: StepID, tenant: TenantID, position: Int, skill: String)]) {
        guard !rows.isEmpty else { return }
        for row in rows { unsentStepInserts.insert(Self.key(row.run, row.step)) }
        let insert = ColumnRows("""
            INSERT INTO steps (run_id, step_id, tenant_id, position, skill, status, phase, dispatched_at,
                               output, error, attempts, fencing_token, started_at, finished_at)
            SELECT r, st, t, p, k, coalesce(fs, d, 'pending'), coalesce(ph, 'primary'), CASE WHEN d IS NULL THEN NULL ELSE now() END,
                   o, e, coalesce(n, 0), coalesce(ft, 0), CASE WHEN sh THEN now() END, CASE WHEN fs IS NULL THEN NULL ELSE now() END
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[],
                        $8::text[], $9::jsonb[], $10::jsonb[], $11::int[], $12::bigint[], $13::bool[]) AS u(r, st, t, p, k, d, ph, fs, o, e, n, ft, sh)
            ON CONFLICT DO NOTHING
            """, rowCount: rows.count)
        connection.queue(insert.sql, parameters: { [self] in
                var phases: [String: StepPhase] = [:]
                for mark in dispatched where unsentStepInserts.contains(Self.key(mark.run, mark.step)) { phases[Self.key(mark.run, mark.step)] = mark.phase }
                dispatched.removeAll { phases[Self.key($0.run, $0.step)] != nil }
                let results = rows.map { foldedResults.removeValue(forKey: Self.key($0.run, $0.step)) }
                for row in rows { unsentStepInserts.remove(Self.key(row.run, row.step)) }
                let rowPhases = rows.map { phases[Self.key($0.run, $0.step)] }
                return insert.parameters([
                    .column(rows.map(\.run.description)), .column(rows.map(\.step.rawValue)), .column(rows.map(\.tenant.rawValue)),
                    .column(rows.map { String($0.position) }), .column(rows.map(\.skill)),
                    .column(rowPhases.map { $0 == nil ? nil : "dispatched" }), .column(rowPhases.map { $0?.rawValue }),
                    .column(results.map { $0?.status.rawValue }), .column(results.map { $0?.output }), .column(results.map { $0?.error }),
                    .column(results.map { $0.map { String($0.attempts) } }), .column(results.map { $0.map { String($0.fencingToken) } }),
                    .column(results.map { $0.map { $0.startedHere ? "t" : "f" } }),
                ])
            })
    }

    /// Ends `run` (a terminal status, with its output or error); written when the transaction flushes.
    public func endRun(_ run: RunID, status: RunStatus, output: String? = nil, error: String? = nil) {
        runEnds[run] = (status, output, error)
    }

    /// The status this transaction ended `run` with, if it did (not yet visible in the `runs` row).
    public func endedStatus(of run: RunID) -> RunStatus? {
        runEnds[run]?.status
    }

    /// Records an event with a known seq (the first events of a new run, or 1 for a rejection).
    public func emit(tenant: TenantID, run: RunID, seq: Int64, step: StepID? = nil, attempt: Int? = nil, body: RunEventBody, headers: [OutboxMessage.Header] = [], traceparent: String? = nil) throws {
        let envelope = Envelope(type: .event(body.kind), tenant: tenant, run: run, step: step, attempt: attempt, seq: seq, createdAt: now, traceparent: traceparent, body: body)
        let payload = try Wire.encode(envelope)
        events.append((tenant, run, seq, body.kind, String(decoding: payload, as: UTF8.self)))
        eventMessages.append((OutboxMessage(tenant: tenant, subject: subjects.event(tenant: tenant, run: run, kind: body.kind),
                                            messageID: "\(run):\(seq)", headers: headers, payload: payload), run, seq))
    }

    /// Records one event with the run's next seq. The seqs of all such events are assigned together when
    /// the transaction flushes, in the order the events were emitted.
    public func emitNext(tenant: TenantID, run: RunID, step: StepID? = nil, attempt: Int? = nil, body: RunEventBody, traceparent: String? = nil) throws {
        deferred.append((tenant, run, step, attempt, body, traceparent))
    }

    /// Assigns seqs to the deferred events and records them: from the locked `last_seq` where known (the new
    /// value is queued), else reserved with one statement for all other runs (locked in run-id order).
    private func emitDeferred() throws {
        guard !deferred.isEmpty else { return }
        var counts: [RunID: Int] = [:]
        for event in deferred { counts[event.run, default: 0] += 1 }
        var next: [RunID: Int64] = [:]
        let known = counts.keys.filter { lockedSeqs[$0] != nil }.sorted { $0.description < $1.description }
        if !known.isEmpty {
            for run in known {
                next[run] = lockedSeqs[run]! + 1
                lockedSeqs[run]! += Int64(counts[run]!)
                seqUpdates[run] = lockedSeqs[run]!
            }
        }
        let unknown = counts.keys.filter { lockedSeqs[$0] == nil }.sorted { $0.description < $1.description }
        if !unknown.isEmpty {
            let result = try connection.query("""
                UPDATE runs SET last_seq = last_seq + u.n, updated_at = now()
                FROM (SELECT * FROM unnest($1::uuid[], $2::int[]) AS u(r, n) ORDER BY r) AS u
                WHERE run_id = u.r RETURNING run_id, last_seq
                """, [SQL.array(unknown.map(\.description)), SQL.array(unknown.map { String(counts[$0]!) })])
            for row in result.rows {
                guard let run = RunID(row[0] ?? ""), let last = Int64(row[1] ?? "") else { continue }
                next[run] = last - Int64(counts[run] ?? 0) + 1
                lockedSeqs[run] = last
            }
        }
        let events = deferred
        deferred.removeAll()
        for event in events {
            guard let seq = next[event.run] else { throw AriaError(.notFound, "run \(event.run) does not exist") }
            next[event.run] = seq + 1
            try emit(tenant: event.tenant, run: event.run, seq: seq, step: event.step, attempt: event.attempt, body: event.body, traceparent: event.traceparent)
        }
    }

    /// Runs whose insert is queued and not yet sent (``queueRunInsert(_:runs:parameters:)``).
    private var unsentRunInserts = Set<RunID>()
    /// Runs whose end their insert wrote (still in `runEnds`, so ``endedStatus(of:)`` knows it).
    private var endsWrittenByInsert = Set<RunID>()

    /// A new run's `last_seq` and end (status, output, error) as its insert writes them.
    public struct RunFinal {
        /// The `last_seq` after this transaction's events, if it emitted any after the insert was queued.
        public var lastSeq: Int64?
        /// How this transaction ended the run, if it did.
        public var end: (status: RunStatus, output: String?, error: String?)?
    }

    /// Queues the insert of new runs whose parameters are computed when it is sent, from each run's
    /// ``RunFinal``: a run this transaction also ends (inline execution) is inserted ended, with its last
    /// `last_seq`, instead of being inserted and then updated.
    public func queueRunInsert(_ sql: String, runs: [RunID], parameters: @escaping ([RunFinal]) -> [String?]) {
        unsentRunInserts.formUnion(runs)
        connection.queue(sql, parameters: { [self] in
            let finals = runs.map { run in
                unsentRunInserts.remove(run)
                if runEnds[run] != nil { endsWrittenByInsert.insert(run) }
                return RunFinal(lastSeq: seqUpdates.removeValue(forKey: run), end: runEnds[run])
            }
            return parameters(finals)
        })
    }

    /// Queues one statement for the new `last_seq` of locked runs and the runs this transaction ended
    /// (those whose insert is not sent yet are written by it).
    private func writeRuns() {
        let runs = Set(seqUpdates.keys).union(runEnds.keys.filter { !endsWrittenByInsert.contains($0) })
            .subtracting(unsentRunInserts).sorted { $0.description < $1.description }
        guard !runs.isEmpty else { return }
        let update = ColumnRows("""
            UPDATE runs r SET last_seq = coalesce(u.s, r.last_seq), updated_at = now(),
                status = coalesce(u.st, r.status), output = coalesce(u.o, r.output), error = coalesce(u.e, r.error),
                progressed_at = CASE WHEN u.st IN ('succeeded', 'failed', 'cancelled') THEN now() ELSE r.progressed_at END,
                finished_at = CASE WHEN u.st IS NULL THEN r.finished_at ELSE now() END
            FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::jsonb[], $5::jsonb[]) AS u(r, s, st, o, e)
            WHERE r.run_id = u.r
            """, rowCount: runs.count)
        connection.queue(update.sql, update.parameters([
            .column(runs.map(\.description)), .column(runs.map { seqUpdates[$0].map(String.init) }),
            .column(runs.map { runEnds[$0]?.status.rawValue }), .column(runs.map { runEnds[$0]?.output }),
            .column(runs.map { runEnds[$0]?.error }),
        ]))
        for run in runs {
            seqUpdates[run] = nil
            runEnds[run] = nil
        }
    }

    /// Queues an internal intent (plan this run, start it, dispatch a step, a step finished).
    public func enqueue<Body: Codable & Sendable>(subject: String, messageID: String, envelope: Envelope<Body>) throws {
        outbox.append(OutboxMessage(tenant: envelope.tenant, subject: subject, messageID: messageID, payload: try Wire.encode(envelope)))
    }

    /// Queues the writes of the collected events and outbox rows (they go out with the COMMIT); returns the
    /// outbox messages, whose ids are set once the transaction committed.
    public func flush(outboxGrace: AriaDuration) throws -> OutboxBatch {
        writeDispatched()
        try emitDeferred()
        try attachDigests()
        aheadMessages = outbox.filter { $0.headers.contains { $0.name == AriaHeader.ahead } }
        flushed = true
        writeRuns()
        if !events.isEmpty {
            let insert = ColumnRows("""
                INSERT INTO run_events (tenant_id, run_id, seq, kind, body)
                SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::text[], $5::jsonb[])
                """, rowCount: events.count)
            connection.queue(insert.sql, insert.parameters([
                .column(events.map { $0.tenant.rawValue }), .column(events.map { $0.run.description }),
                .column(events.map { String($0.seq) }), .column(events.map { $0.kind.rawValue }),
                .column(events.map { $0.body }),
            ]))
            events.removeAll()
        }
        // The events' payloads are in `run_events`: per tenant, one marker row stands for all of them.
        var rows = outbox
        var events: [(message: OutboxMessage, marker: String)] = []
        var markers: [TenantID: (messageID: String, references: [EventMarker.Reference])] = [:]
        for (message, run, seq) in eventMessages {
            let reference = EventMarker.Reference(r: run.description, s: seq, h: message.headers.isEmpty ? nil : message.headers)
            // A fresh time-ordered id, from the run ids' generator: Foundation's `UUID()` reads /dev/urandom
            // (three system calls) on Linux, once per transaction here.
            let markerID = markers[message.tenant]?.messageID ?? "events:\(RunID.generate())"
            markers[message.tenant, default: (markerID, [])].references.append(reference)
            events.append((message, markerID))
        }
        for (tenant, marker) in markers.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            rows.append(OutboxMessage(tenant: tenant, subject: EventMarker.subject, messageID: marker.messageID,
                                      payload: try Wire.encode(marker.references)))
        }
        let batch = OutboxBatch(intents: outbox, events: events)
        guard !rows.isEmpty else { return batch }
        let headers = try rows.map { try SQL.json($0.headers) }
        let insert = ColumnRows("""
            INSERT INTO outbox (tenant_id, origin, subject, msg_id, headers, payload, available_at)
            SELECT t, $2, s, m, h, p, now() + make_interval(secs => $7::float8 / 1000)
            FROM unnest($1::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[]) AS u(t, s, m, h, p)
            RETURNING id, msg_id
            """, rowCount: rows.count)
        connection.queue(insert.sql, insert.parameters([
            .column(rows.map { $0.tenant.rawValue }), .scalar(origin), .column(rows.map(\.subject)),
            .column(rows.map(\.messageID)), .column(headers),
            .column(rows.map { String(decoding: $0.payload, as: UTF8.self) }), .scalar(String(outboxGrace.milliseconds)),
        ]), then: batch.assignIDs)
        eventMessages.removeAll()
        outbox.removeAll()
        return batch
    }
}
