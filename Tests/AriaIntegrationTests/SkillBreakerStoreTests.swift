import AriaBus
import AriaCore
import AriaPostgres
import AriaStore
import AriaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)
private let settings = CircuitBreakerSettings(failureThreshold: 3, cooldown: .seconds(30))
private let timeout = AriaError(.stepTimeout, "timed out", category: .transient)

/// Runs one breaker call in a transaction of its own.
private func outcome(_ pool: PostgresPool, _ skill: String, _ error: AriaError?, at now: Date) async throws -> CircuitBreaker {
    try await pool.transaction { try RunStore.recordSkillOutcome(connection: $0, skill: skill, error: error, now: now, settings: settings) }
}

private func gate(_ pool: PostgresPool, _ skill: String, at now: Date) async throws -> BreakerGate {
    try await pool.transaction { try RunStore.breakerGate(connection: $0, skill: skill, now: now, settings: settings) }
}

/// A migrated database of its own, with its configuration for more pools.
private func breakerDatabase(_ prefix: String) async throws -> (RunStore, PostgresPool, PostgresConfig) {
    let config = try await TestPostgres.freshDatabase(prefix: prefix)
    let pool = PostgresPool(config: config, maxConnections: 4, logger: Logger(label: "test"))
    try await Migrator(pool: pool, logger: Logger(label: "test")).migrate()
    return (RunStore(pool: pool, origin: "test", subjects: Subjects(), outboxGrace: AriaDuration(milliseconds: 3000)), pool, config)
}

/// The row's physical version: changes with every write of the row.
private func rowVersion(_ pool: PostgresPool, _ skill: String) async throws -> String? {
    try await scalar(pool, "SELECT xmin::text || ':' || ctid::text FROM skill_breakers WHERE skill = $1", [skill])
}

