import AriaPostgres
import AriaTestSupport
import Synchronization
import Testing

/// `whenCommitted`: an action that runs on the connection's thread once its transaction committed.
@Suite struct PostgresCommittedTests {
    /// Which actions ran, in order.
    final class Seen: Sendable {
        let runs = Mutex<[String]>([])
    }

    @Test func runsAfterTheCommitAndNeverForATransactionThatDidNotCommit() async throws {
        let pool = try await makePool("committed", maxConnections: 2)
        try await pool.withConnection { try $0.execute("CREATE TABLE notes (body text)") }
        let seen = Seen()
        // Committed: the action runs once.
        try await pool.transaction { connection in
            connection.whenCommitted { seen.runs.withLock { $0.append("committed") } }
            connection.queue("INSERT INTO notes VALUES ('kept')")
        }
        #expect(seen.runs.withLock { $0 } == ["committed"])
        // The body throws: rolled back, the action never runs.
        struct Abandon: Error {}
        await #expect(throws: Abandon.self) {
            try await pool.transaction { connection in
                connection.whenCommitted { seen.runs.withLock { $0.append("thrown") } }
                connection.queue("INSERT INTO notes VALUES ('dropped')")
                throw Abandon()
            }
        }
        // A queued write fails with the COMMIT: the server rolls back, the action never runs.
        await #expect(throws: PostgresError.self) {
            try await pool.transaction(maxAttempts: 1) { connection in
                connection.whenCommitted { seen.runs.withLock { $0.append("failed") } }
                connection.queue("INSERT INTO no_such_table VALUES (1)")
            }
        }
        // A later transaction on the same connections does not inherit a dropped action.
        try await pool.transaction { connection in connection.queue("INSERT INTO notes VALUES ('again')") }
        #expect(seen.runs.withLock { $0 } == ["committed"])
        #expect(try await pool.withConnection { try $0.query("SELECT string_agg(body, ',' ORDER BY body) FROM notes").rows.first?[0] } == "again,kept")
        await pool.close()
    }
}
