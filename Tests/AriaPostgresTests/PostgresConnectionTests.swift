import AriaPostgres
import AriaTestSupport
import Testing

/// Statements, results and errors on real connections.
///
/// Expectations live in the test task; closures that run on connection queues only return what they saw.
@Suite struct PostgresConnectionTests {
    /// Parameters go in and text values, NULLs and Unicode come out.
    @Test func returnsTextValuesParametersAndNulls() async throws {
        let pool = try await makePool("values")
        let result = try await pool.withConnection { connection in
            try connection.query("SELECT $1::int + 1 AS n, $2::text AS t, NULL::text AS z, 'é✓'::text AS u", ["41", nil])
        }
        #expect(result.columns == ["n", "t", "z", "u"])
        #expect(result.rows.count == 1)
        #expect(result.affectedRows == 1)
        let row = try #require(result.first)
        #expect(row["n"] == "42")
        #expect(row[0] == "42")
        #expect(row["t"] == nil)
        #expect(row["z"] == nil)
        #expect(row.contains(column: "z"))
        #expect(!row.contains(column: "missing"))
        #expect(row["u"] == "é✓")
        #expect(row[9] == nil)
        await pool.close()
    }

    /// Session settings reach the server at connect, with spaces escaped; the defaults stay unless overridden.
    @Test func sessionSettingsApplyToEveryConnection() async throws {
        var config = try await TestPostgres.freshDatabase(prefix: "session")
        config.sessionSettings = ["plan_cache_mode": "force_generic_plan", "DateStyle": "ISO, DMY"]
        let pool = PostgresPool(config: config, maxConnections: 2, logger: testLogger)
        let seen = try await pool.withConnection { connection in
            try ["plan_cache_mode", "DateStyle", "client_min_messages"].map { try connection.query("SHOW \($0)").rows.first?[0] }
        }
        #expect(seen == ["force_generic_plan", "ISO, DMY", "warning"])
        await pool.close()
    }

