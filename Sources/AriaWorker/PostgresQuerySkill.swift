import AriaCore
import AriaPostgres
import Foundation

/// `pg_query`: a parameterized, read-only query against the deployment's configured *user* database
/// (never the cluster's own), with a statement timeout and a row cap.
///
/// Params: `sql` (one statement; `$1`... placeholders), `params` (array of scalars, sent as text),
/// `max_rows` (default `default_rows`, 1,000; at most `max_rows`, 10,000), `timeout` (statement timeout,
/// a duration or milliseconds; default `default_statement_timeout`, 5s; at most `max_statement_timeout`, 1m).
/// Output: `{columns, rows (arrays of strings or null), row_count, truncated}`. The query runs in a
/// `READ ONLY` transaction through a cursor, so writes fail (`query_failed`, SQLSTATE 25006) and at most
/// `max_rows + 1` rows are ever fetched.
public struct PostgresQuerySkill: Skill {
    let pool: PostgresPool
    /// The contract and configuration (`default_rows`, `default_statement_timeout`, the limits).
    public let descriptor: SkillDescriptor

    /// Creates the skill over a pool on the user database.
    public init(pool: PostgresPool, descriptor: SkillDescriptor = SkillCatalog.builtIn["pg_query"]!) {
        self.pool = pool
        self.descriptor = descriptor
    }

    /// Runs the query.
    public func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue {
        guard let sql = params["sql"]?.stringValue, !sql.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw AriaError(.invalidParams, "'sql' is required")
        }
        let statement = sql.trimmingCharacters(in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: ";")))
        guard !statement.contains(";") else { throw AriaError(.invalidParams, "'sql' must be a single statement") }
        var values: [String?] = []
        for value in params["params"]?.arrayValue ?? [] {
            switch value {
            case .null: values.append(nil)
            case .string(let text): values.append(text)
            case .bool(let flag): values.append(flag ? "true" : "false")
            case .int, .double: values.append(value.jsonString)
            default: throw AriaError(.invalidParams, "'params' must hold strings, numbers, booleans or null")
            }
        }
        let arguments = values
        let configuration = descriptor.configuration
        let maxRows = Int(params["max_rows"]?.intValue ?? configuration["default_rows"]?.intValue ?? 1000)
        let timeoutMilliseconds: Int64
        if let text = params["timeout"]?.stringValue {
            timeoutMilliseconds = try AriaDuration(parsing: text).milliseconds
        } else if let milliseconds = params["timeout"]?.intValue {
            timeoutMilliseconds = milliseconds
        } else if let text = configuration["default_statement_timeout"]?.stringValue {
            timeoutMilliseconds = try AriaDuration(parsing: text).milliseconds
        } else {
            timeoutMilliseconds = configuration["default_statement_timeout"]?.intValue ?? 5000
        }
        do {
            return try await pool.withConnection { connection in
                try connection.execute("BEGIN TRANSACTION READ ONLY")
                do {
                    try connection.execute("SET LOCAL statement_timeout = \(timeoutMilliseconds)")
                    try connection.query("DECLARE aria_query NO SCROLL CURSOR FOR \(statement)", arguments)
                    let result = try connection.query("FETCH FORWARD \(maxRows + 1) FROM aria_query")
                    try connection.execute("COMMIT")
                    let rows = result.rows.prefix(maxRows).map { row in JSONValue.array(row.values.map { $0.map(JSONValue.string) ?? .null }) }
                    return .object([
                        "columns": .array(result.columns.map(JSONValue.string)), "rows": .array(Array(rows)),
                        "row_count": .int(Int64(rows.count)), "truncated": .bool(result.rows.count > maxRows),
                    ])
                } catch {
                    try? connection.execute("ROLLBACK")
                    throw error
                }
            }
        } catch let error as PostgresError where error.sqlState != nil {
            let category: ErrorCategory = error.sqlState == "57014" ? .transient : .validation
            throw AriaError(.queryFailed, error.message, details: ["sqlstate": error.sqlState ?? ""], category: category)
        } catch let error as PostgresError {
            throw AriaError(.queryFailed, "the user database is not reachable: \(error.code)", details: ["reason": error.code.rawValue], category: .transient)
        }
    }
}
