import AriaPostgres
import AriaTestSupport
import Synchronization
import Testing

/// A value set on a connection's thread and read by the test afterwards.
final class ResultBox: Sendable {
    private let stored = Mutex<String?>(nil)
    /// Stores `value`.
    func set(_ value: String?) { stored.withLock { $0 = value } }
    /// The stored value.
    var value: String? { stored.withLock { $0 } }
}

/// Queued statements and pipelines (libpq pipeline mode) on real connections.
///
/// Expectations live in the test task; closures that run on connection queues only return what they saw.
@Suite struct PostgresPipelineTests {
    /// A queued statement is not sent until a statement needs an answer; then both go, in order.
    @Test func queuedStatementsWaitForTheNextQueryAndRunInOrder() async throws {
        let pool = try await makePool("pipe_order", maxConnections: 2)
        try await pool.withConnection { try $0.execute("CREATE TABLE items (id int PRIMARY KEY, name text)") }
        let (before, rows, after) = try await pool.withConnection { connection in
            connection.queue("INSERT INTO items VALUES ($1, $2)", ["1", "one"])
            connection.queue("UPDATE items SET name = upper(name) WHERE id = $1", ["1"])
            connection.queue("INSERT INTO items VALUES ($1, $2)", ["2", nil])
            let queued = connection.hasQueuedStatements
            let rows = try connection.query("SELECT id, name FROM items ORDER BY id").rows.map { "\($0["id"] ?? "-"):\($0["name"] ?? "NULL")" }
            return (queued, rows, connection.hasQueuedStatements)
        }
        #expect(before)
        #expect(rows == ["1:ONE", "2:NULL"])
        #expect(!after)
        await pool.close()
    }

    /// A statement queued with `parametersIfNeeded` is decided when it would be sent: left out (its handler
    /// not called) when the parameters are nil by then, sent in its place otherwise.
    @Test func aStatementNotNeededWhenSentIsLeftOut() async throws {
        let pool = try await makePool("pipe_if_needed", maxConnections: 1)
        try await pool.withConnection { try $0.execute("CREATE TABLE items (id int PRIMARY KEY, name text)") }
        let handled = ResultBox()
        let rows = try await pool.withConnection { connection in
            let needed = Mutex(false)
            connection.queue("INSERT INTO items VALUES ($1, 'skipped') RETURNING id", parametersIfNeeded: { nil }) { _ in handled.set("skipped") }
            connection.queue("INSERT INTO items VALUES ($1, 'sent') RETURNING id", parametersIfNeeded: { needed.withLock { $0 } ? ["2"] : nil }) { handled.set($0.first?["id"]) }
            connection.queue("INSERT INTO items VALUES ($1, $2)", ["3", "after"])
            // Decided when sent, not when queued.
            needed.withLock { $0 = true }
            return try connection.query("SELECT id, name FROM items ORDER BY id").rows.map { "\($0["id"] ?? "-"):\($0["name"] ?? "NULL")" }
        }
        #expect(rows == ["2:sent", "3:after"])
        #expect(handled.value == "2")
        await pool.close()
    }

    /// Until then, another session sees nothing of them (in autocommit mode, nothing was sent).
    @Test func queuedStatementsAreNotSentEarly() async throws {
        let config = try await TestPostgres.freshDatabase(prefix: "pipe_defer")
        let pool = PostgresPool(config: config, maxConnections: 1, logger: testLogger)
        try await pool.withConnection { try $0.execute("CREATE TABLE items (id int PRIMARY KEY)") }
        let observer = try await onThread { try PostgresConnection.connect(config) }
        let (seenMeanwhile, seenAfter) = try await pool.withConnection { connection in
            connection.queue("INSERT INTO items VALUES (1)")
            let meanwhile = try observer.query("SELECT count(*) AS n FROM items").first?["n"]
            _ = try connection.query("SELECT 1")
            let after = try observer.query("SELECT count(*) AS n FROM items").first?["n"]
            return (meanwhile, after)
        }
        observer.close()
        #expect(seenMeanwhile == "0")
        #expect(seenAfter == "1")
        await pool.close()
    }