    /// affectedRows follows PQcmdTuples, 0 for an ON CONFLICT DO NOTHING hit.
    @Test func reportsAffectedRowsIncludingConflictHits() async throws {
        let pool = try await makePool("affected")
        let upsert = "INSERT INTO items (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        let results = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
            return [
                try connection.query("INSERT INTO items (id, name) VALUES ($1, $2)", ["1", "one"]),
                try connection.query(upsert, ["1", "again"]),
                try connection.query(upsert, ["2", "two"]),
                try connection.query("UPDATE items SET name = upper(name)"),
                try connection.query("SELECT * FROM items ORDER BY id"),
                try connection.query("DELETE FROM items WHERE id = $1", ["99"]),
                try connection.query("CREATE INDEX ON items (name)"),
            ]
        }
        #expect(results.map(\.affectedRows) == [1, 0, 1, 2, 2, 0, 0])
        #expect(results[0].commandTag == "INSERT 0 1")
        #expect(results[1].commandTag == "INSERT 0 0")
        #expect(results[4].rows.map { $0["name"] } == ["ONE", "TWO"])
        await pool.close()
    }

    /// Rejected SQL throws with its SQLSTATE and the connection carries on.
    @Test func sqlErrorsCarrySQLStateAndLeaveTheConnectionUsable() async throws {
        let pool = try await makePool("errors", maxConnections: 1)
        let insert = "INSERT INTO users VALUES ($1)"
        let seen = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE users (email text PRIMARY KEY)")
            try connection.query(insert, ["a@example.com"])
            let pid = connection.backendPID
            let duplicate = postgresError { try connection.query(insert, ["a@example.com"]) }
            let healthyAfterDuplicate = connection.isHealthy
            let syntax = postgresError { try connection.query("SELEC 1") }
            let simpleSyntax = postgresError { try connection.execute("SELECT 1; SELEC 2") }
            let arity = postgresError { try connection.query(insert, []) }
            let count = try connection.query("SELECT count(*) AS n FROM users").first?["n"]
            return (duplicate, healthyAfterDuplicate, syntax, simpleSyntax, arity, count, connection.isHealthy, pid == connection.backendPID)
        }
        let (duplicate, healthyAfterDuplicate, syntax, simpleSyntax, arity, count, healthy, samePID) = seen
        #expect(duplicate?.code == .queryFailed)
        #expect(duplicate?.sqlState == "23505")
        #expect(duplicate?.query == insert)
        #expect(duplicate?.detail?.contains("already exists") == true)
        #expect(duplicate?.isRetryableTransaction == false)
        #expect(duplicate?.isConnectionLoss == false)
        #expect(healthyAfterDuplicate)
        #expect(syntax?.sqlState == "42601")
        #expect(syntax?.code == .queryFailed)
        #expect(simpleSyntax?.sqlState == "42601")
        #expect(arity?.code == .queryFailed)
        #expect(arity?.isConnectionLoss == false)
        #expect(count == "1")
        #expect(healthy)
        #expect(samePID)
        #expect(pool.statistics.replaced == 0)
        await pool.close()
    }

    /// execute runs multi-statement SQL.
    @Test func executeRunsSeveralStatements() async throws {
        let pool = try await makePool("execute")
        let count = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE a (x int); INSERT INTO a VALUES (1); INSERT INTO a VALUES (2);")
            return try connection.query("SELECT count(*) AS n FROM a").first?["n"]
        }
        #expect(count == "2")
        await pool.close()
    }

    /// Cached prepared statements recover from ALTER TABLE and DISCARD ALL.
    @Test func preparedStatementsSurviveSchemaChangesAndDiscard() async throws {
        let pool = try await makePool("prepared", maxConnections: 1)
        let (before, afterAlter, afterDiscard) = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
            let before = try connection.query("SELECT * FROM t").columns
            try connection.execute("ALTER TABLE t ADD COLUMN b text DEFAULT 'x'")
            // The cached plan's result type changed (0A000): prepared again, transparently.
            let afterAlter = try connection.query("SELECT * FROM t").columns
            try connection.execute("DISCARD ALL")
            // The server forgot every prepared statement (26000): prepared again, transparently.
            let afterDiscard = try connection.query("SELECT * FROM t").rows.count
            return (before, afterAlter, afterDiscard)
        }
        #expect(before == ["a"])
        #expect(afterAlter == ["a", "b"])
        #expect(afterDiscard == 1)
        await pool.close()
    }

    /// Past the prepared-statement cache's limit, new statements still run (unprepared), with parameters.
    @Test func statementsBeyondTheCacheLimitStillRun() async throws {
        let pool = try await makePool("cache", maxConnections: 1)
        let values = try await pool.withConnection { connection in
            try (0..<600).map { index in
                try connection.query("SELECT $1::int + \(index) AS n", ["1"]).first?["n"]
            }
        }
        #expect(values == (0..<600).map { String($0 + 1) })
        await pool.close()
    }

    /// A closed connection reports itself unhealthy and throws `.connectionLost`.
    @Test func directConnectionAndClose() async throws {
        let config = try await TestPostgres.freshDatabase(prefix: "direct")
        let (pid, healthyBefore, healthyAfter, error) = try await onThread { () -> (Int32, Bool, Bool, PostgresError?) in
            let connection = try PostgresConnection.connect(config)
            let pid = connection.backendPID
            let healthyBefore = connection.isHealthy
            connection.close()
            connection.close()
            return (pid, healthyBefore, connection.isHealthy, postgresError { try connection.query("SELECT 1") })
        }
        #expect(pid > 0)
        #expect(healthyBefore)
        #expect(!healthyAfter)
        #expect(error?.code == .connectionLost)
    }

    /// A failed login throws `.connectionFailed` without echoing the password.
    @Test func connectFailuresAreTyped() async throws {
        let server = try await TestPostgres.shared()
        var config = try PostgresConfig(url: server.url)
        config.password = "wrong-password"
        let badPassword = config
        let error = try await onThread { postgresError { _ = try PostgresConnection.connect(badPassword) } }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isConnectionLoss == true)
        #expect(error?.message.contains("wrong-password") == false)
    }
}