@Suite("Skill circuit breakers in Postgres")
struct SkillBreakerStoreTests {
    @Test("a submission sent whole assuming settled breakers is done again the careful way when a dispatched skill's breaker is open")
    func wholeSubmissionChecksBreakers() async throws {
        let (_, pool, _) = try await breakerDatabase("breaker_whole")
        let store = RunStore(pool: pool, origin: "test", subjects: Subjects(), outboxGrace: AriaDuration(milliseconds: 3000), breakers: settings)
        try await store.addTenant(TenantID(trusted: "demo"))
        for _ in 0..<3 { _ = try await outcome(pool, "echo", timeout, at: Date()) }
        #expect(try await scalar(pool, "SELECT state FROM skill_breakers WHERE skill = 'echo'") == "open")
        let (outcomes, outbox) = try await store.submit([try submission(echoPlan([("a", [])]), key: nil, ref: "S:1")], catalog: .builtIn)
        guard case .accepted(let run, _) = outcomes[0] else { Issue.record("not accepted: \(outcomes)"); return }
        #expect(!outbox.contains { $0.subject == Subjects.workIntake(pool: "default") }, "no dispatch while the breaker is open")
        #expect(try await scalar(pool, "SELECT status FROM steps WHERE run_id = $1", [run.description]) == "waiting")
        #expect(try await scalar(pool, "SELECT string_agg(kind, ',' ORDER BY seq) FROM run_events WHERE run_id = $1", [run.description])
                == "accepted,planned,step_retrying")
        #expect(try await scalar(pool, "SELECT count(*) FROM runs") == "1")
        await pool.close()
    }

    @Test("the success path of a closed breaker writes nothing: no row is created, an existing row is not rewritten")
    func successPathDoesNotWrite() async throws {
        let (store, pool) = try await migratedStore("breaker_hot")
        let after = try await outcome(pool, "echo", nil, at: t0)
        #expect(after == .closed)
        #expect(try await scalar(pool, "SELECT count(*) FROM skill_breakers") == "0")
        #expect(try await gate(pool, "echo", at: t0) == .allow)
        #expect(try await scalar(pool, "SELECT count(*) FROM skill_breakers") == "0")
        // Non-counting failures (validation, permission, permanent, budget) do not write either.
        for category in [ErrorCategory.validation, .permission, .permanent, .budget] {
            _ = try await outcome(pool, "echo", AriaError(.skillFailed, "no", category: category), at: t0)
        }
        #expect(try await scalar(pool, "SELECT count(*) FROM skill_breakers") == "0")

        // One failure, then a success resets the row; later successes leave it untouched.
        _ = try await outcome(pool, "echo", timeout, at: t0)
        #expect(try await scalar(pool, "SELECT state || ':' || consecutive_failures FROM skill_breakers WHERE skill = 'echo'") == "closed:1")
        _ = try await outcome(pool, "echo", nil, at: t0 + 1)
        #expect(try await scalar(pool, "SELECT state || ':' || consecutive_failures FROM skill_breakers WHERE skill = 'echo'") == "closed:0")
        let version = try await rowVersion(pool, "echo")
        for second in 2..<6 { _ = try await outcome(pool, "echo", nil, at: t0 + Double(second)) }
        #expect(try await gate(pool, "echo", at: t0 + 7) == .allow)
        #expect(try await rowVersion(pool, "echo") == version)
        #expect(try await store.breakerStates().map(\.skill) == ["echo"])
        await pool.close()
    }

    @Test("counted failures open the breaker; after the cooldown one probe goes; its success closes, its failure reopens")
    func lifecycle() async throws {
        let (store, pool) = try await migratedStore("breaker_cycle")
        _ = try await outcome(pool, "http_call", timeout, at: t0)
        _ = try await outcome(pool, "http_call", AriaError(.invalidParams, "bad", category: .validation), at: t0)
        _ = try await outcome(pool, "http_call", AriaError(.httpFailed, "too big", category: .resource), at: t0)
        #expect(try await gate(pool, "http_call", at: t0) == .allow)
        let opened = try await outcome(pool, "http_call", timeout, at: t0 + 1)
        #expect(opened.state == .open && opened.consecutiveFailures == 3)

        let stored = try #require(try await store.breakerStates().first)
        #expect(stored.skill == "http_call" && stored.breaker.state == .open && stored.breaker.openedAt == t0 + 1)
        #expect(stored.breaker.lastError == timeout && stored.updatedAt == t0 + 1)

        #expect(try await gate(pool, "http_call", at: t0 + 10) == .wait(until: t0 + 31))
        // A straggler's outcome while open changes nothing.
        #expect(try await outcome(pool, "http_call", nil, at: t0 + 11).state == .open)
        #expect(try await gate(pool, "http_call", at: t0 + 31) == .probe)
        let probing = try #require(try await store.breakerStates().first?.breaker)
        #expect(probing.state == .halfOpen && probing.probeAt == t0 + 31)
        #expect(try await gate(pool, "http_call", at: t0 + 32) == .wait(until: t0 + 61))

        // The probe fails: open again for a cooldown.
        #expect(try await outcome(pool, "http_call", timeout, at: t0 + 33).state == .open)
        #expect(try await gate(pool, "http_call", at: t0 + 34) == .wait(until: t0 + 63))
        #expect(try await gate(pool, "http_call", at: t0 + 63) == .probe)
        // A probe lost without an outcome is presumed lost after a cooldown: another probe goes.
        #expect(try await gate(pool, "http_call", at: t0 + 93) == .probe)
        // The probe succeeds: closed, counting from zero.
        let closed = try await outcome(pool, "http_call", nil, at: t0 + 94)
        #expect(closed.state == .closed && closed.consecutiveFailures == 0 && closed.openedAt == nil && closed.probeAt == nil)
        #expect(try await gate(pool, "http_call", at: t0 + 95) == .allow)
        let row = try #require(try await store.breakerStates().first)
        #expect(row.breaker.state == .closed && row.breaker.consecutiveFailures == 0 && row.breaker.openedAt == nil)
        await pool.close()
    }

    @Test("the breaker calls run inside the caller's transaction: a rollback gives the probe back")
    func callerTransactionRollsBack() async throws {
        let (_, pool) = try await migratedStore("breaker_tx")
        for _ in 0..<3 { _ = try await outcome(pool, "sleep", timeout, at: t0) }
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await pool.transaction { connection -> Void in
                #expect(try RunStore.breakerGate(connection: connection, skill: "sleep", now: t0 + 30, settings: settings) == .probe)
                try connection.query("INSERT INTO tenants (tenant_id) VALUES ('rolled-back')")
                throw Abort()
            }
        }
        #expect(try await scalar(pool, "SELECT state FROM skill_breakers WHERE skill = 'sleep'") == "open")
        #expect(try await scalar(pool, "SELECT count(*) FROM tenants WHERE tenant_id = 'rolled-back'") == "0")
        #expect(try await gate(pool, "sleep", at: t0 + 30) == .probe)
        await pool.close()
    }

    @Test("eight schedulers gate a cooled-down breaker at once: exactly one gets the probe")
    func concurrentProbeClaims() async throws {
        let (_, pool, config) = try await breakerDatabase("breaker_race")
        for _ in 0..<3 { _ = try await outcome(pool, "http_call", timeout, at: t0) }
        let pools = (0..<8).map { _ in PostgresPool(config: config, maxConnections: 1, logger: Logger(label: "test")) }
        // Connected beforehand, so that the eight transactions really overlap.
        for racer in pools { _ = try await scalar(racer, "SELECT 1") }
        let answers = try await withThrowingTaskGroup(of: BreakerGate.self) { group in
            for racer in pools { group.addTask { try await gate(racer, "http_call", at: t0 + 40) } }
            var all: [BreakerGate] = []
            for try await answer in group { all.append(answer) }
            return all
        }
        #expect(answers.filter { $0 == BreakerGate.probe }.count == 1)
        #expect(answers.filter { $0 == BreakerGate.wait(until: t0 + 70) }.count == 7)
        for racer in pools { await racer.close() }
        await pool.close()
    }

    @Test("a caller holding the probe's row lock makes a second caller wait for its commit, which then sees the probe taken")
    func probeClaimBlocksSecondCaller() async throws {
        let (_, pool, config) = try await breakerDatabase("breaker_lock")
        for _ in 0..<3 { _ = try await outcome(pool, "echo", timeout, at: t0) }
        let first = PostgresPool(config: config, maxConnections: 1, logger: Logger(label: "test"))
        let second = PostgresPool(config: config, maxConnections: 1, logger: Logger(label: "test"))
        let claimed = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holder = Task {
            try await first.transaction { connection -> BreakerGate in
                let answer = try RunStore.breakerGate(connection: connection, skill: "echo", now: t0 + 30, settings: settings)
                claimed.signal()
                release.wait()
                return answer
            }
        }
        await withCheckedContinuation { continuation in DispatchQueue.global().async { claimed.wait(); continuation.resume() } }
        let waiter = Task { try await gate(second, "echo", at: t0 + 31) }
        // The second caller is blocked on the breaker row's lock.
        let deadline = ContinuousClock.now + .seconds(10)
        while try await scalar(pool, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()") != "1" {
            #expect(ContinuousClock.now < deadline, "the second caller never waited for the lock")
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        release.signal()
        #expect(try await holder.value == BreakerGate.probe)
        #expect(try await waiter.value == BreakerGate.wait(until: t0 + 60))
        await first.close()
        await second.close()
        await pool.close()
    }

    @Test("concurrent failures are all counted (no lost update)")
    func concurrentFailuresCount() async throws {
        let (store, pool) = try await migratedStore("breaker_count")
        let many = CircuitBreakerSettings(failureThreshold: 100, cooldown: .seconds(30))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<16 {
                group.addTask {
                    _ = try await pool.transaction {
                        try RunStore.recordSkillOutcome(connection: $0, skill: "json_transform", error: timeout, now: t0 + Double(index), settings: many)
                    }
                }
            }
            try await group.waitForAll()
        }
        let record = try #require(try await store.breakerStates().first)
        #expect(record.breaker.state == .closed && record.breaker.consecutiveFailures == 16)
        await pool.close()
    }
}
