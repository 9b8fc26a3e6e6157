import Foundation

/// A JSON document held in memory: the value type used for payloads, parameters and results.
///
/// Parse bytes strictly with `init(parsing:maxDepth:)`, write them back with
/// ``serialized(sortedKeys:)`` (canonical by default) or ``jsonString``, and read fields with the
/// subscripts and typed accessors. `JSONValue` is also `Codable`, encoding as the plain JSON it
/// represents, so it can be a field of other `Codable` types.
///
/// Numbers keep the distinction made by the parser: an integer literal that fits `Int64` is
/// ``int(_:)``, every other number is ``double(_:)``. Equality is structural, so `.int(1)` and
/// `.double(1)` are different values (and serialize as `1` and `1.0`). Strings compare with
/// Swift's canonical-equivalence semantics; to keep "equal values serialize identically" true,
/// serialization writes every string and key in Unicode Normalization Form C.
public enum JSONValue: Sendable, Hashable {
    /// The JSON `null` literal.
    case null
    /// A JSON `true` or `false`.
    case bool(Bool)
    /// A JSON number written as an integer (no fraction or exponent) that fits in `Int64`.
    case int(Int64)
    /// Any other JSON number: with a fraction or exponent, or an integer outside `Int64`.
    case double(Double)
    /// A JSON string.
    case string(String)
    /// A JSON array.
    case array([JSONValue])
    /// A JSON object; keys are unique.
    case object([String: JSONValue])
}

// MARK: - Errors

/// Why and where a byte sequence is not acceptable JSON.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The zero-based byte offset in the input at which the problem was detected.
    public let offset: Int
    /// A human-readable explanation of the problem.
    public let reason: String

    /// Creates an error for the problem `reason` found at byte `offset`.
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    /// A message combining the offset and the reason.
    public var description: String {
        "invalid JSON at byte \(offset): \(reason)"
    }
}

// MARK: - Parsing

extension JSONValue {
    /// The default limit on nesting of arrays and objects accepted by the parser.
    public static let defaultMaxDepth = 64

    /// Parses `bytes` as one strict RFC 8259 JSON text.
    ///
    /// The input must be UTF-8 with no byte-order mark and contain exactly one value,
    /// optionally surrounded by whitespace (space, tab, line feed, carriage return).
    /// Rejected: trailing content, leading zeros (`01`, `-01`), `+1`, `.5`, `1.`, `NaN`, numbers
    /// outside the `Double` range, unescaped control characters (U+0000–U+001F) in strings,
    /// unknown escapes, unpaired UTF-16 surrogates in `\u` escapes, invalid UTF-8, duplicate
    /// object keys (compared after unescaping, with Swift `String` equality), trailing commas,
    /// comments, and nesting of arrays/objects deeper than `maxDepth` (a top-level array or
    /// object has depth 1; `maxDepth: 0` accepts only scalars).
    ///
    /// - Throws: ``JSONParseError`` with the byte offset and reason of the first problem.
    public init(parsing bytes: [UInt8], maxDepth: Int = JSONValue.defaultMaxDepth) throws(JSONParseError) {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONParseError) -> JSONValue in
                var parser = JSONParser(bytes: buffer, maxDepth: maxDepth)
                return try parser.parseDocument()
            }
        }
        self = try result.get()
    }

    /// Parses the UTF-8 encoding of `text` as one strict RFC 8259 JSON text (see `init(parsing:maxDepth:)`).
    ///
    /// - Throws: ``JSONParseError`` with the byte offset (in UTF-8) and reason of the first problem.
    public init(parsing text: String, maxDepth: Int = JSONValue.defaultMaxDepth) throws(JSONParseError) {
        try self.init(parsing: Array(text.utf8), maxDepth: maxDepth)
    }
}

