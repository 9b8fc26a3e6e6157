import AriaPostgres
import AriaTestSupport
import Dispatch
import Testing

/// Pool checkout, transactions, retries, replacement and thread use.
@Suite struct PostgresPoolTests {
    /// Transactions commit, roll back on a thrown error, and refuse to commit a swallowed SQL error.
    @Test func transactionsCommitAndRollBack() async throws {
        let pool = try await makePool("tx")
        try await pool.withConnection { try $0.execute("CREATE TABLE notes (body text)") }

        let committed = try await pool.transaction { connection in
            try connection.query("INSERT INTO notes VALUES ($1)", ["kept"]).affectedRows
        }
        #expect(committed == 1)

        await #expect(throws: ExpectedFailure.self) {
            try await pool.transaction { connection in
                try connection.query("INSERT INTO notes VALUES ($1)", ["dropped"])
                throw ExpectedFailure()
            }
        }

        // An SQL error swallowed by the body must not be committed as if nothing happened.
        let swallowed = await #expect(throws: PostgresError.self) {
            try await pool.transaction { connection in
                try connection.query("INSERT INTO notes VALUES ($1)", ["also dropped"])
                _ = postgresError { try connection.query("SELECT 1/0") }
            }
        }
        #expect(swallowed?.sqlState == "25P02")

        let bodies = try await pool.withConnection { connection in
            try connection.query("SELECT body FROM notes").rows.map { $0["body"] }
        }
        #expect(bodies == ["kept"])
        #expect(pool.statistics.replaced == 0)
        await pool.close()
    }

    /// Two conflicting serializable transactions both end up committed, one after a retry.
    @Test func serializationFailuresAreRetried() async throws {
        let pool = try await makePool("serializable")
        try await pool.withConnection { try $0.execute("CREATE TABLE ledger (v int)") }
        let rendezvous = Rendezvous()
        let attempts = Counters()
        let committed = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]

        // Write skew: both read the sum, then both insert. Serializable isolation must abort one of them.
        // The victim's retry starts once the other party has committed (bounded wait): a retry that began
        // while the winner's COMMIT was still in flight would conflict with it again, and on a loaded
        // machine that can outlast every attempt's backoff.
        @Sendable func appendSum(party: Int) async throws -> Int {
            let attempt = try await pool.transaction(isolation: .serializable) { connection in
                let attempt = attempts.increment(party)
                if attempt == 2 { _ = committed[1 - party].wait(timeout: .now() + .seconds(10)) }
                let sum = Int(try connection.query("SELECT coalesce(sum(v), 0) AS s FROM ledger").first?["s"] ?? "") ?? -1
                if attempt == 1 { rendezvous.arrive(party) }
                try connection.query("INSERT INTO ledger VALUES ($1)", [String(sum + 1)])
                return attempt
            }
            committed[party].signal()
            return attempt
        }
        async let first = appendSum(party: 0)
        async let second = appendSum(party: 1)
        let finalAttempts = try await [first, second]

        #expect(attempts.total >= 3)
        #expect(finalAttempts.max()! >= 2)
        let values = try await pool.withConnection { connection in
            try connection.query("SELECT v FROM ledger ORDER BY v").rows.compactMap { $0["v"] }
        }
        #expect(values == ["1", "2"])
        await pool.close()
    }

    /// The victim of a deadlock is retried and succeeds.
    @Test func deadlocksAreRetried() async throws {
        let pool = try await makePool("deadlock")
        try await pool.withConnection { try $0.execute("CREATE TABLE accounts (id int PRIMARY KEY, n int); INSERT INTO accounts VALUES (1, 0), (2, 0)") }
        let rendezvous = Rendezvous()
        let attempts = Counters()

        @Sendable func touch(party: Int, first: Int, second: Int) async throws {
            try await pool.transaction { connection in
                let attempt = attempts.increment(party)
                try connection.query("UPDATE accounts SET n = n + 1 WHERE id = $1", [String(first)])
                if attempt == 1 { rendezvous.arrive(party) }
                try connection.query("UPDATE accounts SET n = n + 1 WHERE id = $1", [String(second)])
            }
        }
        async let one: Void = touch(party: 0, first: 1, second: 2)
        async let two: Void = touch(party: 1, first: 2, second: 1)
        _ = try await (one, two)

        // At least the victim ran again. Rarely both parties' deadlock checks fire together and both are
        // aborted: then both run again, and the outcome is the same.
        #expect(attempts.total >= 3)
        let counts = try await pool.withConnection { connection in
            try connection.query("SELECT n FROM accounts ORDER BY id").rows.compactMap { $0["n"] }
        }
        #expect(counts == ["2", "2"])
        await pool.close()
    }

    /// A backend terminated while idle is noticed at checkout and replaced.
    @Test func terminatedConnectionsAreReplaced() async throws {
        let pool = try await makePool("replace", maxConnections: 1)
        let killerConfig = try await TestPostgres.freshDatabase(prefix: "killer")
        let killer = PostgresPool(config: killerConfig, maxConnections: 1, logger: testLogger)

        let firstPID = try await pool.withConnection { $0.backendPID }
        // The two-argument form waits until the backend has actually exited.
        let terminated = try await killer.withConnection { connection in
            try connection.query("SELECT pg_terminate_backend($1::int, 10000) AS ok", [String(firstPID)]).first?["ok"]
        }
        #expect(terminated == "t")

        let (value, secondPID) = try await pool.withConnection { connection in
            (try connection.query("SELECT 1 AS one").first?["one"], connection.backendPID)
        }
        #expect(value == "1")
        #expect(secondPID != firstPID)
        #expect(pool.statistics.replaced == 1)
        #expect(pool.statistics.open == 1)
        await killer.close()
        await pool.close()
    }

    /// A connection lost mid-transaction is retried on a fresh connection.
    @Test func transactionsRetryAConnectionLostBeforeCommit() async throws {
        let pool = try await makePool("lost", maxConnections: 1)
        try await pool.withConnection { try $0.execute("CREATE TABLE events (n int)") }
        let attempts = Counters()
        let pids = try await pool.transaction { connection in
            let attempt = attempts.increment(0)
            try connection.query("INSERT INTO events VALUES ($1)", [String(attempt)])
            if attempt == 1 {
                // The backend kills itself mid-transaction: FATAL 57P01, then the socket closes.
                try connection.query("SELECT pg_terminate_backend(pg_backend_pid())")
            }
            return connection.backendPID
        }
        #expect(pids > 0)
        #expect(attempts.total == 2)
        let rows = try await pool.withConnection { connection in
            try connection.query("SELECT n FROM events").rows.compactMap { $0["n"] }
        }
        #expect(rows == ["2"])
        #expect(pool.statistics.replaced == 1)
        await pool.close()
    }

    /// With every connection held, a checkout times out; a waiter gets the next one returned.
    @Test func checkoutTimesOutWhenThePoolIsExhausted() async throws {
        let pool = try await makePool("bounded", maxConnections: 2, checkoutTimeout: .milliseconds(300))
        let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
        let release = DispatchSemaphore(value: 0)

        let holders = (0..<2).map { _ in
            Task {
                try await pool.withConnection { _ in
                    enteredContinuation.yield()
                    _ = release.wait(timeout: .now() + .seconds(30))
                }
            }
        }
        var iterator = entered.makeAsyncIterator()
        _ = await iterator.next()
        _ = await iterator.next()
        #expect(pool.statistics.inUse == 2)
        #expect(pool.statistics.open == 2)

        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { _ in }
        }
        #expect(error?.code == .poolTimeout)
        #expect(ContinuousClock.now - started >= .milliseconds(250))
        #expect(pool.statistics.waiting == 0)

        // A waiting checkout is handed the first connection given back.
        let waiter = Task { try await pool.withConnection { $0.backendPID } }
        try await waitUntil { pool.statistics.waiting > 0 }
        release.signal()
        #expect(try await waiter.value > 0)
        release.signal()
        for holder in holders { try await holder.value }
        #expect(pool.statistics == PostgresPoolStatistics(open: 2, idle: 2, inUse: 0, waiting: 0, replaced: 0))
        await pool.close()
    }

    /// Cancelling a task waiting for a connection ends the wait at once.
    @Test func cancellingAWaitingCheckoutEndsTheWait() async throws {
        let pool = try await makePool("cancel", maxConnections: 1, checkoutTimeout: .seconds(30))
        let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
        let release = DispatchSemaphore(value: 0)
        let holder = Task {
            try await pool.withConnection { _ in
                enteredContinuation.yield()
                _ = release.wait(timeout: .now() + .seconds(30))
            }
        }
        var iterator = entered.makeAsyncIterator()
        _ = await iterator.next()

        let waiter = Task { try await pool.withConnection { _ in } }
        try await waitUntil { pool.statistics.waiting > 0 }
        let started = ContinuousClock.now
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(pool.statistics.waiting == 0)
        release.signal()
        try await holder.value
        await pool.close()
    }

    /// After close, connections are closed and checkouts throw `.poolClosed`.
    @Test func closedPoolsRefuseCheckouts() async throws {
        let pool = try await makePool("closed")
        _ = try await pool.withConnection { try $0.query("SELECT 1") }
        #expect(pool.statistics.open == 1)
        await pool.close()
        #expect(pool.statistics.open == 0)
        let error = await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in } }
        #expect(error?.code == .poolClosed)
    }

    /// Eight blocking queries leave the cooperative pool free to run other tasks on time.
    @Test func blockingQueriesDoNotStarveTheCooperativePool() async throws {
        let pool = try await makePool("starve", maxConnections: 8)
        // Open all eight connections first: connecting is CPU work (SCRAM on both sides, backend start-up)
        // that competes for the two cores; what is measured here is whether blocking calls hold threads.
        let barrier = Barrier(parties: 8)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { try await pool.withConnection { _ in _ = barrier.arrive() } }
            }
            try await group.waitForAll()
        }
        #expect(pool.statistics.open == 8)

        let (worstLateness, elapsed) = try await CooperativeLatency.bestWorstLateness {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        _ = try await pool.withConnection { try $0.query("SELECT pg_sleep(0.5)") }
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(elapsed < .seconds(2), "eight 0.5 s queries on eight connections took \(elapsed)")
        // Starved, a sleep would wake only after a blocking call (~500 ms); see `notStarvedBound`.
        #expect(worstLateness < CooperativeLatency.notStarvedBound, "a 10 ms sleep woke \(worstLateness) late")
        await pool.close()
    }
}
