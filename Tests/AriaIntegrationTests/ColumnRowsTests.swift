import AriaPostgres
@testable import AriaStore
import AriaTestSupport
import Logging
import Testing

/// `ColumnRows` sends a few rows of an `unnest` statement as a `VALUES` list: the rows must come out the same.
@Suite struct ColumnRowsTests {
    static let statement = """
        SELECT n, $2::text AS origin, t, j::text AS j, b, $6::int + 0 AS extra
        FROM unnest($1::int[], $3::text[], $4::jsonb[], $5::bool[]) AS u(n, t, j, b)
        ORDER BY n
        """

    @Test func rewritesAFewRowsAsValuesRenumberingTheOtherParameters() {
        let one = ColumnRows(Self.statement, rowCount: 1)
        #expect(one.sql == """
            SELECT n, $5::text AS origin, t, j::text AS j, b, $6::int + 0 AS extra
            FROM (VALUES ($1::int, $2::text, $3::jsonb, $4::bool)) AS u(n, t, j, b)
            ORDER BY n
            """)
        #expect(one.parameters([.column(["7"]), .scalar("o"), .column(["x"]), .column(["{}"]), .column(["t"]), .scalar("3")])
                == ["7", "x", "{}", "t", "o", "3"])
        let two = ColumnRows(Self.statement, rowCount: 2)
        #expect(two.sql.contains("(VALUES ($1::int, $2::text, $3::jsonb, $4::bool), ($5::int, $6::text, $7::jsonb, $8::bool)) AS u(n, t, j, b)"))
        #expect(two.sql.contains("$9::text AS origin") && two.sql.contains("$10::int + 0"))
        // No alias: VALUES in FROM needs one.
        #expect(ColumnRows("SELECT * FROM unnest($1::text[], $2::uuid[])", rowCount: 1).sql == "SELECT * FROM (VALUES ($1::text, $2::uuid)) AS u")
        // An alias on the next line, and a join.
        #expect(ColumnRows("SELECT r FROM unnest($1::uuid[])\n    AS u(r)", rowCount: 1).sql == "SELECT r FROM (VALUES ($1::uuid))\n    AS u(r)")
        #expect(ColumnRows("SELECT 1 FROM t JOIN unnest($1::int[]) AS u(n) ON t.n = u.n", rowCount: 1).sql
                == "SELECT 1 FROM t JOIN (VALUES ($1::int)) AS u(n) ON t.n = u.n")
    }

    @Test func keepsUnnestForManyRowsAndForWhatItCannotRead() {
        let many = ColumnRows(Self.statement, rowCount: ColumnRows.maxValuesRows + 1)
        #expect(many.sql == Self.statement)
        #expect(many.parameters([.column(["1", "2"]), .scalar("o")]) == ["{\"1\",\"2\"}", "o"])
        #expect(ColumnRows(Self.statement, rowCount: 0).sql == Self.statement)
        for sql in ["SELECT * FROM unnest($1::text[], ARRAY[1])", "SELECT * FROM unnest($1::double precision[])", "SELECT 1 WHERE x = ANY($1::text[])",
                    "SELECT * FROM unnest($1::text[], $1::text[])", "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k",
                    "SELECT k FROM unnest($1::bigint[]) AS k ORDER BY k", "SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS u(v, n)",
                    "SELECT unnest($1::int[])", "SELECT 1 WHERE 2 IN (SELECT unnest($1::int[]))"] {
            #expect(ColumnRows(sql, rowCount: 1).sql == sql)
        }
    }

    @Test func rowsComeOutTheSameThroughPostgres() async throws {
        let config = try await TestPostgres.freshDatabase(prefix: "columnrows")
        let pool = PostgresPool(config: config, maxConnections: 1, logger: Logger(label: "test"))
        let texts = SQLArrayTests.tricky
        for count in [1, 2, 5, ColumnRows.maxValuesRows, ColumnRows.maxValuesRows + 1, 20] {
            let numbers = (0..<count).map { String($0) }
            let strings = (0..<count).map { texts[$0 % texts.count] }
            let json = (0..<count).map { $0 % 3 == 0 ? nil : "{\"k\": \"v \\\" \\\\ \($0)\", \"a\": [1, null]}" }
            let flags = (0..<count).map { $0 % 2 == 0 ? "t" : nil }
            let parameters: [RowParameter] = [.column(numbers), .scalar("origin \"o\""), .column(strings), .column(json), .column(flags), .scalar("41")]
            let rows = try await pool.withConnection { connection in
                let rewritten = ColumnRows(Self.statement, rowCount: count)
                let arrays = ColumnRows(Self.statement, rowCount: ColumnRows.maxValuesRows + 1)
                return (try connection.query(rewritten.sql, rewritten.parameters(parameters)).rows,
                        try connection.query(Self.statement, arrays.parameters(parameters)).rows)
            }
            #expect(rows.0.count == count)
            #expect(rows.0.map { $0.values } == rows.1.map { $0.values }, "\(count) rows")
            #expect(rows.0.map { $0[2] } == strings, "\(count) rows: text byte for byte, NULL as NULL")
            #expect(rows.0.allSatisfy { $0[1] == "origin \"o\"" && $0[5] == "41" })
        }
        await pool.close()
    }
}
