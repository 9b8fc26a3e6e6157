import Foundation

// MARK: - Numbers

/// A JSON number held exactly as parsed, compared mathematically across `Int64` and `Double`.
enum SchemaNumber: Sendable, CustomStringConvertible {
    /// An integer literal that fits `Int64`.
    case int(Int64)
    /// Any other number.
    case double(Double)

    /// The number in `value`, or `nil` if it is not a number.
    init?(_ value: JSONValue) {
        switch value {
        case .int(let int): self = .int(int)
        case .double(let double): self = .double(double)
        default: return nil
        }
    }

    /// The number as `Double` (possibly rounded).
    var doubleValue: Double {
        switch self {
        case .int(let int): Double(int)
        case .double(let double): double
        }
    }

    /// Whether the number has no fractional part.
    var isIntegral: Bool {
        switch self {
        case .int: true
        case .double(let double): double.isFinite && double.rounded(.towardZero) == double
        }
    }

    /// The number as written in messages: integers plainly, integral doubles without a fraction.
    var description: String {
        switch self {
        case .int(let int):
            return String(int)
        case .double(let double):
            if double.isFinite, double.rounded(.towardZero) == double, let int = Int64(exactly: double) {
                return String(int)
            }
            return double.description
        }
    }

    /// Compares exactly: negative if `lhs < rhs`, zero if equal, positive if `lhs > rhs`.
    static func compare(_ lhs: SchemaNumber, _ rhs: SchemaNumber) -> Int {
        switch (lhs, rhs) {
        case let (.int(a), .int(b)):
            return a < b ? -1 : (a == b ? 0 : 1)
        case let (.double(a), .double(b)):
            return a < b ? -1 : (a == b ? 0 : 1)
        case let (.int(a), .double(b)):
            return -compare(double: b, int: a)
        case let (.double(a), .int(b)):
            return compare(double: a, int: b)
        }
    }

    /// Compares a double with an integer without the rounding of converting the integer to `Double`.
    private static func compare(double: Double, int: Int64) -> Int {
        if double.isNaN { return 1 }  // JSON has no NaN; order it somewhere deterministic
        // 2^63 is exactly representable; every double at or beyond it is outside Int64.
        if double >= 9_223_372_036_854_775_808.0 { return 1 }
        if double < -9_223_372_036_854_775_808.0 { return -1 }
        let floor = double.rounded(.down)
        let floorInt = Int64(floor)  // in range: -2^63 <= floor < 2^63
        if floorInt < int { return -1 }
        if floorInt > int { return 1 }
        return double == floor ? 0 : 1
    }

    /// The number as an exact `Decimal` from its shortest round-trip spelling, or `nil` when out of `Decimal`'s range.
    var decimalValue: Decimal? {
        let text: String
        switch self {
        case .int(let int): text = String(int)
        case .double(let double):
            guard double.isFinite else { return nil }
            text = double.description
        }
        guard let decimal = Decimal(string: text), !decimal.isNaN else { return nil }
        return decimal
    }
}

/// The divisor of a `multipleOf` keyword, prepared for exact checks.
struct SchemaDivisor: Sendable {
    /// The divisor as written in the schema (strictly positive).
    let number: SchemaNumber
    /// The divisor as an exact decimal, when representable.
    let decimal: Decimal?

    /// Prepares `number`, which must be strictly positive.
    init(_ number: SchemaNumber) {
        self.number = number
        decimal = number.decimalValue
    }

    /// Whether `value` is an integer multiple of the divisor, computed in decimal so that `0.0075` is a multiple of `0.0001`.
    func divides(_ value: SchemaNumber) -> Bool {
        if case .int(let divisor) = number, case .int(let dividend) = value {
            return dividend % divisor == 0  // divisor > 0, so no overflow
        }
        if let decimal, let dividend = value.decimalValue {
            var quotient = dividend / decimal
            guard !quotient.isNaN else { return false }
            var rounded = Decimal()
            NSDecimalRound(&rounded, &quotient, 0, .plain)
            return rounded == quotient
        }
        // Out of Decimal's range (beyond about 1e165): binary floating point is all there is.
        let quotient = value.doubleValue / number.doubleValue
        return quotient.isFinite && quotient.rounded(.towardZero) == quotient
    }
}

