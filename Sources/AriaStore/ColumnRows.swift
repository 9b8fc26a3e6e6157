import Synchronization

/// A parameter of a statement that takes its rows column by column.
enum RowParameter: Sendable {
    /// One value for the whole statement.
    case scalar(String?)
    /// One value per row (the statement unnests it).
    case column([String?])
}

/// A statement that takes its rows column by column, `... FROM unnest($1::uuid[], $2::text[]) AS u(r, t)`,
/// sent for a few rows as a `VALUES` list with one plain parameter per value instead:
/// `... FROM (VALUES ($1::uuid, $2::text)) AS u(r, t)`.
///
/// `unnest` over n arrays is n set-returning functions, each filling a tuplestore, after `array_in` has parsed
/// each array literal (with its quoting, and `jsonb_in` for each element); for the one row of a one-job
/// transaction that cost more than the row's insert (a `pgbench` of the `runs` insert: 0.35–0.38 ms with
/// `unnest`, 0.24–0.26 ms with `VALUES`). Larger batches keep `unnest`: one statement text for any count.
///
/// The rewrite keeps every other parameter (`$2` in `SELECT t, $2, ...`), renumbered after the values.
struct ColumnRows: Sendable {
    /// Up to this many rows go as a `VALUES` list (each count is its own prepared statement).
    static let maxValuesRows = 8

    /// The statement's text for `rowCount` rows.
    let sql: String
    /// The number of rows the parameters will carry.
    let rowCount: Int
    /// The unnested parameters (1-based), in order, or nil when the statement keeps `unnest`.
    private let unnested: [Int]?

    /// Rewrites `sql` for `rowCount` rows when a `VALUES` list suits them: its one `unnest(...)` of
    /// parameters `$n::type[]` becomes `(VALUES ...)` (with `AS u` when it had no alias).
    init(_ sql: String, rowCount: Int) {
        self.rowCount = rowCount
        let key = CacheKey(sql: sql, rowCount: rowCount)
        if let cached = Self.cache.withLock({ $0[key] }) {
            self.sql = cached.sql
            unnested = cached.unnested
            return
        }
        let rewritten = Self.rewrite(sql, rowCount: rowCount)
        self.sql = rewritten?.sql ?? sql
        unnested = rewritten?.unnested
        let entry = CacheEntry(sql: self.sql, unnested: unnested)
        Self.cache.withLock { cache in
            if cache.count > 1_000 { cache.removeAll() }
            cache[key] = entry
        }
    }

    /// The parameters in the statement's order (`parameters[0]` is `$1`); each column must have `rowCount`
    /// values.
    func parameters(_ parameters: [RowParameter]) -> [String?] {
        guard let unnested else {
            return parameters.map { parameter in
                switch parameter {
                case .scalar(let value): value
                case .column(let values): SQL.array(values)
                }
            }
        }
        let columns = unnested.map { index -> [String?] in
            if case .column(let values) = parameters[index - 1] { return values }
            preconditionFailure("parameter $\(index) is unnested but was given as a scalar")
        }
        var result: [String?] = []
        result.reserveCapacity(rowCount * columns.count + parameters.count - columns.count)
        for row in 0..<rowCount {
            for column in columns { result.append(column[row]) }
        }
        let unnestedSet = Set(unnested)
        for (offset, parameter) in parameters.enumerated() where !unnestedSet.contains(offset + 1) {
            guard case .scalar(let value) = parameter else { preconditionFailure("parameter $\(offset + 1) is a column outside unnest") }
            result.append(value)
        }
        return result
    }

    // MARK: - Rewriting

    private struct CacheKey: Hashable { let sql: String; let rowCount: Int }
    private struct CacheEntry { let sql: String; let unnested: [Int]? }
    private static let cache = Mutex<[CacheKey: CacheEntry]>([:])