/// A recursive-descent RFC 8259 parser over a byte buffer.
private struct JSONParser {
    /// The whole input.
    let bytes: UnsafeBufferPointer<UInt8>
    /// The deepest nesting of arrays and objects accepted.
    let maxDepth: Int
    /// Offset of the next byte to read.
    var position = 0
    /// Reusable buffer for strings that contain escapes.
    var scratch: [UInt8] = []

    /// Creates a parser positioned at the start of `bytes`.
    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    /// Parses one value surrounded by optional whitespace and requires the input to end there.
    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if position < bytes.count {
            throw fail("unexpected \(describe(bytes[position])) after the JSON value")
        }
        return value
    }

    // MARK: Helpers

    /// An error for `reason` at `offset`, or at the current position.
    func fail(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? position, reason: reason)
    }

    /// A short human-readable name for `byte` in error messages.
    func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F {
            return "character '\(Character(Unicode.Scalar(byte)))'"
        }
        let hex = String(byte, radix: 16, uppercase: true)
        return "byte 0x\(hex.count == 1 ? "0" + hex : hex)"
    }

    /// Skips the four JSON whitespace characters.
    @inline(__always)
    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// Whether `byte` is an ASCII decimal digit.
    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool {
        byte &- 0x30 < 10
    }

    // MARK: Values

    /// Parses any value after optional whitespace; `depth` is the nesting of the enclosing container.
    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        guard position < bytes.count else { throw fail("unexpected end of input, expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case let byte: throw fail("unexpected \(describe(byte)), expected a value")
        }
    }

    /// Consumes `literal` (`true`, `false` or `null`) or throws.
    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let start = position
        let count = literal.utf8CodeUnitCount
        let text = literal.utf8Start
        guard bytes.count - position >= count else { throw fail("invalid literal, expected '\(literal)'", at: start) }
        for index in 0..<count where bytes[position + index] != text[index] {
            throw fail("invalid literal, expected '\(literal)'", at: start)
        }
        position += count
    }

    /// Parses an array starting at `[`; `depth` is this array's nesting level.
    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        if depth > maxDepth { throw fail("nesting deeper than the maximum depth of \(maxDepth)") }
        position += 1  // [
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array([])
        }
        var elements: [JSONValue] = []
        while true {
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard position < bytes.count else { throw fail("unexpected end of input, expected ',' or ']'") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(elements)
            case let byte: throw fail("unexpected \(describe(byte)), expected ',' or ']'")
            }
        }
    }

    /// Parses an object starting at `{`, rejecting duplicate keys; `depth` is its nesting level.
    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        if depth > maxDepth { throw fail("nesting deeper than the maximum depth of \(maxDepth)") }
        position += 1  // {
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object([:])
        }
        var members: [String: JSONValue] = [:]
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw fail("unexpected end of input, expected a string key") }
            guard bytes[position] == UInt8(ascii: "\"") else {
                throw fail("unexpected \(describe(bytes[position])), expected a string key")
            }
            let keyOffset = position
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count else { throw fail("unexpected end of input, expected ':'") }
            guard bytes[position] == UInt8(ascii: ":") else {
                throw fail("unexpected \(describe(bytes[position])), expected ':'")
            }
            position += 1
            let value = try parseValue(depth: depth)
            if members.updateValue(value, forKey: key) != nil {
                throw fail("duplicate key \(String(reflecting: key))", at: keyOffset)
            }
            skipWhitespace()
            guard position < bytes.count else { throw fail("unexpected end of input, expected ',' or '}'") }
            switch bytes[position] {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(members)
            case let byte: throw fail("unexpected \(describe(byte)), expected ',' or '}'")
            }
        }
    }

    // MARK: Numbers

    /// Parses a number per the RFC 8259 grammar into `.int` when possible, else `.double`.
    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = position
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        let digitsStart = position
        guard position < bytes.count, Self.isDigit(bytes[position]) else {
            throw fail("expected a digit after '-'")
        }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, Self.isDigit(bytes[position]) {
                throw fail("leading zeros are not allowed", at: start)
            }
        } else {
            while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
        }
        let digitsEnd = position
        var isInteger = true

        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard position < bytes.count, Self.isDigit(bytes[position]) else {
                throw fail("expected a digit after the decimal point")
            }
            while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, Self.isDigit(bytes[position]) else {
                throw fail("expected a digit in the exponent")
            }
            while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
        }

        if isInteger, let value = Self.int64(bytes, digitsStart..<digitsEnd, negative: negative) {
            return .int(value)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw fail("number is out of range", at: start)
        }
        return .double(value)
    }

    /// The decimal digits in `range` as an `Int64`, or `nil` if the value does not fit.
    static func int64(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, negative: Bool) -> Int64? {
        var value: Int64 = 0
        for index in range {
            let digit = Int64(bytes[index] &- 0x30)
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            // Accumulate negatively so that Int64.min is representable.
            let (next, overflow2) = negative
                ? shifted.subtractingReportingOverflow(digit)
                : shifted.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = next
        }
        return value
    }

    // MARK: Strings

    /// Parses a string starting at its opening quote and returns its unescaped contents.
    mutating func parseString() throws(JSONParseError) -> String {
        let openingQuote = position
        position += 1
        var segmentStart = position
        var hasEscapes = false
        while true {
            guard position < bytes.count else { throw fail("unterminated string", at: openingQuote) }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                if !hasEscapes {
                    hasEscapes = true
                    scratch.removeAll(keepingCapacity: true)
                }
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[segmentStart..<position]))
                try parseEscape()
                segmentStart = position
            } else if byte < 0x20 {
                throw fail("unescaped control character \(describe(byte)) in string")
            } else if byte < 0x80 {
                position += 1
            } else {
                try skipUTF8Sequence()
            }
        }
        let string: String
        if hasEscapes {
            scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[segmentStart..<position]))
            string = String(decoding: scratch, as: UTF8.self)
        } else {
            string = String(decoding: UnsafeBufferPointer(rebasing: bytes[segmentStart..<position]), as: UTF8.self)
        }
        position += 1  // closing quote
        return string
    }

    /// Validates one multi-byte UTF-8 sequence (Unicode Table 3-7) at `position` and skips it.
    mutating func skipUTF8Sequence() throws(JSONParseError) {
        let lead = bytes[position]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw fail("invalid UTF-8 \(describe(lead))")
        }
        guard bytes.count - position >= length, secondRange.contains(bytes[position + 1]) else {
            throw fail("invalid UTF-8 sequence")
        }
        for index in 2..<length where bytes[position + index] & 0xC0 != 0x80 {
            throw fail("invalid UTF-8 sequence")
        }
        position += length
    }

    /// Decodes the escape sequence at `position` (a backslash) into `scratch`.
    mutating func parseEscape() throws(JSONParseError) {
        let escapeStart = position
        position += 1
        guard position < bytes.count else { throw fail("unterminated string") }
        let byte = bytes[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(byte)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try readHex4()
            var scalarValue = UInt32(unit)
            switch unit {
            case 0xD800...0xDBFF:
                guard bytes.count - position >= 2,
                      bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                else { throw fail("high surrogate not followed by a low surrogate escape", at: escapeStart) }
                position += 2
                let low = try readHex4()
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw fail("high surrogate not followed by a low surrogate escape", at: escapeStart)
                }
                scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            case 0xDC00...0xDFFF:
                throw fail("lone low surrogate escape", at: escapeStart)
            default:
                break
            }
            // Every value reaching here is a valid scalar (surrogates were handled above).
            scratch.append(contentsOf: Character(Unicode.Scalar(scalarValue)!).utf8)
        default:
            throw fail("invalid escape sequence '\\\(Character(Unicode.Scalar(byte)))'", at: escapeStart)
        }
    }

    /// Reads the four hexadecimal digits of a `\u` escape.
    mutating func readHex4() throws(JSONParseError) -> UInt16 {
        guard bytes.count - position >= 4 else { throw fail("expected four hex digits in \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("expected four hex digits in \\u escape")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }
}

// MARK: - Serialization

extension JSONValue {
    /// Returns the compact JSON encoding of this value as UTF-8 bytes.
    ///
    /// With `sortedKeys` (the default) the output is canonical — equal values always produce
    /// identical bytes, which is what payload hashes rely on:
    /// - no whitespace; object keys sorted by the bytes of their UTF-8 encoding (code point order);
    /// - strings and keys written in Unicode NFC, escaping only `"`, `\` and U+0000–U+001F
    ///   (as `\b \f \n \r \t` where possible, otherwise lowercase `\u00xx`); `/` and non-ASCII are literal;
    /// - `.int` in plain decimal; `.double` in Swift's shortest round-trip form, always with a
    ///   fraction or exponent so it parses back as `.double` (`1.0`, `0.1`, `1e+16`), negative zero
    ///   as `0.0`, and non-finite values (which JSON cannot represent) as `null`.
    ///
    /// With `sortedKeys: false` keys follow dictionary order, which is not stable across processes.
    public func serialized(sortedKeys: Bool = true) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(128)
        JSONWriter.write(self, to: &output, sortedKeys: sortedKeys)
        return output
    }

    /// The canonical encoding (``serialized(sortedKeys:)`` with sorted keys) used for hashing payloads.
    public var canonicalBytes: [UInt8] {
        serialized(sortedKeys: true)
    }

    /// The canonical compact JSON text of this value.
    public var jsonString: String {
        String(decoding: serialized(sortedKeys: true), as: UTF8.self)
    }
}

extension JSONValue: CustomStringConvertible {
    /// The canonical compact JSON text of this value (same as ``jsonString``).
    public var description: String { jsonString }
}

/// Writes `JSONValue`s as compact JSON.
private enum JSONWriter {
    /// Appends the compact encoding of `value` to `output`.
    static func write(_ value: JSONValue, to output: inout [UInt8], sortedKeys: Bool) {
        switch value {
        case .null:
            output.append(contentsOf: "null".utf8)
        case .bool(let bool):
            output.append(contentsOf: (bool ? "true" : "false").utf8)
        case .int(let int):
            writeInteger(int, to: &output)
        case .double(let double):
            writeDouble(double, to: &output)
        case .string(let string):
            writeString(string, to: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                write(element, to: &output, sortedKeys: sortedKeys)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            var entries = members.map { (key: normalized($0.key), value: $0.value) }
            if sortedKeys {
                entries.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            }
            for (index, entry) in entries.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                writeNormalizedString(entry.key, to: &output)
                output.append(UInt8(ascii: ":"))
                write(entry.value, to: &output, sortedKeys: sortedKeys)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `value` in plain decimal.
    static func writeInteger(_ value: Int64, to output: inout [UInt8]) {
        WireText.writeInteger(value, to: &output)
    }

    /// Appends `value` in shortest round-trip form (see `JSONValue.serialized(sortedKeys:)`).
    static func writeDouble(_ value: Double, to output: inout [UInt8]) {
        if !value.isFinite {
            output.append(contentsOf: "null".utf8)
        } else if value == 0 {
            output.append(contentsOf: "0.0".utf8)  // also for -0.0, which compares equal
        } else {
            // Swift's description is the shortest representation that round-trips, and always
            // contains "." or "e" for finite values.
            output.append(contentsOf: value.description.utf8)
        }
    }

    /// Returns `string` in Unicode Normalization Form C (ASCII strings are returned as is).
    static func normalized(_ string: String) -> String {
        var copy = string
        let isASCII = copy.withUTF8 { buffer in buffer.allSatisfy { $0 < 0x80 } }
        return isASCII ? string : string.precomposedStringWithCanonicalMapping
    }

    /// Appends `string` normalized to NFC, quoted and minimally escaped.
    static func writeString(_ string: String, to output: inout [UInt8]) {
        writeNormalizedString(normalized(string), to: &output)
    }

    /// Writes an already normalized string with minimal escaping (the same escaping as bus messages).
    static func writeNormalizedString(_ string: String, to output: inout [UInt8]) {
        WireText.writeString(string, to: &output)
    }
}

// MARK: - Accessors

extension JSONValue {
    /// The member named `key` if this is an object that has it, else `nil`.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members[key]
    }

    /// The element at `index` if this is an array and `index` is in bounds, else `nil`.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    /// Follows `path` from this value: object members by key, array elements by a decimal index
    /// (ASCII digits only, e.g. `"0"`, `"12"`); returns `nil` as soon as a step does not resolve.
    /// An empty path returns this value.
    public func value(atPath path: [String]) -> JSONValue? {
        var current = self
        for component in path {
            switch current {
            case .object(let members):
                guard let next = members[component] else { return nil }
                current = next
            case .array(let elements):
                guard !component.isEmpty,
                      component.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                      let index = Int(component), elements.indices.contains(index)
                else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    /// The string if this is ``string(_:)``, else `nil`.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer if this is ``int(_:)``, or ``double(_:)`` holding an integral value that fits `Int64`; else `nil`.
    public var intValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value): return Int64(exactly: value)
        default: return nil
        }
    }

    /// The number as a `Double` if this is ``double(_:)`` or ``int(_:)`` (possibly rounded), else `nil`.
    public var doubleValue: Double? {
        switch self {
        case .double(let value): return value
        case .int(let value): return Double(value)
        default: return nil
        }
    }

    /// The Boolean if this is ``bool(_:)``, else `nil`.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The members if this is ``object(_:)``, else `nil`.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The elements if this is ``array(_:)``, else `nil`.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// Whether this is ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByStringLiteral {
    /// Creates a ``string(_:)`` from a string literal.
    public init(stringLiteral value: String) {
        self = .string(value)
    }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    /// Creates an ``int(_:)`` from an integer literal.
    public init(integerLiteral value: Int64) {
        self = .int(value)
    }
}

extension JSONValue: ExpressibleByFloatLiteral {
    /// Creates a ``double(_:)`` from a floating-point literal.
    public init(floatLiteral value: Double) {
        self = .double(value)
    }
}

extension JSONValue: ExpressibleByBooleanLiteral {
    /// Creates a ``bool(_:)`` from `true` or `false`.
    public init(booleanLiteral value: Bool) {
        self = .bool(value)
    }
}

extension JSONValue: ExpressibleByArrayLiteral {
    /// Creates an ``array(_:)`` from an array literal.
    public init(arrayLiteral elements: JSONValue...) {
        self = .array(elements)
    }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    /// Creates an ``object(_:)`` from a dictionary literal; duplicate keys are a programming error and trap.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(uniqueKeysWithValues: elements))
    }
}

extension JSONValue: ExpressibleByNilLiteral {
    /// Creates ``null`` from `nil`.
    public init(nilLiteral: ()) {
        self = .null
    }
}

// MARK: - Codable

extension JSONValue: Codable {
    /// Decodes whatever JSON value the decoder holds: null, Boolean, number, string, array or object.
    ///
    /// Numbers become ``int(_:)`` when the decoder can read them as `Int64`, else ``double(_:)``.
    /// Foundation's `JSONDecoder` reads `1.0` or `1e2` as an exact `Int64`, so through `Codable`
    /// those become `.int`; use `init(parsing:maxDepth:)` where the distinction matters.
    public init(from decoder: any Decoder) throws {
        if let tree = decoder as? any JSONValueDecoding { self = tree.currentJSONValue; return }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Expected a JSON value")
        }
    }

    /// Encodes the value as the plain JSON it represents.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