// MARK: - Types

/// A set of JSON Schema type names, as in the `type` keyword.
struct SchemaTypeSet: OptionSet, Sendable {
    /// The bits.
    let rawValue: UInt8

    /// Creates a set from its bits.
    init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// `"null"`.
    static let null = SchemaTypeSet(rawValue: 1 << 0)
    /// `"boolean"`.
    static let boolean = SchemaTypeSet(rawValue: 1 << 1)
    /// `"object"`.
    static let object = SchemaTypeSet(rawValue: 1 << 2)
    /// `"array"`.
    static let array = SchemaTypeSet(rawValue: 1 << 3)
    /// `"number"` (which includes integers).
    static let number = SchemaTypeSet(rawValue: 1 << 4)
    /// `"string"`.
    static let string = SchemaTypeSet(rawValue: 1 << 5)
    /// `"integer"`: a number with no fractional part.
    static let integer = SchemaTypeSet(rawValue: 1 << 6)

    /// The type names in the order messages list them, with the phrase used for each.
    static let names: [(name: String, type: SchemaTypeSet, phrase: String)] = [
        ("object", .object, "an object"),
        ("array", .array, "an array"),
        ("string", .string, "a string"),
        ("integer", .integer, "an integer"),
        ("number", .number, "a number"),
        ("boolean", .boolean, "a boolean"),
        ("null", .null, "null"),
    ]

    /// The type named `name`, or `nil` if there is no such type.
    init?(name: String) {
        guard let entry = Self.names.first(where: { $0.name == name }) else { return nil }
        self = entry.type
    }

    /// Whether `value` is of one of the types in the set.
    func accepts(_ value: JSONValue) -> Bool {
        switch value {
        case .null: contains(.null)
        case .bool: contains(.boolean)
        case .string: contains(.string)
        case .array: contains(.array)
        case .object: contains(.object)
        case .int: contains(.number) || contains(.integer)
        case .double(let double):
            contains(.number) || (contains(.integer) && double.isFinite && double.rounded(.towardZero) == double)
        }
    }

    /// The phrase for the set, e.g. "a string", "a string or null", "an object, an array or null".
    var phrase: String {
        let phrases = Self.names.filter { contains($0.type) }.map(\.phrase)
        guard let last = phrases.last else { return "nothing" }
        if phrases.count == 1 { return last }
        return phrases.dropLast().joined(separator: ", ") + " or " + last
    }

    /// The phrase for the type of `value`, e.g. "an integer" for `1` and "a number" for `1.5`.
    static func phrase(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        case .int: "an integer"
        case .double(let double): double.isFinite && double.rounded(.towardZero) == double ? "an integer" : "a number"
        }
    }
}

// MARK: - Patterns

/// A regular expression from a `pattern` or `patternProperties` keyword, compiled once.
struct SchemaPattern: Sendable {
    /// The pattern as written in the schema.
    let source: String
    /// The compiled expression (immutable and safe to share).
    let regex: NSRegularExpression

    /// Compiles `source`; returns `nil` if it is not a valid regular expression.
    init?(_ source: String) {
        guard let regex = try? NSRegularExpression(pattern: source, options: []) else { return nil }
        self.source = source
        self.regex = regex
    }

    /// Whether the pattern matches anywhere in `string` (patterns are not implicitly anchored).
    func matches(_ string: String) -> Bool {
        regex.rangeOfFirstMatch(in: string, options: [], range: NSRange(location: 0, length: string.utf16.count)).location != NSNotFound
    }
}

// MARK: - Equality