    /// The rewritten text and its unnested parameters, or nil to keep `sql` as it is.
    static func rewrite(_ sql: String, rowCount: Int) -> (sql: String, unnested: [Int])? {
        guard rowCount >= 1, rowCount <= maxValuesRows else { return nil }
        let text = Array(sql.utf8)
        let opening = Array("unnest(".utf8)
        guard let start = firstIndex(of: opening, in: text) else { return nil }
        // Only a FROM item (`FROM unnest(...)`, `JOIN unnest(...)`) becomes a VALUES list.
        let before = String(decoding: text[..<start], as: UTF8.self).uppercased()
        let lastWord = before.split(whereSeparator: { $0.isWhitespace }).last ?? ""
        guard lastWord == "FROM" || lastWord == "JOIN" else { return nil }
        guard let close = text[(start + opening.count)...].firstIndex(of: UInt8(ascii: ")")) else { return nil }
        // The arguments: `$n::type[]`, separated by commas and white space; anything else keeps `unnest`.
        let arguments = String(decoding: text[(start + opening.count)..<close], as: UTF8.self)
        var columns: [(index: Int, type: String)] = []
        for argument in arguments.split(separator: ",") {
            let trimmed = argument.trimmingSpaces
            guard trimmed.hasPrefix("$"), trimmed.hasSuffix("[]"), let cast = trimmed.range(of: "::") else { return nil }
            guard let index = Int(trimmed[trimmed.index(after: trimmed.startIndex)..<cast.lowerBound]), index >= 1 else { return nil }
            let type = trimmed[cast.upperBound..<trimmed.index(trimmed.endIndex, offsetBy: -2)]
            guard !type.isEmpty, type.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            columns.append((index, String(type)))
        }
        guard !columns.isEmpty, Set(columns.map(\.index)).count == columns.count else { return nil }
        let unnestedSet = Set(columns.map(\.index))
        // New numbers: the values first (row by row), then every other parameter in its order.
        let others = referencedParameters(in: text).filter { !unnestedSet.contains($0) }.sorted()
        var renumbered: [Int: Int] = [:]
        for (offset, index) in others.enumerated() { renumbered[index] = rowCount * columns.count + offset + 1 }
        var rows: [String] = []
        for row in 0..<rowCount {
            let values = columns.enumerated().map { offset, column in "$\(row * columns.count + offset + 1)::\(column.type)" }
            rows.append("(" + values.joined(separator: ", ") + ")")
        }
        let rest = String(decoding: text[(close + 1)...], as: UTF8.self)
        let afterCall = rest.trimmingLeadingSpaces
        let upper = afterCall.uppercased()
        let hasAlias = upper.hasPrefix("AS") && upper.dropFirst(2).first?.isWhitespace == true
        guard !upper.hasPrefix("WITH") else { return nil }  // WITH ORDINALITY numbers the function's rows
        // `unnest($1::bigint[]) AS k` names the function's one column `k`; a VALUES list aliased `k` would
        // make `k` the whole row. Only an alias with its column list (`AS u(a, b)`), or none, is rewritten.
        if hasAlias {
            let name = afterCall.dropFirst(2).trimmingLeadingSpaces
            guard let open = name.firstIndex(where: { !($0.isLetter || $0.isNumber || $0 == "_") }), name[open] == "(" else { return nil }
        }
        let values = "(VALUES " + rows.joined(separator: ", ") + ")" + (hasAlias ? "" : " AS u")
        let prefix = String(decoding: text[..<start], as: UTF8.self)
        let rewritten = renumber(prefix, renumbered) + values + renumber(rest, renumbered)
        return (rewritten, columns.map(\.index))
    }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return start }
        }
        return nil
    }

    /// Where each `$n` is in `text`: its byte range and number.
    private static func parameterReferences(in text: [UInt8]) -> [(range: Range<Int>, number: Int)] {
        var found: [(range: Range<Int>, number: Int)] = []
        var index = 0
        while index < text.count {
            guard text[index] == UInt8(ascii: "$") else {
                index += 1
                continue
            }
            var end = index + 1
            var number = 0
            while end < text.count, text[end] >= 48, text[end] <= 57 {
                number = number * 10 + Int(text[end] - 48)
                end += 1
            }
            if end > index + 1 { found.append((index..<end, number)) }
            index = end
        }
        return found
    }

    /// The parameter numbers `$n` that appear in `text`.
    private static func referencedParameters(in text: [UInt8]) -> Set<Int> {
        Set(parameterReferences(in: text).map(\.number))
    }

    /// `text` with each `$n` in `numbers` replaced by its new number.
    private static func renumber(_ text: String, _ numbers: [Int: Int]) -> String {
        guard !numbers.isEmpty else { return text }
        let bytes = Array(text.utf8)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + 8)
        var copied = 0
        for reference in parameterReferences(in: bytes) {
            guard let new = numbers[reference.number] else { continue }
            result.append(contentsOf: bytes[copied..<reference.range.lowerBound])
            result.append(contentsOf: Array("$\(new)".utf8))
            copied = reference.range.upperBound
        }
        result.append(contentsOf: bytes[copied...])
        return String(decoding: result, as: UTF8.self)
    }
}

private extension StringProtocol {
    var trimmingSpaces: Substring {
        let characters = Substring(self)
        let start = characters.firstIndex { !$0.isWhitespace } ?? characters.endIndex
        let end = characters.lastIndex { !$0.isWhitespace }.map { characters.index(after: $0) } ?? start
        return characters[start..<Swift.max(start, end)]
    }

    var trimmingLeadingSpaces: Substring {
        let characters = Substring(self)
        return characters[(characters.firstIndex { !$0.isWhitespace } ?? characters.endIndex)...]
    }
}
