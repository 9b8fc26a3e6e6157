/// One row of a query result, as text-format values.
public struct PostgresRow: Sendable {
    /// The column names and their positions, shared by all rows of a result.
    let layout: ColumnLayout
    /// The values in column order; nil for SQL NULL.
    public let values: [String?]

    /// Creates a row; `values` are in `layout`'s column order.
    init(layout: ColumnLayout, values: [String?]) {
        self.layout = layout
        self.values = values
    }

    /// The value of the column at `column`, nil for NULL or an out-of-range position.
    public subscript(_ column: Int) -> String? {
        values.indices.contains(column) ? values[column] : nil
    }

    /// The value of the first column called `name`, nil for NULL or an unknown column.
    public subscript(_ name: String) -> String? {
        guard let index = layout.index[name] else { return nil }
        return values[index]
    }

    /// Whether the row has a column called `name` (to tell NULL from a misspelt column).
    public func contains(column name: String) -> Bool { layout.index[name] != nil }
}

/// The outcome of one statement.
public struct PostgresResult: Sendable {
    /// The result's column names, in order (empty for statements that return no rows).
    public let columns: [String]
    /// The rows returned.
    public let rows: [PostgresRow]
    /// Rows inserted, updated, deleted, selected… as reported by the server (`PQcmdTuples`); 0 when it
    /// reports none. An `INSERT … ON CONFLICT DO NOTHING` that hit a conflict reports 0.
    public let affectedRows: Int
    /// The command tag, e.g. `INSERT 0 1` or `SELECT 3`.
    public let commandTag: String

    /// Creates a result from its parts (tests, fakes).
    public init(columns: [String], rows: [[String?]], affectedRows: Int, commandTag: String = "") {
        let layout = ColumnLayout(columns)
        self.columns = columns
        self.rows = rows.map { PostgresRow(layout: layout, values: $0) }
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    /// The first row, if any.
    public var first: PostgresRow? { rows.first }
}

/// Column names with a lookup from name to position; immutable, shared by the rows of one result.
final class ColumnLayout: Sendable {
    /// The column names, in order.
    let names: [String]
    /// The position of each name's first occurrence.
    let index: [String: Int]

    /// Indexes `names`.
    init(_ names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        for (position, name) in names.enumerated() where index[name] == nil { index[name] = position }
        self.index = index
    }
}