    /// `pipeline` returns every statement's result; the first failure is thrown with its SQL, the rest are
    /// skipped, and the connection goes on.
    @Test func pipelineReturnsResultsAndStopsAtTheFirstFailure() async throws {
        let pool = try await makePool("pipe_fail", maxConnections: 1)
        try await pool.withConnection { try $0.execute("CREATE TABLE items (id int PRIMARY KEY)") }
        let results = try await pool.withConnection { connection in
            try connection.pipeline([
                PostgresStatement("INSERT INTO items VALUES ($1)", ["1"]),
                PostgresStatement("SELECT $1::int * 2 AS doubled", ["21"]),
                PostgresStatement("SELECT id FROM items"),
            ])
        }
        #expect(results.map(\.commandTag) == ["INSERT 0 1", "SELECT 1", "SELECT 1"])
        #expect(results[1].first?["doubled"] == "42")
        let failure = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { connection in
                connection.queue("INSERT INTO items VALUES ($1)", ["2"])
                connection.queue("INSERT INTO items VALUES ($1)", ["1"])  // duplicate key
                connection.queue("INSERT INTO items VALUES ($1)", ["3"])
                return try connection.query("SELECT count(*) FROM items").rows.count
            }
        }
        #expect(failure?.sqlState == "23505")
        #expect(failure?.query == "INSERT INTO items VALUES ($1)")
        // Outside a transaction one pipeline is one implicit transaction: 2 was undone, 3 skipped.
        let ids = try await pool.withConnection { try $0.query("SELECT id FROM items ORDER BY id").rows.map { $0["id"] ?? "" } }
        #expect(ids == ["1"])
        await pool.close()
    }

    /// A pipeline far larger than the socket buffers, with big parameters and big results mixed, completes.
    @Test func largePipelinesDoNotDeadlock() async throws {
        let pool = try await makePool("pipe_large", maxConnections: 1)
        let (count, lastRows) = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE blobs (id int PRIMARY KEY, body text)")
            let body = String(repeating: "x", count: 64 * 1024)
            var statements: [PostgresStatement] = []
            for id in 0..<200 {
                statements.append(PostgresStatement("INSERT INTO blobs VALUES ($1, $2)", [String(id), body]))
                statements.append(PostgresStatement("SELECT body FROM blobs WHERE id <= $1", [String(id)]))
            }
            let results = try connection.pipeline(statements)
            return (results.count, results.last?.rows.count ?? 0)
        }
        #expect(count == 400)
        #expect(lastRows == 200)
        await pool.close()
    }

    /// In a pool transaction, BEGIN and the first statement share a round trip and queued writes go with the
    /// COMMIT; a queued write that fails rolls the whole transaction back and is thrown.
    @Test func transactionsSendQueuedWritesWithTheCommit() async throws {
        let pool = try await makePool("pipe_tx", maxConnections: 1)
        try await pool.withConnection { try $0.execute("CREATE TABLE items (id int PRIMARY KEY)") }
        let returned = try await pool.transaction { connection in
            let box = ResultBox()
            connection.queue("INSERT INTO items VALUES (1)")
            connection.queue("INSERT INTO items VALUES (2) RETURNING id * 10 AS tenfold") { box.set($0.first?["tenfold"]) }
            return box
        }
        // The queued statement's result arrived with the COMMIT's round trip.
        #expect(returned.value == "20")
        let failure = await #expect(throws: PostgresError.self) {
            try await pool.transaction { connection in
                connection.queue("INSERT INTO items VALUES (3)")
                connection.queue("INSERT INTO items VALUES (1)")  // duplicate key, found at COMMIT
            }
        }
        #expect(failure?.sqlState == "23505")
        let (ids, healthy) = try await pool.withConnection { connection in
            (try connection.query("SELECT id FROM items ORDER BY id").rows.map { $0["id"] ?? "" }, connection.isHealthy)
        }
        #expect(ids == ["1", "2"])
        #expect(healthy)
        await pool.close()
    }

    /// Statements queued by a body that throws are dropped, not sent by the connection's next user.
    @Test func queuedStatementsOfAFailedBodyAreDropped() async throws {
        struct Abandon: Error {}
        let pool = try await makePool("pipe_drop", maxConnections: 1)
        try await pool.withConnection { try $0.execute("CREATE TABLE items (id int PRIMARY KEY)") }
        await #expect(throws: Abandon.self) {
            try await pool.withConnection { connection in
                connection.queue("INSERT INTO items VALUES (1)")
                throw Abandon()
            }
        }
        let count = try await pool.withConnection { try $0.query("SELECT count(*) AS n FROM items").first?["n"] }
        #expect(count == "0")
        await pool.close()
    }

    /// `whenNextSent` runs once the statements are on the wire, before their answers are awaited: here the
    /// pipeline waits for a lock that only the action releases, so it could not end without it.
    @Test func actionRunsAfterTheStatementsAreSentAndBeforeTheirAnswer() async throws {
        let config = try await TestPostgres.freshDatabase(prefix: "pipe_sent")
        let pool = PostgresPool(config: config, maxConnections: 1, logger: testLogger)
        let holder = try PostgresConnection.connect(config)
        defer { holder.close() }
        try holder.query("SELECT pg_advisory_lock(42)")
        let released = ResultBox()
        let (tag, runs) = try await pool.withConnection { connection -> (String?, Int) in
            let runs = Mutex(0)
            try connection.execute("BEGIN")
            connection.queue("SELECT pg_advisory_xact_lock(42)")
            connection.whenNextSent {
                runs.withLock { $0 += 1 }
                // The pipeline is waiting for this lock on the server now.
                released.set((try? holder.query("SELECT pg_advisory_unlock(42)").rows.first?[0]) ?? nil)
            }
            let tag = try connection.query("SELECT 'sent'").rows.first?[0]
            try connection.execute("COMMIT")
            // Fired once: the COMMIT's round trip did not run it again.
            return (tag, runs.withLock { $0 })
        }
        #expect(released.value == "t")
        #expect(tag == "sent")
        #expect(runs == 1)
        await pool.close()
    }
}
