import AriaLocalCluster
import AriaPostgres
import AriaTestSupport
import Foundation
import Testing

/// Local Postgres clusters: crash, restart, adoption and shutdown.
@Suite struct PostgresServerTests {
    /// After a crash and restart, committed data is there and the pool reconnects.
    @Test func poolRecoversAfterTheServerIsKilledAndRestarted() async throws {
        let server = try await TestPostgres.startDedicated()
        let pool = PostgresPool(config: try PostgresConfig(url: server.url), maxConnections: 2, logger: testLogger)
        try await pool.transaction { connection in
            try connection.execute("CREATE TABLE survivors (n int)")
            try connection.query("INSERT INTO survivors VALUES ($1)", ["1"])
        }
        let oldPID = server.pid

        server.kill()
        let down = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { try $0.query("SELECT 1") }
        }
        #expect(down?.isConnectionLoss == true)

        try await server.restart()
        #expect(server.pid != oldPID)
        #expect(server.isRunning)
        let count = try await pool.transaction { connection in
            try connection.query("SELECT count(*) AS n FROM survivors").first?["n"]
        }
        #expect(count == "1")
        #expect(pool.statistics.replaced >= 1)
        await pool.close()
        await server.stop()
        #expect(!server.isRunning)
    }

    /// A running cluster is adopted, stopped through its lock file, started again, and gets new databases.
    @Test func stopRunningAdoptionAndRestart() async throws {
        let server = try await TestPostgres.startDedicated()
        // Starting again on a running cluster adopts it.
        let again = try await PostgresServer.start(server.options)
        #expect(again.pid == server.pid)
        #expect(again.port == server.port)

        await PostgresServer.stopRunning(stateDirectory: server.options.stateDirectory)
        #expect(!server.isRunning)
        #expect(FileManager.default.fileExists(atPath: server.logFile.path))

        // Starting a stopped cluster again (`aria dev up` after `aria dev down`) reuses its port.
        let revived = try await PostgresServer.start(server.options)
        #expect(revived.port == server.port)
        #expect(revived.pid != server.pid)
        await revived.stop()
        #expect(!revived.isRunning)

        try await server.restart()
        let pool = PostgresPool(config: try PostgresConfig(url: server.url), maxConnections: 1, logger: testLogger)
        let user = try await pool.withConnection { try $0.query("SELECT current_user AS u").first?["u"] }
        #expect(user == server.options.user)
        await pool.close()

        try await onThread { try server.createDatabase("second_db") }
        var config = try PostgresConfig(url: server.url)
        config.database = "second_db"
        let other = PostgresPool(config: config, maxConnections: 1, logger: testLogger)
        let database = try await other.withConnection { try $0.query("SELECT current_database() AS d").first?["d"] }
        #expect(database == "second_db")
        await other.close()
        await server.stop()
    }
}
