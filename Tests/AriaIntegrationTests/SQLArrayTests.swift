import AriaPostgres
@testable import AriaStore
import AriaTestSupport
import Logging
import Testing

/// `SQL.array` builds the `text[]` literals of every batched statement: each element must reach Postgres
/// byte for byte, whatever quotes, backslashes, braces, commas or non-ASCII text it holds.
@Suite struct SQLArrayTests {
    static let tricky: [String?] = [
        "plain", "", nil, "NULL", "with \"quotes\"", "back\\slash", "\\", "\"", "\\\"\\\"", "{braces}", "a,b",
        "  spaced  ", "line\nbreak\ttab", "ünïcödé ✓ 🚀", "{\"json\": [1, \"two\", {\"k\": \"v\\\\n\"}]}",
        String(repeating: "x\"y\\", count: 300),
    ]

    @Test func elementsRoundTripThroughPostgres() async throws {
        let config = try await TestPostgres.freshDatabase(prefix: "sqlarray")
        let pool = PostgresPool(config: config, maxConnections: 1, logger: Logger(label: "test"))
        let rows = try await pool.withConnection { connection in
            try connection.query("SELECT u.v, u.v IS NULL FROM unnest($1::text[]) WITH ORDINALITY AS u(v, n) ORDER BY u.n", [SQL.array(Self.tricky)]).rows
        }
        #expect(rows.count == Self.tricky.count)
        for (row, expected) in zip(rows, Self.tricky) {
            #expect(row[0] == expected)
            #expect(row[1] == (expected == nil ? "t" : "f"))
        }
        await pool.close()
    }

    @Test func literalEscapesOnlyQuotesAndBackslashes() {
        #expect(SQL.array(["a\"b", "c\\d", nil, "é"]) == "{\"a\\\"b\",\"c\\\\d\",NULL,\"é\"}")
        #expect(SQL.array([]) == "{}")
    }
}
