import AriaCore
import AriaPostgres
import Foundation

/// Conversions between Swift values and the text format of Postgres parameters and results.
enum SQL {
    /// A Postgres array literal (`{"a","b",NULL}`) for `$n::text[]` parameters, built on UTF-8 bytes.
    static func array(_ values: [String?]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(2 + values.reduce(0) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            guard let value else { bytes.append(contentsOf: "NULL".utf8); continue }
            bytes.append(UInt8(ascii: "\""))
            Self.appendEscaped(value, to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `value`'s UTF-8 with `"` and `\` escaped by a backslash, copying the runs between them whole.
    private static func appendEscaped(_ value: String, to bytes: inout [UInt8]) {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        let copied: Void? = value.utf8.withContiguousStorageIfAvailable { buffer in
            var start = 0
            for index in buffer.indices where buffer[index] == quote || buffer[index] == backslash {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<index]))
                bytes.append(backslash)
                start = index
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start...]))
        }
        guard copied == nil else { return }
        for byte in value.utf8 {
            if byte == quote || byte == backslash { bytes.append(backslash) }
            bytes.append(byte)
        }
    }

    /// A `bytea` parameter in hex format.
    static func bytea(_ bytes: [UInt8]) -> String {
        let digits: [Character] = Array("0123456789abcdef")
        var out = "\\x"
        out.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return out
    }

    /// Decodes a `bytea` result in hex format.
    static func bytes(fromBytea text: String) -> [UInt8] {
        var out: [UInt8] = []
        let utf8 = Array(text.utf8.dropFirst(2))
        out.reserveCapacity(utf8.count / 2)
        func nibble(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : (c >= 65 ? c - 55 : c - 48) }
        var index = 0
        while index + 1 < utf8.count {
            out.append(nibble(utf8[index]) << 4 | nibble(utf8[index + 1]))
            index += 2
        }
        return out
    }

    /// JSON text of a Codable value for a `jsonb` parameter.
    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try Wire.encode(value), as: UTF8.self)
    }

    /// Decodes a `jsonb` result.
    static func decode<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
        guard let text else { return nil }
        return try Wire.decode(T.self, from: Array(text.utf8))
    }

    /// Parses a `jsonb` result into a JSONValue.
    static func jsonValue(_ text: String?) -> JSONValue? {
        guard let text else { return nil }
        return try? JSONValue(parsing: Array(text.utf8))
    }

    /// A date from a `(extract(epoch from x) * 1000)::bigint` column.
    static func date(milliseconds text: String?) -> Date? {
        guard let text, let ms = Int64(text) else { return nil }
        return Date(timeIntervalSince1970: Double(ms) / 1000)
    }
}

extension PostgresRow {
    /// The column's value, or a store error naming the missing column.
    func required(_ column: String) throws -> String {
        guard let value = self[column] else {
            throw AriaError(.internal, "column \(column) is unexpectedly NULL")
        }
        return value
    }
}