/// JSON Schema's equality of instances: numbers by value (`1 == 1.0`), strings by code points,
/// arrays element-wise, objects by equal members regardless of order.
enum SchemaEquality {
    /// Whether `lhs` and `rhs` are equal JSON values.
    static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null):
            return true
        case let (.bool(a), .bool(b)):
            return a == b
        case let (.string(a), .string(b)):
            return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.int, .int), (.int, .double), (.double, .int), (.double, .double):
            guard let a = SchemaNumber(lhs), let b = SchemaNumber(rhs) else { return false }
            return SchemaNumber.compare(a, b) == 0
        case let (.array(a), .array(b)):
            return a.count == b.count && zip(a, b).allSatisfy { equal($0, $1) }
        case let (.object(a), .object(b)):
            guard a.count == b.count else { return false }
            for (key, value) in a {
                guard let other = b[key], equal(value, other) else { return false }
            }
            return true
        default:
            return false
        }
    }

    /// Feeds `value` to `hasher` consistently with ``equal(_:_:)``: equal values hash equally.
    static func hash(_ value: JSONValue, into hasher: inout Hasher) {
        switch value {
        case .null:
            hasher.combine(0 as UInt8)
        case .bool(let bool):
            hasher.combine(1 as UInt8)
            hasher.combine(bool)
        case .int(let int):
            hasher.combine(2 as UInt8)
            hasher.combine(int)
        case .double(let double):
            if let int = Int64(exactly: double) {
                hasher.combine(2 as UInt8)
                hasher.combine(int)
            } else {
                hasher.combine(3 as UInt8)
                hasher.combine(double)
            }
        case .string(let string):
            hasher.combine(4 as UInt8)
            for scalar in string.unicodeScalars { hasher.combine(scalar.value) }
            hasher.combine(UInt32.max)  // terminator, so ["ab", "c"] and ["a", "bc"] differ
        case .array(let elements):
            hasher.combine(5 as UInt8)
            hasher.combine(elements.count)
            for element in elements { hash(element, into: &hasher) }
        case .object(let members):
            hasher.combine(6 as UInt8)
            hasher.combine(members.count)
            // Order-independent: combine per-member hashes commutatively.
            var sum = 0
            for (key, member) in members {
                var memberHasher = Hasher()
                memberHasher.combine(key)
                hash(member, into: &memberHasher)
                sum &+= memberHasher.finalize()
            }
            hasher.combine(sum)
        }
    }
}

/// A `JSONValue` wrapper whose `Hashable` conformance follows ``SchemaEquality``, for `uniqueItems`.
struct SchemaEquatableValue: Hashable {
    /// The wrapped value.
    let value: JSONValue

    /// Whether the values are equal JSON values.
    static func == (lhs: SchemaEquatableValue, rhs: SchemaEquatableValue) -> Bool {
        SchemaEquality.equal(lhs.value, rhs.value)
    }

    /// Hashes consistently with JSON equality.
    func hash(into hasher: inout Hasher) {
        SchemaEquality.hash(value, into: &hasher)
    }
}

// MARK: - Text helpers

/// Helpers for JSON pointers and user-facing text.
enum SchemaText {
    /// The longest echoed value or name in a message, in characters.
    static let maxEchoLength = 40

    /// Escapes one JSON pointer reference token (`~` as `~0`, `/` as `~1`).
    static func escapePointerToken(_ token: String) -> String {
        guard token.contains("~") || token.contains("/") else { return token }
        return token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// The JSON pointer made of `tokens`; empty for no tokens.
    static func pointer(_ tokens: [String]) -> String {
        tokens.map { "/" + escapePointerToken($0) }.joined()
    }

    /// `text` cut to at most ``maxEchoLength`` characters, with an ellipsis when cut.
    static func capped(_ text: String) -> String {
        guard text.count > maxEchoLength else { return text }
        return String(text.prefix(maxEchoLength - 1)) + "…"
    }

    /// `text` as a quoted, capped string for messages, e.g. `"name"`.
    static func quoted(_ text: String) -> String {
        capped(JSONValue.string(text).jsonString)
    }

    /// `value` as capped compact JSON for messages.
    static func preview(_ value: JSONValue) -> String {
        capped(value.jsonString)
    }

    /// "1 item", "2 items": `count` with the noun in singular or plural.
    static func count(_ count: Int, _ singular: String, _ plural: String) -> String {
        "\(count) \(count == 1 ? singular : plural)"
    }
}
