import AriaBus
import AriaCore
import AriaPostgres
import AriaRuntime
import AriaStore
import AriaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// A migrated database of its own on the shared test server.
func migratedStore(_ prefix: String, origin: String = "test") async throws -> (RunStore, PostgresPool) {
    let (store, pool, _) = try await migratedStoreAndConfig(prefix, origin: origin)
    return (store, pool)
}

/// ``migratedStore(_:origin:)`` with the database's configuration, for connections of the test's own; with
/// one connection, the pool is one session (whose prepared statements tell which statements ran).
func migratedStoreAndConfig(_ prefix: String, origin: String = "test", maxConnections: Int = 8,
                            breakers: CircuitBreakerSettings? = nil) async throws -> (RunStore, PostgresPool, PostgresConfig) {
    var config = try await TestPostgres.freshDatabase(prefix: prefix)
    config.sessionSettings = RunStore.sessionSettings
    let pool = PostgresPool(config: config, maxConnections: maxConnections, logger: Logger(label: "test"))
    try await Migrator(pool: pool, logger: Logger(label: "test")).migrate()
    let store = RunStore(pool: pool, origin: origin, subjects: Subjects(), outboxGrace: AriaDuration(milliseconds: 3000), breakers: breakers)
    try await store.addTenant(TenantID(trusted: "demo"))
    return (store, pool, config)
}

