import AriaCore
import AriaPostgres
import AriaTestSupport
import AriaWorker
import Foundation
import Logging
import Testing

@Suite("pg_query skill")
struct PostgresQuerySkillTests {
    let context = SkillContext(tenant: TenantID(trusted: "demo"), run: RunID.generate(), step: StepID(trusted: "q"))

    func userDatabase() async throws -> PostgresPool {
        let config = try await TestPostgres.freshDatabase(prefix: "userdb")
        let pool = PostgresPool(config: config, maxConnections: 2, logger: Logger(label: "test"))
        _ = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g;")
        }
        return pool
    }

    func failure(_ body: () async throws -> JSONValue) async -> AriaError? {
        do { _ = try await body(); return nil } catch let error as AriaError { return error } catch { return AriaError(.internal, "\(error)") }
    }

    @Test("parameterized reads return columns and rows, capped at max_rows")
    func reads() async throws {
        let pool = try await userDatabase()
        let skill = PostgresQuerySkill(pool: pool)
        let one = try await skill.execute(["sql": "SELECT id, name FROM items WHERE id = $1", "params": [7]], context: context)
        #expect(one["columns"] == ["id", "name"] && one["rows"] == [["7", "item 7"]] && one["truncated"] == false)
        let capped = try await skill.execute(["sql": "SELECT id FROM items ORDER BY id", "max_rows": 10], context: context)
        #expect(capped["row_count"] == 10 && capped["truncated"] == true && capped["rows"]?[9] == ["10"])
        await pool.close()
    }

    @Test("writes are refused by the read-only transaction; timeouts and bad SQL are query_failed")
    func refusals() async throws {
        let pool = try await userDatabase()
        let skill = PostgresQuerySkill(pool: pool)
        let write = await failure { try await skill.execute(["sql": "INSERT INTO items VALUES (999, 'x') RETURNING id"], context: context) }
        // Not a query: refused before anything runs (a cursor takes SELECT or VALUES only).
        #expect(write?.code == .queryFailed && write?.details["sqlstate"] == "42601")
        let update = await failure { try await skill.execute(["sql": "WITH d AS (DELETE FROM items RETURNING id) SELECT count(*) FROM d"], context: context) }
        #expect(update?.code == .queryFailed && update?.details["sqlstate"] == "0A000")
        // A query that would lock or write is stopped by the read-only transaction itself.
        let locking = await failure { try await skill.execute(["sql": "SELECT id FROM items FOR UPDATE"], context: context) }
        #expect(locking?.code == .queryFailed && locking?.details["sqlstate"] == "25006")
        let slow = await failure { try await skill.execute(["sql": "SELECT pg_sleep(5)", "timeout": "100ms"], context: context) }
        #expect(slow?.code == .queryFailed && slow?.details["sqlstate"] == "57014" && slow?.category == .transient)
        let two = await failure { try await skill.execute(["sql": "SELECT 1; DELETE FROM items"], context: context) }
        #expect(two?.code == .invalidParams)
        let count = try await pool.withConnection { try $0.query("SELECT count(*) FROM items").rows.first?[0] }
        #expect(count == "50")
        // The connection is still usable after the failures.
        #expect(try await skill.execute(["sql": "SELECT 1 AS one"], context: context)["rows"] == [["1"]])
        await pool.close()
    }

    @Test("outputs satisfy the output schema; the configured defaults apply; an integer timeout is milliseconds")
    func configuredDefaultsAndOutputs() async throws {
        let pool = try await userDatabase()
        let standard = PostgresQuerySkill(pool: pool)
        let rows = try await standard.execute(["sql": "SELECT id, NULL::text AS nothing FROM items WHERE id <= $1 ORDER BY id", "params": [3]], context: context)
        #expect(rows["rows"] == [["1", .null], ["2", .null], ["3", .null]])
        #expect(standard.descriptor.validateOutput(rows) == nil)
        let empty = try await standard.execute(["sql": "SELECT id FROM items WHERE false"], context: context)
        #expect(empty["row_count"] == 0 && standard.descriptor.validateOutput(empty) == nil)
        let slowByInteger = await failure { try await standard.execute(["sql": "SELECT pg_sleep(5)", "timeout": 100], context: context) }
        #expect(slowByInteger?.details["sqlstate"] == "57014")

        let catalog = try SkillCatalog.builtIn(configuration: SkillsConfiguration(skills: [
            "pg_query": ["default_rows": 5, "max_rows": 20, "default_statement_timeout": "100ms"],
        ]))
        let configured = PostgresQuerySkill(pool: pool, descriptor: try #require(catalog["pg_query"]))
        let capped = try await configured.execute(["sql": "SELECT id FROM items ORDER BY id"], context: context)
        #expect(capped["row_count"] == 5 && capped["truncated"] == true)
        #expect(configured.descriptor.validateOutput(capped) == nil)
        #expect(configured.descriptor.validateInput(["sql": "SELECT 1", "max_rows": 21])?.code == .invalidParams)
        let slow = await failure { try await configured.execute(["sql": "SELECT pg_sleep(5)"], context: context) }
        #expect(slow?.details["sqlstate"] == "57014", "the configured default statement timeout")
        await pool.close()
    }
}