/// Polls `condition` (a state the test observes, e.g. in Postgres) until it holds; fails after `timeout`.
func eventually(timeout: Duration = .seconds(10), _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out waiting until \(what)")
            return
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

func echoPlan(_ ids: [(String, [String])]) -> Plan {
    Plan(planID: "p", steps: ids.map { id, deps in
        PlanStep(stepID: StepID(trusted: id), skill: "echo", params: ["message": .string(id)], dependsOn: deps.map { StepID(trusted: $0) })
    })
}

func submission(_ plan: Plan, key: String?, ref: String? = nil, hash: String = "h1") throws -> SubmissionInput {
    let job = JobSpec(agent: AgentID(trusted: "demo"), source: .plan(plan))
    return SubmissionInput(tenant: TenantID(trusted: "demo"), idempotencyKey: key, submissionRef: ref, payloadHash: hash,
                           job: job, jobJSON: String(decoding: try Wire.encode(job), as: UTF8.self), deadline: nil, traceparent: nil)
}

func scalar(_ pool: PostgresPool, _ sql: String, _ params: [String?] = []) async throws -> String? {
    try await pool.withConnection { try $0.query(sql, params).rows.first?[0] }
}

@Suite("Migrations")
struct MigrationTests {
    @Test("four aria migrate at once apply each migration exactly once")
    func fourMigrationsAtOnce() async throws {
        let config = try await TestPostgres.freshDatabase(prefix: "migrate4")
        let pools = (0..<4).map { _ in PostgresPool(config: config, maxConnections: 1, logger: Logger(label: "test")) }
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for pool in pools { group.addTask { try await Migrator(pool: pool, logger: Logger(label: "test")).migrate() } }
            var all: [[Int]] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(applied.flatMap { $0 }.sorted() == Migrations.all.map(\.version))
        #expect(try await scalar(pools[0], "SELECT count(*) FROM aria_schema_migrations") == String(Migrations.all.count))
        try await Migrator(pool: pools[0], logger: Logger(label: "test")).checkSchema()
        for pool in pools { await pool.close() }
    }

    @Test("a service refuses a schema that is older or newer than it knows")
    func schemaVersionChecks() async throws {
        let config = try await TestPostgres.freshDatabase(prefix: "schemacheck")
        let pool = PostgresPool(config: config, maxConnections: 1, logger: Logger(label: "test"))
        let migrator = Migrator(pool: pool, logger: Logger(label: "test"))
        await #expect(throws: AriaError.self) { try await migrator.checkSchema() }
        do { try await migrator.checkSchema() } catch let error as AriaError { #expect(error.code == .schemaOutdated) }
        try await migrator.migrate()
        try await migrator.checkSchema()
        _ = try await pool.withConnection { try $0.query("INSERT INTO aria_schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')") }
        do {
            try await migrator.checkSchema()
            Issue.record("a newer schema was accepted")
        } catch let error as AriaError { #expect(error.code == .schemaTooNew) }
        do {
            try await migrator.migrate()
            Issue.record("migrate ran against a newer schema")
        } catch let error as AriaError { #expect(error.code == .schemaTooNew) }
        await pool.close()
    }

    @Test("ANALYZE builds no statistics for stored documents, and keeps those of the columns queries filter on")
    func documentStatistics() async throws {
        let (store, pool) = try await migratedStore("stats")
        for index in 0..<20 {
            _ = try await store.submit([try submission(echoPlan([("a", [])]), key: "k\(index)", hash: "h\(index)")])
        }
        _ = try await pool.withConnection { try $0.query("ANALYZE runs, run_events, outbox") }
        let analyzed = try await pool.withConnection { connection in
            try connection.query("SELECT tablename || '.' || attname FROM pg_stats WHERE tablename IN ('runs', 'run_events', 'outbox')")
                .rows.compactMap { $0[0] }
        }
        #expect(analyzed.contains("runs.status"))
        #expect(analyzed.contains("runs.tenant_id"))
        #expect(analyzed.contains("outbox.available_at"))
        for document in ["runs.job", "runs.plan", "runs.goal", "run_events.body", "outbox.payload", "outbox.headers"] {
            #expect(!analyzed.contains(document), "\(document) has statistics")
        }
        await pool.close()
    }

    @Test("an applied migration that was edited is detected")
    func migrationChecksumMismatch() async throws {
        let config = try await TestPostgres.freshDatabase(prefix: "checksum")
        let pool = PostgresPool(config: config, maxConnections: 1, logger: Logger(label: "test"))
        try await Migrator(pool: pool, logger: Logger(label: "test")).migrate()
        let edited = Migrations.all.map { Migration(version: $0.version, name: $0.name, sql: $0.sql + "\n-- edited") }
        do {
            try await Migrator(pool: pool, logger: Logger(label: "test"), migrations: edited).migrate()
            Issue.record("an edited migration was accepted")
        } catch let error as AriaError { #expect(error.code == .migrationChecksumMismatch) }
        await pool.close()
    }
}

@Suite("Run store")
struct RunStoreTests {
    @Test("one outbox row per tenant stands for a transaction's events; the sweeper republishes them from run_events with their headers")
    func eventMarkers() async throws {
        let (store, pool) = try await migratedStore("marker")
        let sweeping = RunStore(pool: pool, origin: "test", subjects: Subjects(), outboxGrace: AriaDuration(milliseconds: 1))
        let plan = echoPlan([("a", [])])
        let (results, written) = try await sweeping.submit([try submission(plan, key: "k1"), try submission(plan, key: "k2", hash: "h2")])
        let runs = results.compactMap { if case .accepted(let run, _) = $0 { run } else { nil } }
        #expect(runs.count == 2)
        // Two intents (run.start) with rows of their own, four events sharing one marker row.
        #expect(try await scalar(pool, "SELECT count(*) FROM outbox") == "3")
        #expect(try await scalar(pool, "SELECT count(*) FROM outbox WHERE subject = 'aria.outbox.events'") == "1")
        let events = written.filter { $0.subject.contains(".events.") }
        #expect(events.count == 4)
        #expect(Set(events.map(\.id)).count == 1 && events[0].id > 0)
        #expect(Set(written.map(\.id)).count == 3)

        // The writer "crashed" before publishing: its grace is over, the rows are the sweeper's.
        _ = try await scalar(pool, "UPDATE outbox SET available_at = now() - interval '1 second'")
        let claimed = try await sweeping.claimStaleOutbox(limit: 100, retryAfter: AriaDuration(milliseconds: 60_000))
        #expect(claimed.count == 6)
        for run in runs {
            // In seq order, with the payloads written by the transaction and the accepted event's key header.
            let mine = claimed.filter { $0.messageID.hasPrefix(run.description) && $0.subject.contains(".events.") }
            #expect(mine.map(\.messageID) == ["\(run):1", "\(run):2"])
            #expect(mine.map(\.subject) == ["aria.t.demo.events.\(run).accepted", "aria.t.demo.events.\(run).planned"])
            let accepted = try Wire.decode(Envelope<RunEventBody>.self, from: mine[0].payload)
            #expect(accepted.run == run && accepted.seq == 1 && accepted.body.kind == .accepted)
            let original = try #require(written.first { $0.messageID == mine[0].messageID })
            #expect(mine[0].headers == original.headers && !original.headers.isEmpty)
        }
        #expect(claimed.filter { $0.subject == Subjects.scheduleIntake }.count == 2)
        // Claimed rows are not claimed again before `retryAfter`; deleting the marker removes every event.
        #expect(try await sweeping.claimStaleOutbox(limit: 100, retryAfter: AriaDuration(milliseconds: 60_000)).isEmpty)
        try await store.deleteOutbox(ids: [events[0].id])
        #expect(try await scalar(pool, "SELECT count(*) FROM outbox") == "2")
    }

    @Test("same key and payload is the same run; a different payload is a conflict; a redelivered message is recognised")
    func idempotentSubmission() async throws {
        let (store, pool) = try await migratedStore("idem")
        let plan = echoPlan([("a", [])])
        let (first, outbox) = try await store.submit([try submission(plan, key: "k1", ref: "S:1")])
        guard case .accepted(let run, _) = first[0] else { Issue.record("not accepted: \(first)"); return }
        #expect(outbox.map(\.subject).sorted() == [Subjects.scheduleIntake, "aria.t.demo.events.\(run).accepted", "aria.t.demo.events.\(run).planned"].sorted())
        #expect(outbox.allSatisfy { $0.id > 0 })
        let (again, _) = try await store.submit([try submission(plan, key: "k1", ref: "S:2")])
        #expect(again == [.duplicate(run, .accepted)])
        let (redelivered, _) = try await store.submit([try submission(plan, key: nil, ref: "S:1")])
        #expect(redelivered == [.duplicate(run, .accepted)])
        let (conflict, _) = try await store.submit([try submission(plan, key: "k1", ref: "S:3", hash: "other")])
        #expect(conflict == [.conflict(existing: run)])
        #expect(try await scalar(pool, "SELECT count(*) FROM runs") == "1")
        await pool.close()
    }

    @Test("a new submission is sent whole without ON CONFLICT; a duplicate fails that and is recognised the careful way")
    func submissionSentWhole() async throws {
        let (store, pool, _) = try await migratedStoreAndConfig("whole", maxConnections: 1)
        // The session's prepared run inserts: which way each submission took (one connection, so one session).
        func runInserts() async throws -> [String] {
            try await pool.withConnection { connection in
                try connection.query("SELECT statement FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO runs%'").rows.compactMap { $0[0] }
            }.map { $0.contains("ON CONFLICT") ? "careful" : "whole" }.sorted()
        }
        let plan = echoPlan([("a", []), ("b", ["a"])])
        let (first, outbox) = try await store.submit([try submission(plan, key: "k1", ref: "S:1")], catalog: .builtIn)
        guard case .accepted(let run, _) = first[0] else { Issue.record("not accepted: \(first)"); return }
        #expect(try await runInserts() == ["whole"])
        #expect(outbox.contains { $0.subject == Subjects.workIntake(pool: "default") } && outbox.allSatisfy { $0.id > 0 })
        #expect(try await scalar(pool, "SELECT string_agg(step_id || ':' || status || ':' || phase || ':' || (dispatched_at IS NOT NULL), ',' ORDER BY step_id) FROM steps WHERE run_id = $1",
                                 [run.description]) == "a:dispatched:primary:true,b:pending:primary:false")
        // The root step was inserted dispatched: no step row was updated.
        _ = try await scalar(pool, "SELECT pg_stat_force_next_flush()")
        #expect(try await scalar(pool, "SELECT n_tup_ins || ':' || n_tup_upd FROM pg_stat_user_tables WHERE relname = 'steps'") == "2:0")
        let (again, againOutbox) = try await store.submit([try submission(plan, key: "k1", ref: "S:2")], catalog: .builtIn)
        #expect(again == [.duplicate(run, .running)])
        #expect(!againOutbox.contains { $0.subject == Subjects.workIntake(pool: "default") })
        #expect(try await runInserts() == ["careful", "whole"])
        #expect(try await scalar(pool, "SELECT count(*) FROM runs") == "1")
        #expect(try await scalar(pool, "SELECT string_agg(kind, ',' ORDER BY seq) FROM run_events") == "accepted,planned", "the rolled-back attempt left nothing")
        #expect(try await scalar(pool, "SELECT count(*) FROM outbox WHERE subject = $1", [Subjects.workIntake(pool: "default")]) == "1")
        await pool.close()
    }

    @Test("concurrent duplicates from separate pools make one run")
    func concurrentDuplicates() async throws {
        let (store, pool) = try await migratedStore("concurrent")
        let plan = echoPlan([("a", [])])
        let outcomes = try await withThrowingTaskGroup(of: SubmissionOutcome.self) { group in
            for index in 0..<16 {
                group.addTask { try await store.submit([try submission(plan, key: "same", ref: "S:\(index)")]).0[0] }
            }
            var all: [SubmissionOutcome] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        let runs = Set(outcomes.map { outcome -> String in
            switch outcome {
            case .accepted(let run, _), .duplicate(let run, _): return run.description
            case .conflict(let run): return "conflict \(run)"
            }
        })
        #expect(runs.count == 1)
        #expect(outcomes.filter { if case .accepted = $0 { true } else { false } }.count == 1)
        #expect(try await scalar(pool, "SELECT count(*) FROM runs") == "1")
        await pool.close()
    }

    @Test("concurrent schedulers dispatch a join once and complete a run once")
    func joinDispatchedOnce() async throws {
        let (store, pool) = try await migratedStore("join")
        let plan = echoPlan([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])])
        let (outcomes, _) = try await store.submit([try submission(plan, key: nil, ref: "S:1")])
        guard case .accepted(let run, _) = outcomes[0] else { Issue.record("not accepted"); return }
        let tenant = TenantID(trusted: "demo")
        _ = try await store.advance(tenant: tenant, run: run, event: .start, catalog: .builtIn)
        func finish(_ step: String) async throws {
            let (decisions, _) = try await store.beginAttempts([AttemptStart(tenant: tenant, run: run, step: StepID(trusted: step), skill: "echo", traceparent: nil)], worker: "w")
            guard case .startAttempt(let attempt, let token, _) = decisions[0].action else { Issue.record("no attempt for \(step): \(decisions)"); return }
            _ = try await store.finishAttempt(tenant: tenant, run: run, step: StepID(trusted: step), skill: "echo", attempt: attempt, fencingToken: token, outcome: .succeeded, output: ["message": .string(step)], traceparent: nil)
        }
        try await finish("a")
        // Two schedulers see the same completion at once.
        async let first = store.advance(tenant: tenant, run: run, event: .stepFinished(StepID(trusted: "a")), catalog: .builtIn)
        async let second = store.advance(tenant: tenant, run: run, event: .stepFinished(StepID(trusted: "a")), catalog: .builtIn)
        let dispatchedAfterA = (try await first).1.filter { $0.subject == Subjects.workIntake(pool: "default") }.count
            + (try await second).1.filter { $0.subject == Subjects.workIntake(pool: "default") }.count
        #expect(dispatchedAfterA == 2)
        try await finish("b")
        try await finish("c")
        let joins = try await withThrowingTaskGroup(of: [OutboxMessage].self) { group in
            for step in ["b", "c", "b", "c"] {
                group.addTask { try await store.advance(tenant: tenant, run: run, event: .stepFinished(StepID(trusted: step)), catalog: .builtIn).1 }
            }
            var all: [OutboxMessage] = []
            for try await messages in group { all += messages }
            return all
        }
        #expect(joins.filter { $0.subject == Subjects.workIntake(pool: "default") }.count == 1)
        try await finish("d")
        let completions = try await withThrowingTaskGroup(of: [OutboxMessage].self) { group in
            for _ in 0..<3 {
                group.addTask { try await store.advance(tenant: tenant, run: run, event: .stepFinished(StepID(trusted: "d")), catalog: .builtIn).1 }
            }
            var all: [OutboxMessage] = []
            for try await messages in group { all += messages }
            return all
        }
        #expect(completions.filter { $0.subject.hasSuffix(".succeeded") }.count == 1)
        #expect(try await scalar(pool, "SELECT status FROM runs WHERE run_id = $1", [run.description]) == "succeeded")
        // Events are gapless: seq 1...n.
        #expect(try await scalar(pool, "SELECT count(*) = max(seq) AND min(seq) = 1 FROM run_events WHERE run_id = $1", [run.description]) == "t")
        let view = try await store.runView(tenant: tenant, run: run)
        #expect(view?.output == ["d": ["message": "d"]])
        await pool.close()
    }

    @Test("an optimistic attempt (pure skill) is started and recorded in one transaction; a repeat records nothing; the last step ends the run")
    func optimisticAttempt() async throws {
        let (store, pool) = try await migratedStore("optimistic")
        let tenant = TenantID(trusted: "demo")
        let (outcomes, _) = try await store.submit([try submission(echoPlan([("a", [])]), key: nil, ref: "S:1")], catalog: .builtIn)
        guard case .accepted(let run, _) = outcomes[0] else { Issue.record("not accepted"); return }
        #expect(try await scalar(pool, "SELECT status FROM steps WHERE run_id = $1", [run.description]) == "dispatched", "the gateway dispatched the root step")
        let finish = AttemptFinish(tenant: tenant, run: run, step: StepID(trusted: "a"), skill: "echo", attempt: 0, fencingToken: 0,
                                   outcome: .succeeded, output: ["x": 1], traceparent: nil, optimistic: true, worker: "w1")
        let (first, outbox, _) = try await store.finishAttempts([finish], catalog: .builtIn)
        #expect(first == [.record(.succeeded)])
        #expect(outbox.allSatisfy { !$0.subject.hasPrefix("aria.int.") }, "the run ended here: no message to a scheduler")
        let (again, _, _) = try await store.finishAttempts([finish], catalog: .builtIn)  // a redelivery that also ran
        #expect(again == [.alreadyFinished(.succeeded)])
        #expect(try await scalar(pool, "SELECT string_agg(attempt || ':' || status || ':' || worker, ',') FROM step_attempts WHERE run_id = $1", [run.description]) == "1:succeeded:w1")
        #expect(try await scalar(pool, "SELECT status FROM runs WHERE run_id = $1", [run.description]) == "succeeded")
        #expect(try await scalar(pool, "SELECT string_agg(kind, ',' ORDER BY seq) FROM run_events WHERE run_id = $1", [run.description])
                == "accepted,planned,step_started,step_succeeded,succeeded")
        await pool.close()
    }

    @Test("a worker's result advances its run: a diamond's branches leave from the root's result, the join from the last branch's, and the join ends the run")
    func workerAdvancesRun() async throws {
        let (store, pool) = try await migratedStore("advance")
        let tenant = TenantID(trusted: "demo")
        let (outcomes, _) = try await store.submit([try submission(echoPlan([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])]), key: nil, ref: "S:1")],
                                                   catalog: .builtIn)
        guard case .accepted(let run, _) = outcomes[0] else { Issue.record("not accepted"); return }
        func finish(_ step: String) async throws -> (dispatched: [String], toScheduler: Int) {
            let (actions, outbox, _) = try await store.finishAttempts([AttemptFinish(
                tenant: tenant, run: run, step: StepID(trusted: step), skill: "echo", attempt: 0, fencingToken: 0,
                outcome: .succeeded, output: ["from": .string(step)], traceparent: nil, optimistic: true, worker: "w1")], catalog: .builtIn)
            #expect(actions == [.record(.succeeded)])
            let dispatched = try outbox.filter { $0.subject == Subjects.workIntake(pool: "default") }
                .map { try Wire.decode(Envelope<StepDispatchBody>.self, from: $0.payload).step?.rawValue ?? "" }
            return (dispatched.sorted(), outbox.filter { $0.subject == Subjects.scheduleIntake }.count)
        }
        let afterA = try await finish("a")
        #expect(afterA.dispatched == ["b", "c"] && afterA.toScheduler == 0, "the worker dispatched the branches itself")
        let afterB = try await finish("b")
        #expect(afterB.dispatched.isEmpty && afterB.toScheduler == 0, "the join waits for c")
        #expect(try await scalar(pool, "SELECT status FROM steps WHERE run_id = $1 AND step_id = 'd'", [run.description]) == "pending")
        let afterC = try await finish("c")
        #expect(afterC.dispatched == ["d"])
        #expect(try await scalar(pool, "SELECT status FROM runs WHERE run_id = $1", [run.description]) == "running")
        _ = try await finish("d")
        #expect(try await scalar(pool, "SELECT status FROM runs WHERE run_id = $1", [run.description]) == "succeeded")
        let view = try await store.runView(tenant: tenant, run: run)
        #expect(view?.output == ["d": ["from": "d"]])
        #expect(try await scalar(pool, "SELECT count(*) = max(seq) AND min(seq) = 1 FROM run_events WHERE run_id = $1", [run.description]) == "t")
        await pool.close()
    }

    @Test("inline execution: a result's transaction executes the pure steps it dispatches, records them and advances their run again, within its limit")
    func inlineExecution() async throws {
        let (store, pool) = try await migratedStore("inline")
        let tenant = TenantID(trusted: "demo")
        let ownPool = Subjects.workIntake(pool: "default")
        let executed = Mutex<[String]>([])
        func inline(limit: Int, accepts: @escaping @Sendable (String, String) -> Bool) -> InlineExecution {
            InlineExecution(limit: limit, accepts: accepts) { dispatch in
                executed.withLock { $0.append(dispatch.step.rawValue) }
                return AttemptFinish(tenant: dispatch.tenant, run: dispatch.run, step: dispatch.step, skill: dispatch.body.skill, attempt: 0, fencingToken: 0,
                                     outcome: .succeeded, output: ["from": .string(dispatch.step.rawValue), "got": dispatch.body.params],
                                     traceparent: dispatch.traceparent, optimistic: true, worker: "w1")
            }
        }
        func finishRoot(_ run: RunID, _ inline: InlineExecution) async throws -> (actions: [StepExecution.Action], dispatched: [String]) {
            let (actions, outbox, _) = try await store.finishAttempts([AttemptFinish(
                tenant: tenant, run: run, step: StepID(trusted: "a"), skill: "echo", attempt: 0, fencingToken: 0,
                outcome: .succeeded, output: ["from": "a"], traceparent: nil, optimistic: true, worker: "w1")], catalog: .builtIn, inline: inline)
            let dispatched = try outbox.filter { $0.subject == ownPool }.map { try Wire.decode(Envelope<StepDispatchBody>.self, from: $0.payload).step?.rawValue ?? "" }
            return (actions, dispatched.sorted())
        }
        let diamond = [("a", [String]()), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])]
        // d's params come from b's output, which b's inline execution recorded in the same transaction.
        let templated = Plan(planID: "p", steps: [
            PlanStep(stepID: StepID(trusted: "a"), skill: "echo", params: ["message": "a"]),
            PlanStep(stepID: StepID(trusted: "b"), skill: "echo", params: ["x": "{{steps.a.output.from}}"], dependsOn: [StepID(trusted: "a")]),
            PlanStep(stepID: StepID(trusted: "c"), skill: "echo", params: ["message": "c"], dependsOn: [StepID(trusted: "a")]),
            PlanStep(stepID: StepID(trusted: "d"), skill: "echo", params: ["y": "{{steps.b.output.from}}"], dependsOn: [StepID(trusted: "b"), StepID(trusted: "c")]),
        ])
        let (outcomes, _) = try await store.submit([try submission(templated, key: nil, ref: "S:1"),
                                                    try submission(echoPlan(diamond), key: nil, ref: "S:2"),
                                                    try submission(echoPlan(diamond), key: nil, ref: "S:3")], catalog: .builtIn)
        guard case .accepted(let whole, _) = outcomes[0], case .accepted(let limited, _) = outcomes[1], case .accepted(let refused, _) = outcomes[2] else {
            Issue.record("not accepted"); return
        }
        // The root's result: both branches and then the join execute inside its transaction; the run ends there.
        let all = try await finishRoot(whole, inline(limit: 32) { skill, subject in skill == "echo" && subject == ownPool })
        #expect(all.actions == [.record(.succeeded)] && all.dispatched.isEmpty, "nothing went to the bus")
        #expect(executed.withLock { $0 } == ["b", "c", "d"])
        #expect(try await scalar(pool, "SELECT status FROM runs WHERE run_id = $1", [whole.description]) == "succeeded")
        #expect(try await scalar(pool, "SELECT string_agg(step_id || ':' || status || ':' || attempts, ',' ORDER BY step_id) FROM steps WHERE run_id = $1",
                                 [whole.description]) == "a:succeeded:1,b:succeeded:1,c:succeeded:1,d:succeeded:1")
        #expect(try await scalar(pool, "SELECT output->'got'->>'x' FROM steps WHERE run_id = $1 AND step_id = 'b'", [whole.description]) == "a")
        #expect(try await scalar(pool, "SELECT output->'got'->>'y' FROM steps WHERE run_id = $1 AND step_id = 'd'", [whole.description]) == "b",
                "the join's params were rendered from the output an earlier inline execution recorded")
        #expect(try await scalar(pool, "SELECT count(*) = max(seq) AND min(seq) = 1 FROM run_events WHERE run_id = $1", [whole.description]) == "t",
                "the events of all the rounds have gapless seqs")
        #expect(try await scalar(pool, "SELECT count(*) FROM run_events WHERE run_id = $1 AND kind = 'step_succeeded'", [whole.description]) == "4")
        #expect(try await scalar(pool, "SELECT count(*) FROM outbox WHERE subject = $1 AND split_part(msg_id, ':', 1) = $2", [ownPool, whole.description]) == "1",
                "only the root's dispatch (by the submission) was ever in the outbox")
        // A limit of one: one branch executes inline, the other goes to the bus, and the join waits for it.
        executed.withLock { $0.removeAll() }
        let one = try await finishRoot(limited, inline(limit: 1) { _, _ in true })
        #expect(executed.withLock { $0 }.count == 1 && one.dispatched.count == 1)
        #expect(Set(executed.withLock { $0 } + one.dispatched) == ["b", "c"])
        #expect(try await scalar(pool, "SELECT status FROM steps WHERE run_id = $1 AND step_id = 'd'", [limited.description]) == "pending")
        // Not accepted (another pool, another skill): everything goes to the bus.
        executed.withLock { $0.removeAll() }
        let none = try await finishRoot(refused, inline(limit: 32) { _, subject in subject != ownPool })
        #expect(executed.withLock { $0 }.isEmpty && none.dispatched == ["b", "c"])
        await pool.close()
    }

    @Test("inline execution at submission: the pure steps a new run dispatches run in the transaction that records it; others, and those past the limit, are dispatched")
    func inlineExecutionAtSubmission() async throws {
        // One connection: its prepared statements show which statements the transactions used.
        let (store, pool, _) = try await migratedStoreAndConfig("inline_submit", maxConnections: 1)
        let work = Subjects.workIntake(pool: "default")
        let gateway = InlineExecution.pure(pureBuiltInSkills(.builtIn), limit: 32, instance: "gateway-t", logger: Logger(label: "test"))
        func dispatched(_ outbox: [OutboxMessage], _ run: RunID) throws -> [String] {
            try outbox.filter { $0.subject == work && $0.messageID.hasPrefix(run.description) }
                .map { try Wire.decode(Envelope<StepDispatchBody>.self, from: $0.payload).step?.rawValue ?? "" }.sorted()
        }
        // A one-step echo job ends in its submission's transaction.
        let one = Plan(planID: "p", steps: [PlanStep(stepID: StepID(trusted: "e"), skill: "echo", params: ["i": 7])])
        let (first, firstOutbox) = try await store.submit([try submission(one, key: "k-one", ref: "S:1")], catalog: .builtIn, inline: gateway)
        guard case .accepted(let run, let status) = first[0] else { Issue.record("not accepted"); return }
        #expect(status == .succeeded, "the outcome tells how the run ended")
        #expect(try dispatched(firstOutbox, run).isEmpty, "nothing went to the bus")
        #expect(try await scalar(pool, "SELECT status || ':' || (output->'e'->>'i') || ':' || last_seq || ':' || (finished_at IS NOT NULL AND error IS NULL) FROM runs WHERE run_id = $1",
                                 [run.description]) == "succeeded:7:5:true")
        #expect(try await scalar(pool, "SELECT string_agg(kind, ',' ORDER BY seq) FROM run_events WHERE run_id = $1", [run.description])
                == "accepted,planned,step_started,step_succeeded,succeeded")
        #expect(try await scalar(pool, "SELECT count(*) = max(seq) FROM run_events WHERE run_id = $1", [run.description]) == "t")
        #expect(try await scalar(pool, "SELECT body->'body'->>'idempotency_key' FROM run_events WHERE run_id = $1 AND kind = 'succeeded'", [run.description]) == "k-one")
        #expect(try await scalar(pool, "SELECT worker || ':' || status FROM step_attempts WHERE run_id = $1", [run.description]) == "gateway-t:succeeded")
        // The step row was written once, by its insert, with the result.
        #expect(try await scalar(pool, """
            SELECT status || ':' || (output->>'i') || ':' || attempts || ':' || fencing_token || ':' || phase || ':'
                   || (dispatched_at IS NOT NULL AND started_at IS NOT NULL AND finished_at IS NOT NULL AND error IS NULL)
            FROM steps WHERE run_id = $1
            """, [run.description]) == "succeeded:7:1:1:primary:true")
        #expect(try await scalar(pool, "SELECT count(*) FROM outbox WHERE subject = $1", [work]) == "0")
        // A chain whose second step is not pure: the first runs here, the second is dispatched, the third waits.
        let mixed = Plan(planID: "p", steps: [
            PlanStep(stepID: StepID(trusted: "a"), skill: "echo", params: ["m": "a"]),
            PlanStep(stepID: StepID(trusted: "b"), skill: "sleep", params: ["duration": "1ms"], dependsOn: [StepID(trusted: "a")]),
            PlanStep(stepID: StepID(trusted: "c"), skill: "echo", params: ["m": "c"], dependsOn: [StepID(trusted: "b")]),
        ])
        // A failing pure root fails its run here, with the key on the `failed` event.
        let failing = Plan(planID: "p", steps: [PlanStep(stepID: StepID(trusted: "f"), skill: "fail", params: ["message": "no"])])
        let (outcomes, outbox) = try await store.submit([try submission(mixed, key: "k-mixed", ref: "S:2"),
                                                         try submission(failing, key: "k-fail", ref: "S:3")], catalog: .builtIn, inline: gateway)
        guard case .accepted(let mixedRun, let mixedStatus) = outcomes[0], case .accepted(let failedRun, let failedStatus) = outcomes[1] else { Issue.record("not accepted"); return }
        #expect(mixedStatus == .running && failedStatus == .failed)
        #expect(try dispatched(outbox, mixedRun) == ["b"])
        #expect(try await scalar(pool, "SELECT string_agg(step_id || ':' || status, ',' ORDER BY step_id) FROM steps WHERE run_id = $1", [mixedRun.description])
                == "a:succeeded,b:dispatched,c:pending")
        #expect(try await scalar(pool, "SELECT status FROM runs WHERE run_id = $1", [mixedRun.description]) == "running")
        #expect(try await scalar(pool, "SELECT status || ':' || (error->>'code') FROM runs WHERE run_id = $1", [failedRun.description]) == "failed:skill_failed")
        #expect(try await scalar(pool, "SELECT body->'body'->>'idempotency_key' FROM run_events WHERE run_id = $1 AND kind = 'failed'", [failedRun.description]) == "k-fail")
        #expect(try await scalar(pool, "SELECT status || ':' || (error->>'code') || ':' || (output IS NULL) FROM steps WHERE run_id = $1", [failedRun.description])
                == "failed:skill_failed:true")
        // A limit of one: the chain's first step runs here, the next is dispatched.
        let chain = echoPlan([("x", []), ("y", ["x"]), ("z", ["y"])])
        let limited = InlineExecution.pure(pureBuiltInSkills(.builtIn), limit: 1, instance: "gateway-t", logger: Logger(label: "test"))
        let (third, thirdOutbox) = try await store.submit([try submission(chain, key: nil, ref: "S:4")], catalog: .builtIn, inline: limited)
        guard case .accepted(let chainRun, _) = third[0] else { Issue.record("not accepted"); return }
        #expect(try dispatched(thirdOutbox, chainRun) == ["y"])
        #expect(try await scalar(pool, "SELECT string_agg(step_id || ':' || status, ',' ORDER BY step_id) FROM steps WHERE run_id = $1", [chainRun.description])
                == "x:succeeded,y:dispatched,z:pending")
        #expect(try await scalar(pool, "SELECT last_seq || ':' || (finished_at IS NULL) FROM runs WHERE run_id = $1", [mixedRun.description]) == "4:true")
        #expect(try await scalar(pool, "SELECT last_seq || ':' || (finished_at IS NOT NULL) FROM runs WHERE run_id = $1", [failedRun.description]) == "5:true")
        // No result, `last_seq` or end was written by updating a row these transactions had just inserted.
        #expect(try await scalar(pool, "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%UPDATE steps s SET status = u.' || 'status%'") == "0")
        #expect(try await scalar(pool, "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%UPDATE runs r SET last_seq = ' || 'coalesce%'") == "0")
        // Off (no inline execution): the root is dispatched as before.
        let (fourth, fourthOutbox) = try await store.submit([try submission(one, key: nil, ref: "S:5")], catalog: .builtIn)
        guard case .accepted(let plainRun, let plainStatus) = fourth[0] else { Issue.record("not accepted"); return }
        #expect(plainStatus == .running, "started here, its root dispatched")
        #expect(try dispatched(fourthOutbox, plainRun) == ["e"])
        await pool.close()
    }

    @Test("a submission takes its runs' creation locks only when a dispatch goes ahead of its COMMIT")
    func creationLockOnlyWhenADispatchGoesAhead() async throws {
        // One connection: its prepared statements show which statements the transactions used.
        let (store, pool, _) = try await migratedStoreAndConfig("creation_lock", maxConnections: 1)
        let gateway = InlineExecution.pure(pureBuiltInSkills(.builtIn), limit: 32, instance: "gateway-t", logger: Logger(label: "test"))
        let ahead = DispatchAhead(maxSubmissions: 8) { _ in }
        let locks = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT pg_advisory_xact' || '_lock(%'"
        // A one-step echo job: executed inline, nothing goes ahead, so no creation lock is taken.
        let echo = Plan(planID: "p", steps: [PlanStep(stepID: StepID(trusted: "e"), skill: "echo", params: ["i": 1])])
        let (recorded, _) = try await store.submit([try submission(echo, key: "k-echo", ref: "S:1")], catalog: .builtIn, ahead: ahead, inline: gateway)
        guard case .accepted(_, .succeeded) = recorded[0] else { Issue.record("not recorded and ended: \(recorded)"); return }
        #expect(try await scalar(pool, locks) == "0", "no dispatch went ahead: no creation lock")
        // A step only a worker runs goes ahead of the COMMIT: the creation lock is taken.
        let sleep = Plan(planID: "p", steps: [PlanStep(stepID: StepID(trusted: "s"), skill: "sleep", params: ["duration": 0])])
        let (slept, _) = try await store.submit([try submission(sleep, key: "k-sleep", ref: "S:2")], catalog: .builtIn, ahead: ahead, inline: gateway)
        guard case .accepted(_, .running) = slept[0] else { Issue.record("not started: \(slept)"); return }
        #expect(try await scalar(pool, locks) == "1", "a dispatch went ahead: its run's creation lock was taken")
        await pool.close()
    }

    @Test("dispatch ahead: a submission hands its root dispatches over once its COMMIT is sent, marked, while it holds its runs' creation locks; only small transactions do")
    func dispatchAhead() async throws {
        let (store, pool, config) = try await migratedStoreAndConfig("ahead")
        let tenant = TenantID(trusted: "demo")
        // Hold the tenant's row: the submission's run insert (its foreign key check) waits, its transaction stays open.
        let holder = try PostgresConnection.connect(config)
        defer { holder.close() }
        try holder.execute("BEGIN")
        try holder.query("SELECT 1 FROM tenants WHERE tenant_id = 'demo' FOR UPDATE")
        let watcher = try PostgresConnection.connect(config)
        defer { watcher.close() }
        let handedOver = Mutex<[OutboxMessage]>([])
        let lockHeld = Mutex<[Bool]>([])
        let ahead = DispatchAhead(maxSubmissions: 2) { messages in
            handedOver.withLock { $0 += messages }
            for message in messages {
                guard let run = (try? Wire.decode(Envelope<StepDispatchBody>.self, from: message.payload))?.run else { continue }
                // The transaction is open (waiting for the tenant's row) and holds the run's creation lock.
                var held = false
                for _ in 0..<2_000 where !held {
                    held = (try? watcher.query("""
                        SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND mode = 'ExclusiveLock'
                            AND ((classid::bigint << 32) | objid::bigint) = $1
                        """, [String(run.creationLockKey)]).rows.first?[0]) == "1"
                    if !held { usleep(5_000) }
                }
                lockHeld.withLock { $0.append(held) }
            }
            _ = try? holder.execute("COMMIT")
        }
        let (outcomes, outbox) = try await store.submit([try submission(echoPlan([("a", []), ("b", [])]), key: nil, ref: "S:1")], catalog: .builtIn, ahead: ahead)
        guard case .accepted(let run, _) = outcomes.first else { Issue.record("not accepted"); return }
        let sent = handedOver.withLock { $0 }
        #expect(sent.count == 2, "both root steps' dispatches went ahead")
        #expect(lockHeld.withLock { $0 } == [true, true])
        #expect(sent.allSatisfy { $0.headers.contains(OutboxMessage.Header(AriaHeader.ahead, "1")) })
        #expect(Set(sent.map(\.messageID)).isSubset(of: Set(outbox.map(\.messageID))), "they are published after the commit as well, and their rows deleted as usual")
        #expect(try await scalar(pool, "SELECT count(*) FROM outbox WHERE headers @> '[{\"name\": \"Aria-Ahead\"}]' AND split_part(msg_id, ':', 1) = $1", [run.description]) == "2")
        // A worker's read of an ahead dispatch waits for the creating transaction, then finds the run.
        let creator = try PostgresConnection.connect(config)
        defer { creator.close() }
        let (second, _) = try await store.submit([try submission(echoPlan([("a", [])]), key: nil, ref: "S:2")], catalog: .builtIn)
        guard case .accepted(let waited, _) = second.first else { Issue.record("not accepted"); return }
        try creator.execute("BEGIN")
        try creator.query("SELECT pg_advisory_xact_lock($1)", [String(waited.creationLockKey)])
        let finishing = Task {
            try await store.finishAttempts([AttemptFinish(tenant: tenant, run: waited, step: StepID(trusted: "a"), skill: "echo", attempt: 0, fencingToken: 0,
                                                          outcome: .succeeded, output: ["message": "a"], traceparent: nil, optimistic: true, worker: "w1", ahead: true)],
                                           catalog: .builtIn).0
        }
        try await eventually("the result's transaction waits for the creation lock") {
            try await scalar(pool, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'") == "1"
        }
        #expect(try await scalar(pool, "SELECT status FROM steps WHERE run_id = $1", [waited.description]) == "dispatched", "nothing recorded while it waits")
        try creator.execute("COMMIT")
        #expect(try await finishing.value == [.record(.succeeded)])
        #expect(try await scalar(pool, "SELECT status FROM runs WHERE run_id = $1", [waited.description]) == "succeeded")
        // A dispatch ahead of a transaction that never committed finds no step, at the start and at the result.
        let ghost = RunID.generate(now: Date())
        let (ghostFinish, _, _) = try await store.finishAttempts([AttemptFinish(tenant: tenant, run: ghost, step: StepID(trusted: "a"), skill: "echo", attempt: 0, fencingToken: 0,
                                                                                outcome: .succeeded, output: [:], traceparent: nil, optimistic: true, worker: "w1", ahead: true)], catalog: .builtIn)
        #expect(ghostFinish == [.unknownStep])
        let (ghostStart, _) = try await store.beginAttempts([AttemptStart(tenant: tenant, run: ghost, step: StepID(trusted: "a"), skill: "http_call", traceparent: nil, ahead: true)], worker: "w1")
        #expect(ghostStart.map(\.action) == [.unknownStep])
        // A transaction of more submissions than the setting allows keeps its dispatches for after the commit.
        handedOver.withLock { $0.removeAll() }
        let (many, manyOutbox) = try await store.submit((3...5).map { try submission(echoPlan([("a", [])]), key: nil, ref: "S:\($0)") }, catalog: .builtIn, ahead: ahead)
        #expect(many.count == 3 && handedOver.withLock { $0 }.isEmpty)
        #expect(!manyOutbox.contains { $0.headers.contains { $0.name == AriaHeader.ahead } })
        await pool.close()
    }

    @Test("digests: a new run's single root dispatch describes the run; its pure result is recorded without reading the run, and a stale digest falls back to reading it")
    func runDigests() async throws {
        // One connection, so one session: its prepared statements tell whether the run was read.
        let (store, pool, _) = try await migratedStoreAndConfig("digest", maxConnections: 1,
                                                                 breakers: CircuitBreakerSettings(failureThreshold: 3, cooldown: .seconds(30)))
        let tenant = TenantID(trusted: "demo")
        func runReads() async throws -> Int {
            try await pool.withConnection { connection in
                try connection.query("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT run_id::text AS run_id, tenant_id, status, plan%'").rows.first?[0]
            }.flatMap { Int($0) } ?? -1
        }
        func dispatches(_ outbox: [OutboxMessage]) throws -> [Envelope<StepDispatchBody>] {
            try outbox.filter { $0.subject == Subjects.workIntake(pool: "default") }.map { try Wire.decode(Envelope<StepDispatchBody>.self, from: $0.payload) }
        }
        // A chain a -> b: a is the single root; the digest is the run as the submission left it.
        let chain = echoPlan([("a", []), ("b", ["a"])])
        let (outcomes, outbox) = try await store.submit([try submission(chain, key: "k1", ref: "S:1")], catalog: .builtIn)
        guard case .accepted(let run, _) = outcomes.first, let root = try dispatches(outbox).first else { Issue.record("no dispatch"); return }
        let digest = try #require(root.body.run)
        #expect(digest.plan == chain && digest.steps == ["a": .dispatched] && digest.idempotencyKey == "k1")
        #expect(try await scalar(pool, "SELECT last_seq FROM runs WHERE run_id = $1", [run.description]) == String(digest.lastSeq))
        // Two roots: two dispatches of one run, so neither carries a digest (the second result would find it stale).
        let (twoRoots, twoOutbox) = try await store.submit([try submission(echoPlan([("a", []), ("b", [])]), key: nil, ref: "S:2")], catalog: .builtIn)
        let twoDispatches = try dispatches(twoOutbox)
        #expect(twoRoots.count == 1 && twoDispatches.count == 2 && twoDispatches.allSatisfy { $0.body.run == nil })
        // The root's result with the digest: recorded and advanced (b dispatched) without reading the run.
        let reads = try await runReads()
        let (actions, next, _) = try await store.finishAttempts([AttemptFinish(
            tenant: tenant, run: run, step: StepID(trusted: "a"), skill: "echo", attempt: 0, fencingToken: 0, outcome: .succeeded,
            output: ["message": "a"], traceparent: nil, optimistic: true, worker: "w1", assumed: digest)], catalog: .builtIn)
        #expect(actions == [.record(.succeeded)])
        #expect(try await runReads() == reads, "the run was not read")
        let nextDispatches = try dispatches(next)
        #expect(nextDispatches.map { $0.step?.rawValue } == ["b"])
        #expect(nextDispatches.first?.body.run == nil, "only a submission's dispatches carry digests")
        #expect(try await scalar(pool, "SELECT string_agg(kind || ':' || seq, ',' ORDER BY seq) FROM run_events WHERE run_id = $1", [run.description])
                == "accepted:1,planned:2,step_started:3,step_succeeded:4")
        #expect(try await scalar(pool, "SELECT last_seq FROM runs WHERE run_id = $1", [run.description]) == "4")
        #expect(try await scalar(pool, "SELECT worker || ':' || status FROM step_attempts WHERE run_id = $1", [run.description]) == "w1:succeeded")
        // A stale digest (the run moved on since): the transaction's check fails and the result is recorded the careful way.
        let (staleOutcomes, staleOutbox) = try await store.submit([try submission(echoPlan([("a", [])]), key: "k3", ref: "S:3")], catalog: .builtIn)
        guard case .accepted(let staleRun, _) = staleOutcomes.first, var stale = try dispatches(staleOutbox).first?.body.run else { Issue.record("no digest"); return }
        stale.lastSeq -= 1
        let (staleActions, _, _) = try await store.finishAttempts([AttemptFinish(
            tenant: tenant, run: staleRun, step: StepID(trusted: "a"), skill: "echo", attempt: 0, fencingToken: 0, outcome: .succeeded,
            output: ["message": "a"], traceparent: nil, optimistic: true, worker: "w1", assumed: stale)], catalog: .builtIn)
        #expect(staleActions == [.record(.succeeded)])
        #expect(try await runReads() == reads + 1, "the run was read after the check failed")
        #expect(try await scalar(pool, "SELECT status || ':' || last_seq FROM runs WHERE run_id = $1", [staleRun.description]) == "succeeded:5")
        #expect(try await scalar(pool, "SELECT count(*) FROM run_events WHERE run_id = $1 AND kind = 'step_succeeded'", [staleRun.description]) == "1")
        // An unsettled breaker fails the assumption too: the result is still recorded, and feeds the breaker.
        let (third, thirdOutbox) = try await store.submit([try submission(echoPlan([("a", [])]), key: "k4", ref: "S:4")], catalog: .builtIn)
        guard case .accepted(let thirdRun, _) = third.first, let thirdDigest = try dispatches(thirdOutbox).first?.body.run else { Issue.record("no digest"); return }
        _ = try await pool.withConnection { try $0.query("INSERT INTO skill_breakers (skill, state, consecutive_failures) VALUES ('echo', 'closed', 2)") }
        let (thirdActions, _, _) = try await store.finishAttempts([AttemptFinish(
            tenant: tenant, run: thirdRun, step: StepID(trusted: "a"), skill: "echo", attempt: 0, fencingToken: 0, outcome: .succeeded,
            output: ["message": "a"], traceparent: nil, optimistic: true, worker: "w1", assumed: thirdDigest)], catalog: .builtIn)
        #expect(thirdActions == [.record(.succeeded)])
        #expect(try await scalar(pool, "SELECT consecutive_failures FROM skill_breakers WHERE skill = 'echo'") == "0", "the success reset the breaker's failures")
        // A root held back by an open breaker waits until a time a digest cannot carry: no digest for its run.
        _ = try await pool.withConnection { try $0.query("INSERT INTO skill_breakers (skill, state, consecutive_failures, opened_at) VALUES ('fail', 'open', 3, now())") }
        let heldPlan = Plan(planID: "p", steps: [PlanStep(stepID: StepID(trusted: "a"), skill: "echo", params: ["message": "a"]),
                                                 PlanStep(stepID: StepID(trusted: "b"), skill: "fail", params: ["message": "b"])])
        let (held, heldOutbox) = try await store.submit([try submission(heldPlan, key: "k5", ref: "S:5")], catalog: .builtIn)
        guard case .accepted(let heldRun, _) = held.first else { Issue.record("not accepted"); return }
        #expect(try await scalar(pool, "SELECT string_agg(step_id || ':' || status, ',' ORDER BY step_id) FROM steps WHERE run_id = $1", [heldRun.description])
                == "a:dispatched,b:waiting")
        let heldDispatches = try dispatches(heldOutbox)
        #expect(heldDispatches.count == 1 && heldDispatches.first?.body.run == nil)
        await pool.close()
    }

    @Test("one batch with results of two runs, two of them one run's branches: each run advances once, the join is dispatched once")
    func batchAdvancesEachRunOnce() async throws {
        let (store, pool) = try await migratedStore("batchadvance")
        let tenant = TenantID(trusted: "demo")
        let (outcomes, _) = try await store.submit([try submission(echoPlan([("a", [])]), key: nil, ref: "S:1"),
                                                    try submission(echoPlan([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])]), key: nil, ref: "S:2")],
                                                   catalog: .builtIn)
        guard case .accepted(let single, _) = outcomes[0], case .accepted(let diamond, _) = outcomes[1] else { Issue.record("not accepted"); return }
        func finish(_ run: RunID, _ step: String) -> AttemptFinish {
            AttemptFinish(tenant: tenant, run: run, step: StepID(trusted: step), skill: "echo", attempt: 0, fencingToken: 0, outcome: .succeeded,
                          output: ["step": .string(step)], traceparent: nil, optimistic: true, worker: "w1")
        }
        _ = try await store.finishAttempts([finish(diamond, "a")], catalog: .builtIn)
        let (actions, outbox, _) = try await store.finishAttempts([finish(diamond, "c"), finish(single, "a"), finish(diamond, "b")], catalog: .builtIn)
        #expect(actions == [.record(.succeeded), .record(.succeeded), .record(.succeeded)])
        #expect(try await scalar(pool, "SELECT status FROM runs WHERE run_id = $1", [single.description]) == "succeeded")
        let dispatches = try outbox.filter { $0.subject == Subjects.workIntake(pool: "default") }.map { try Wire.decode(Envelope<StepDispatchBody>.self, from: $0.payload) }
        #expect(dispatches.map { "\($0.run!) \($0.step!)" } == ["\(diamond) d"])
        #expect(try await scalar(pool, "SELECT status FROM steps WHERE run_id = $1 AND step_id = 'd'", [diamond.description]) == "dispatched")
        #expect(!outbox.contains { $0.subject == Subjects.scheduleIntake })
        for run in [single, diamond] {
            #expect(try await scalar(pool, "SELECT count(*) = max(seq) AND min(seq) = 1 FROM run_events WHERE run_id = $1", [run.description]) == "t")
        }
        // The same result again: the attempt is already finished and nothing is dispatched twice.
        let (again, againOutbox, _) = try await store.finishAttempts([finish(diamond, "b")], catalog: .builtIn)
        #expect(again == [.alreadyFinished(.succeeded)])
        #expect(!againOutbox.contains { $0.subject == Subjects.workIntake(pool: "default") })
        await pool.close()
    }

    @Test("a failed result that aborts its run cancels the running sibling in the worker's transaction, with a cancel notice")
    func workerAbortCancelsSibling() async throws {
        let (store, pool) = try await migratedStore("abort")
        let tenant = TenantID(trusted: "demo")
        let (outcomes, _) = try await store.submit([try submission(echoPlan([("a", []), ("b", [])]), key: nil, ref: "S:1")], catalog: .builtIn)
        guard case .accepted(let run, _) = outcomes[0] else { Issue.record("not accepted"); return }
        let (started, _) = try await store.beginAttempts([AttemptStart(tenant: tenant, run: run, step: StepID(trusted: "b"), skill: "echo", traceparent: nil)], worker: "w2")
        #expect(started.map(\.action) == [.startAttempt(number: 1, fencingToken: 1, superseding: nil)])
        let boom = AriaError(.skillFailed, "boom")
        let (actions, _, scheduling) = try await store.finishAttempts([AttemptFinish(
            tenant: tenant, run: run, step: StepID(trusted: "a"), skill: "echo", attempt: 0, fencingToken: 0,
            outcome: .failed(boom), output: nil, traceparent: nil, optimistic: true, worker: "w1")], catalog: .builtIn)
        #expect(actions == [.record(.failed(boom))])
        #expect(scheduling.flatMap(\.cancelNotices).map(\.step) == [StepID(trusted: "b")])
        #expect(try await scalar(pool, "SELECT status FROM runs WHERE run_id = $1", [run.description]) == "failed")
        #expect(try await scalar(pool, "SELECT status FROM steps WHERE run_id = $1 AND step_id = 'b'", [run.description]) == "cancelled")
        await pool.close()
    }

    @Test("a late result from a superseded attempt is rejected by its fencing token")
    func staleAttemptRejected() async throws {
        let (store, pool) = try await migratedStore("fence")
        let tenant = TenantID(trusted: "demo")
        let (outcomes, _) = try await store.submit([try submission(echoPlan([("a", [])]), key: nil, ref: "S:1")])
        guard case .accepted(let run, _) = outcomes[0] else { return }
        _ = try await store.advance(tenant: tenant, run: run, event: .start, catalog: .builtIn)
        let start = AttemptStart(tenant: tenant, run: run, step: StepID(trusted: "a"), skill: "echo", traceparent: nil)
        let (first, _) = try await store.beginAttempts([start], worker: "w1")
        let (second, _) = try await store.beginAttempts([start], worker: "w2")  // redelivery: w1 presumed dead
        #expect(first.map(\.action) == [.startAttempt(number: 1, fencingToken: 1, superseding: nil)])
        #expect(second.map(\.action) == [.startAttempt(number: 2, fencingToken: 2, superseding: 1)])
        let (late, lateOutbox) = try await store.finishAttempt(tenant: tenant, run: run, step: StepID(trusted: "a"), skill: "echo", attempt: 1, fencingToken: 1, outcome: .succeeded, output: ["x": 1], traceparent: nil)
        #expect(late == .rejectStale(expected: 2, got: 1))
        #expect(lateOutbox.isEmpty)
        let (current, _) = try await store.finishAttempt(tenant: tenant, run: run, step: StepID(trusted: "a"), skill: "echo", attempt: 2, fencingToken: 2, outcome: .succeeded, output: ["x": 2], traceparent: nil)
        #expect(current == .record(.succeeded))
        #expect(try await scalar(pool, "SELECT string_agg(attempt || ':' || status || ':' || worker, ',' ORDER BY attempt) FROM step_attempts WHERE run_id = $1", [run.description]) == "1:superseded:w1,2:succeeded:w2")
        await pool.close()
    }
}
