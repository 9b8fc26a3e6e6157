import Foundation

/// Decodes `Decodable` values from JSON bytes: parses strictly with `JSONValue(parsing:maxDepth:)`, then walks the tree.
///
/// A drop-in replacement for the `JSONDecoder` that ``Wire`` configures: keys are used as is, dates are
/// RFC 3339 strings read with ``Timestamp/parse(_:)``, unknown keys are ignored, and the errors are the
/// `DecodingError`s `JSONDecoder` throws, with the same coding paths and wordings. Differences:
/// - the parser is stricter (see `JSONValue(parsing:maxDepth:)`): duplicate keys, trailing commas, invalid
///   UTF-8, a byte-order mark or UTF-16/32 input, and numbers outside the `Double` range are malformed JSON;
/// - a number that does not fit the requested numeric type is `dataCorrupted` at the value's coding path,
///   "Number <x> is not representable in Swift." (`JSONDecoder` reports it at the root as invalid JSON);
/// - a `JSONValue` is the parsed subtree as is, so `1.0` stays ``JSONValue/double(_:)``;
/// - integers beyond `Int64`, and numbers with a fraction or exponent, reach the decoder as `Double`s: a
///   `UInt64` above `Int64.max` decodes only when a `Double` holds it exactly (`UInt64.max` does not), and
///   such literals may be rounded to the nearest `Double` first (`-9223372036854775809` decodes as
///   `Int64.min`, `-9.2233720368547758e18` too, where `JSONDecoder` reads the decimal digits exactly);
/// - `allKeys` of a keyed container are in dictionary order, not document order.
public enum WireDecoder {
    /// The nesting limit (Foundation's JSONDecoder also stops at 512).
    public static let maxDepth = 512

    /// Parses `bytes` strictly and decodes a `T` from the result.
    ///
    /// - Throws: `DecodingError.dataCorrupted` with the ``JSONParseError`` as underlying error when the bytes are
    ///   not valid JSON, else the `DecodingError` of the first value that does not fit `T`.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: bytes, maxDepth: maxDepth)
        } catch {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: [], debugDescription: "The given data was not valid JSON: \(error)", underlyingError: error))
        }
        return try decode(type, from: value)
    }

    /// Decodes from an already parsed value.
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try WireTreeDecoder.unwrap(value, as: T.self, parent: nil, component: .here)
    }
}

/// Implemented by decoders that hold a parsed `JSONValue`, so that `JSONValue.init(from:)` can take the
/// current subtree as is instead of probing the decoder type by type.
protocol JSONValueDecoding {
    /// The value the decoder is positioned at.
    var currentJSONValue: JSONValue { get }
}

// MARK: - Coding paths

/// How a decoder's value is reached from its parent; the chain of decoders is the coding path.
enum WireDecodingPathComponent {
    /// No step: the top-level value, or the decoder's own value.
    case here
    /// An object member.
    case key(any CodingKey)
    /// An array element.
    case index(Int)
    /// The `super` member of `superDecoder()` on a keyed container.
    case superKey

    /// The coding key of this step, if it is one.
    var codingKey: (any CodingKey)? {
        switch self {
        case .here: return nil
        case .key(let key): return key
        case .index(let index): return WireDecodingKey(index: index)
        case .superKey: return WireDecodingKey(stringValue: "super")
        }
    }
}

/// The coding keys the decoder makes up itself: `Index N` for array elements (like `JSONDecoder`), and `super`.
struct WireDecodingKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }

    /// The key of the array element at `index`: `Index <index>`, with that int value.
    init(index: Int) {
        self.stringValue = "Index \(index)"
        self.intValue = index
    }

    /// The key of a member decoded as a `Dictionary` value: the member name, with its int value if it has one
    /// (as the standard library's dictionary key).
    init(dictionaryKey: String) {
        self.stringValue = dictionaryKey
        self.intValue = Int(dictionaryKey)
    }
}

// MARK: - The decoder

/// A `Decoder` over one node of a parsed `JSONValue` tree.
///
/// One is made for each nested value decoded through its type's `init(from:)`; it is also the coding-path node
/// (parent and step), so a path is only materialized when asked for, typically for an error.
/// Primitives, `Date`, `JSONValue` and a few common collections are read straight from the tree without a
/// decoder (see `unwrap(_:as:parent:component:reusing:)`).
final class WireTreeDecoder: Decoder, JSONValueDecoding {
    /// The value this decoder decodes.
    let value: JSONValue
    /// The decoder of the enclosing container, or nil at the top level.
    let parent: WireTreeDecoder?
    /// The step from `parent` to `value`.
    let component: WireDecodingPathComponent

    init(value: JSONValue, parent: WireTreeDecoder?, component: WireDecodingPathComponent) {
        self.value = value
        self.parent = parent
        self.component = component
    }

    var currentJSONValue: JSONValue { value }

    var codingPath: [any CodingKey] { Self.path(parent, component) }

    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else {
            throw Self.containerError([String: Any].self, value, path: codingPath, kind: "keyed")
        }
        return KeyedDecodingContainer(WireDecodingKeyedContainer<Key>(decoder: self, object: object))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else {
            throw Self.containerError([Any].self, value, path: codingPath, kind: "unkeyed")
        }
        return WireDecodingUnkeyedContainer(decoder: self, elements: elements)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        WireDecodingSingleValueContainer(decoder: self)
    }

    // MARK: Paths

    /// The coding path of `component` below `parent`.
    static func path(_ parent: WireTreeDecoder?, _ component: WireDecodingPathComponent) -> [any CodingKey] {
        var keys: [any CodingKey] = []
        if let key = component.codingKey { keys.append(key) }
        var node = parent
        while let current = node {
            if let key = current.component.codingKey { keys.append(key) }
            node = current.parent
        }
        keys.reverse()
        return keys
    }

    /// The coding path of `component` below this decoder's value.
    func path(appending component: WireDecodingPathComponent) -> [any CodingKey] {
        Self.path(self, component)
    }

    // MARK: Generic values

    /// Decodes a `T` from `value`, reached from `parent` by `component`.
    ///
    /// `JSONValue`, `Date`, the common primitives and a few common collections (array elements, dictionary
    /// values and fields reached through generic code) are read straight from the tree; every other type gets
    /// `existing` (a single value container's own decoder) or a new decoder. The checks compare metatypes
    /// only: no dynamic casts, and no `T?` (whose metadata would be looked up at run time on every call).
    static func unwrap<T: Decodable>(
        _ value: JSONValue, as type: T.Type, parent: WireTreeDecoder?, component: WireDecodingPathComponent,
        reusing existing: WireTreeDecoder? = nil
    ) throws -> T {
        // Each `unsafeBitCast` converts a value to the type `T` was just compared equal to.
        if T.self == JSONValue.self {
            return unsafeBitCast(value, to: T.self)
        }
        if T.self == String.self {
            return unsafeBitCast(try primitive(value, parent: parent, component: component, WireDecodingConvert.string), to: T.self)
        }
        if T.self == Date.self {
            return unsafeBitCast(try date(value, parent: parent, component: component), to: T.self)
        }
        if T.self == Int.self {
            return unsafeBitCast(try primitive(value, parent: parent, component: component) { WireDecodingConvert.integer($0, as: Int.self) }, to: T.self)
        }
        if T.self == Int64.self {
            return unsafeBitCast(try primitive(value, parent: parent, component: component) { WireDecodingConvert.integer($0, as: Int64.self) }, to: T.self)
        }
        if T.self == Double.self {
            return unsafeBitCast(try primitive(value, parent: parent, component: component, WireDecodingConvert.double), to: T.self)
        }
        if T.self == Bool.self {
            return unsafeBitCast(try primitive(value, parent: parent, component: component, WireDecodingConvert.bool), to: T.self)
        }
        if T.self == [String: JSONValue].self {
            guard case .object(let members) = value else {
                throw containerError([String: Any].self, value, path: path(parent, component), kind: "keyed")
            }
            return unsafeBitCast(members, to: T.self)
        }
        if T.self == [JSONValue].self {
            guard case .array(let elements) = value else {
                throw containerError([Any].self, value, path: path(parent, component), kind: "unkeyed")
            }
            return unsafeBitCast(elements, to: T.self)
        }
        if T.self == [String: String].self {
            return unsafeBitCast(try dictionary(value, parent: parent, component: component, WireDecodingConvert.string), to: T.self)
        }
        if T.self == [String].self {
            return unsafeBitCast(try array(value, parent: parent, component: component, WireDecodingConvert.string), to: T.self)
        }
        if T.self == [Int].self {
            return unsafeBitCast(try array(value, parent: parent, component: component) { WireDecodingConvert.integer($0, as: Int.self) }, to: T.self)
        }
        return try T(from: existing ?? WireTreeDecoder(value: value, parent: parent, component: component))
    }

    /// Decodes a `T` from this decoder's own value (a single value container's generic `decode`).
    @inline(__always)
    func unwrapSelf<T: Decodable>(as type: T.Type) throws -> T {
        try Self.unwrap(value, as: T.self, parent: parent, component: component, reusing: self)
    }

    /// An object's members converted with `convert`: what `Dictionary<String, V>.init(from:)` gives, errors included.
    static func dictionary<V>(
        _ value: JSONValue, parent: WireTreeDecoder?, component: WireDecodingPathComponent, _ convert: (JSONValue) -> V?
    ) throws -> [String: V] {
        guard case .object(let members) = value else {
            throw containerError([String: Any].self, value, path: path(parent, component), kind: "keyed")
        }
        var result: [String: V] = [:]
        result.reserveCapacity(members.count)
        for (key, member) in members {
            guard let converted = convert(member) else {
                throw conversionError(member, V.self, path: path(parent, component) + [WireDecodingKey(dictionaryKey: key)])
            }
            result[key] = converted
        }
        return result
    }

    /// An array's elements converted with `convert`: what `Array<V>.init(from:)` gives, errors included.
    static func array<V>(
        _ value: JSONValue, parent: WireTreeDecoder?, component: WireDecodingPathComponent, _ convert: (JSONValue) -> V?
    ) throws -> [V] {
        guard case .array(let elements) = value else {
            throw containerError([Any].self, value, path: path(parent, component), kind: "unkeyed")
        }
        var result: [V] = []
        result.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard let converted = convert(element) else {
                throw conversionError(element, V.self, path: path(parent, component) + [WireDecodingKey(index: index)])
            }
            result.append(converted)
        }
        return result
    }

    /// Converts `value` with `convert`, or throws the error `JSONDecoder` gives for that value and type.
    @inline(__always)
    static func primitive<T>(
        _ value: JSONValue, parent: WireTreeDecoder?, component: WireDecodingPathComponent, _ convert: (JSONValue) -> T?
    ) throws -> T {
        if let result = convert(value) { return result }
        throw conversionError(value, T.self, path: path(parent, component))
    }

    /// Reads a date the way ``Wire`` configures `JSONDecoder`: an RFC 3339 string parsed by ``Timestamp/parse(_:)``.
    static func date(_ value: JSONValue, parent: WireTreeDecoder?, component: WireDecodingPathComponent) throws -> Date {
        switch value {
        case .string(let text):
            if let date = Timestamp.parse(text) { return date }
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: path(parent, component), debugDescription: "not an RFC 3339 timestamp: \(text.prefix(40))"))
        case .null:
            throw conversionError(value, Date.self, path: path(parent, component))
        default:
            // The strategy reads a String, so that is the type reported.
            throw conversionError(value, String.self, path: path(parent, component))
        }
    }

    // MARK: Errors (JSONDecoder's wordings)

    /// What `JSONDecoder` calls the kind of `value` in a type mismatch.
    static func kindDescription(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "bool"
        case .int, .double: return "number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "a dictionary"
        }
    }

    /// The error for a primitive `type` that cannot be read from `value`: `valueNotFound` for null (but
    /// `typeMismatch` for a `Bool`, as `JSONDecoder`), `dataCorrupted` for a number the (numeric) type cannot
    /// represent, else `typeMismatch`.
    @inline(never)
    static func conversionError(_ value: JSONValue, _ type: Any.Type, path: [any CodingKey]) -> DecodingError {
        let isNumeric = type != Bool.self && type != String.self && type != Date.self
        switch value {
        case .null where type != Bool.self:
            return DecodingError.valueNotFound(type, DecodingError.Context(
                codingPath: path, debugDescription: "Cannot get value of type \(type) -- found null value instead"))
        case .int(let number) where isNumeric:
            return DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: path, debugDescription: "Number \(number) is not representable in Swift."))
        case .double(let number) where isNumeric:
            return DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: path, debugDescription: "Number \(number) is not representable in Swift."))
        default:
            return DecodingError.typeMismatch(type, DecodingError.Context(
                codingPath: path, debugDescription: "Expected to decode \(type) but found \(kindDescription(value)) instead."))
        }
    }

    /// The error for a keyed or unkeyed container requested on a value of another kind.
    @inline(never)
    static func containerError(_ type: Any.Type, _ value: JSONValue, path: [any CodingKey], kind: String) -> DecodingError {
        if case .null = value {
            return DecodingError.valueNotFound(type, DecodingError.Context(
                codingPath: path, debugDescription: "Cannot get \(kind) decoding container -- found null value instead"))
        }
        return DecodingError.typeMismatch(type, DecodingError.Context(
            codingPath: path, debugDescription: "Expected to decode \(type) but found \(kindDescription(value)) instead."))
    }
}

// MARK: - Conversions

/// Reads primitives out of `JSONValue`s; nil when the value is of another kind or out of range.
enum WireDecodingConvert {
    @inline(__always)
    static func bool(_ value: JSONValue) -> Bool? {
        if case .bool(let bool) = value { return bool }
        return nil
    }

    @inline(__always)
    static func string(_ value: JSONValue) -> String? {
        if case .string(let string) = value { return string }
        return nil
    }

    /// An integer from `.int` in range, or from an integral `.double` exactly representable in `I` (`1.0`, `1e2`).
    @inline(__always)
    static func integer<I: FixedWidthInteger>(_ value: JSONValue, as type: I.Type) -> I? {
        switch value {
        case .int(let number): return I(exactly: number)
        case .double(let number): return I(exactly: number)
        default: return nil
        }
    }

    @inline(__always)
    static func double(_ value: JSONValue) -> Double? {
        switch value {
        case .double(let number): return number
        case .int(let number): return Double(number)
        default: return nil
        }
    }

    /// A `Float`, rounded; nil when the number overflows to infinity or a non-zero number underflows to zero
    /// (as `JSONDecoder`).
    @inline(__always)
    static func float(_ value: JSONValue) -> Float? {
        switch value {
        case .double(let number):
            let float = Float(number)
            return float.isFinite && (float != 0 || number == 0) ? float : nil
        case .int(let number):
            return Float(number)
        default:
            return nil
        }
    }
}

// MARK: - Keyed container

/// A keyed container over an object's members; looks keys up by their `stringValue`, ignores unknown members.
struct WireDecodingKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// The decoder of the object (the container's coding path).
    let decoder: WireTreeDecoder
    /// The members.
    let object: [String: JSONValue]

    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    /// The member for `key`, or `keyNotFound`.
    @inline(__always)
    private func value(for key: Key) throws -> JSONValue {
        if let value = object[key.stringValue] { return value }
        throw keyNotFound(key)
    }

    @inline(never)
    private func keyNotFound(_ key: Key) -> DecodingError {
        DecodingError.keyNotFound(key, DecodingError.Context(
            codingPath: decoder.codingPath, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
    }

    /// The member for `key` converted with `convert`.
    @inline(__always)
    private func primitive<T>(_ key: Key, _ convert: (JSONValue) -> T?) throws -> T {
        let value = try value(for: key)
        if let result = convert(value) { return result }
        throw WireTreeDecoder.conversionError(value, T.self, path: decoder.path(appending: .key(key)))
    }

    /// The member for `key` converted with `convert`, or nil when it is missing or null.
    @inline(__always)
    private func primitiveIfPresent<T>(_ key: Key, _ convert: (JSONValue) -> T?) throws -> T? {
        guard let value = object[key.stringValue] else { return nil }
        if let result = convert(value) { return result }
        if case .null = value { return nil }
        throw WireTreeDecoder.conversionError(value, T.self, path: decoder.path(appending: .key(key)))
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(for: key) { return true }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try primitive(key, WireDecodingConvert.bool) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try primitive(key, WireDecodingConvert.string) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try primitive(key, WireDecodingConvert.double) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try primitive(key, WireDecodingConvert.float) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try primitive(key) { WireDecodingConvert.integer($0, as: Int.self) } }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try primitive(key) { WireDecodingConvert.integer($0, as: Int8.self) } }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try primitive(key) { WireDecodingConvert.integer($0, as: Int16.self) } }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try primitive(key) { WireDecodingConvert.integer($0, as: Int32.self) } }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try primitive(key) { WireDecodingConvert.integer($0, as: Int64.self) } }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { try primitive(key) { WireDecodingConvert.integer($0, as: Int128.self) } }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try primitive(key) { WireDecodingConvert.integer($0, as: UInt.self) } }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try primitive(key) { WireDecodingConvert.integer($0, as: UInt8.self) } }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try primitive(key) { WireDecodingConvert.integer($0, as: UInt16.self) } }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try primitive(key) { WireDecodingConvert.integer($0, as: UInt32.self) } }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try primitive(key) { WireDecodingConvert.integer($0, as: UInt64.self) } }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { try primitive(key) { WireDecodingConvert.integer($0, as: UInt128.self) } }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try WireTreeDecoder.unwrap(try value(for: key), as: T.self, parent: decoder, component: .key(key))
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try primitiveIfPresent(key, WireDecodingConvert.bool) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try primitiveIfPresent(key, WireDecodingConvert.string) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try primitiveIfPresent(key, WireDecodingConvert.double) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try primitiveIfPresent(key, WireDecodingConvert.float) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: Int.self) } }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: Int8.self) } }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: Int16.self) } }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: Int32.self) } }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: Int64.self) } }
    func decodeIfPresent(_ type: Int128.Type, forKey key: Key) throws -> Int128? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: Int128.self) } }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: UInt.self) } }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: UInt8.self) } }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: UInt16.self) } }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: UInt32.self) } }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: UInt64.self) } }
    func decodeIfPresent(_ type: UInt128.Type, forKey key: Key) throws -> UInt128? { try primitiveIfPresent(key) { WireDecodingConvert.integer($0, as: UInt128.self) } }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = object[key.stringValue] else { return nil }
        if case .null = value { return nil }
        return try WireTreeDecoder.unwrap(value, as: T.self, parent: decoder, component: .key(key))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try WireTreeDecoder(value: try value(for: key), parent: decoder, component: .key(key)).container(keyedBy: NestedKey.self)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try WireTreeDecoder(value: try value(for: key), parent: decoder, component: .key(key)).unkeyedContainer()
    }

    /// A decoder for the `super` member (null when absent).
    func superDecoder() throws -> any Decoder {
        WireTreeDecoder(value: object["super"] ?? .null, parent: decoder, component: .superKey)
    }

    /// A decoder for the member `key` (null when absent).
    func superDecoder(forKey key: Key) throws -> any Decoder {
        WireTreeDecoder(value: object[key.stringValue] ?? .null, parent: decoder, component: .key(key))
    }
}

// MARK: - Unkeyed container

/// An unkeyed container over an array's elements.
struct WireDecodingUnkeyedContainer: UnkeyedDecodingContainer {
    /// The decoder of the array (the container's coding path).
    let decoder: WireTreeDecoder
    /// The elements.
    let elements: [JSONValue]
    /// The index of the next element to decode.
    private(set) var currentIndex = 0

    init(decoder: WireTreeDecoder, elements: [JSONValue]) {
        self.decoder = decoder
        self.elements = elements
    }

    var codingPath: [any CodingKey] { decoder.codingPath }

    var count: Int? { elements.count }

    var isAtEnd: Bool { currentIndex >= elements.count }

    /// The error for reading past the last element.
    @inline(never)
    private func atEnd(_ type: Any.Type, _ description: String = "Unkeyed container is at end.") -> DecodingError {
        DecodingError.valueNotFound(type, DecodingError.Context(
            codingPath: decoder.path(appending: .index(currentIndex)), debugDescription: description))
    }

    /// The next element converted with `convert`; advances only on success.
    @inline(__always)
    private mutating func primitive<T>(_ convert: (JSONValue) -> T?) throws -> T {
        guard currentIndex < elements.count else { throw atEnd(T.self) }
        let value = elements[currentIndex]
        guard let result = convert(value) else {
            throw WireTreeDecoder.conversionError(value, T.self, path: decoder.path(appending: .index(currentIndex)))
        }
        currentIndex += 1
        return result
    }

    /// Consumes the next element if it is null.
    mutating func decodeNil() throws -> Bool {
        guard currentIndex < elements.count else { throw atEnd(Never.self) }
        if case .null = elements[currentIndex] {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try primitive(WireDecodingConvert.bool) }
    mutating func decode(_ type: String.Type) throws -> String { try primitive(WireDecodingConvert.string) }
    mutating func decode(_ type: Double.Type) throws -> Double { try primitive(WireDecodingConvert.double) }
    mutating func decode(_ type: Float.Type) throws -> Float { try primitive(WireDecodingConvert.float) }
    mutating func decode(_ type: Int.Type) throws -> Int { try primitive { WireDecodingConvert.integer($0, as: Int.self) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try primitive { WireDecodingConvert.integer($0, as: Int8.self) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try primitive { WireDecodingConvert.integer($0, as: Int16.self) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try primitive { WireDecodingConvert.integer($0, as: Int32.self) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try primitive { WireDecodingConvert.integer($0, as: Int64.self) } }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { try primitive { WireDecodingConvert.integer($0, as: Int128.self) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try primitive { WireDecodingConvert.integer($0, as: UInt.self) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try primitive { WireDecodingConvert.integer($0, as: UInt8.self) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try primitive { WireDecodingConvert.integer($0, as: UInt16.self) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try primitive { WireDecodingConvert.integer($0, as: UInt32.self) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try primitive { WireDecodingConvert.integer($0, as: UInt64.self) } }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { try primitive { WireDecodingConvert.integer($0, as: UInt128.self) } }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard currentIndex < elements.count else { throw atEnd(T.self) }
        let result = try WireTreeDecoder.unwrap(elements[currentIndex], as: T.self, parent: decoder, component: .index(currentIndex))
        currentIndex += 1
        return result
    }

    /// A decoder positioned at the next element, consuming it.
    private mutating func nextDecoder(_ type: Any.Type, _ description: String = "Unkeyed container is at end.") throws -> WireTreeDecoder {
        guard currentIndex < elements.count else { throw atEnd(type, description) }
        let element = WireTreeDecoder(value: elements[currentIndex], parent: decoder, component: .index(currentIndex))
        currentIndex += 1
        return element
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        guard currentIndex < elements.count else { throw atEnd(KeyedDecodingContainer<NestedKey>.self) }
        let container = try WireTreeDecoder(value: elements[currentIndex], parent: decoder, component: .index(currentIndex))
            .container(keyedBy: NestedKey.self)
        currentIndex += 1
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard currentIndex < elements.count else { throw atEnd((any UnkeyedDecodingContainer).self) }
        let container = try WireTreeDecoder(value: elements[currentIndex], parent: decoder, component: .index(currentIndex))
            .unkeyedContainer()
        currentIndex += 1
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        try nextDecoder((any Decoder).self, "Cannot get superDecoder() -- unkeyed container is at end.")
    }
}

// MARK: - Single value container

/// A single value container over the decoder's own value.
struct WireDecodingSingleValueContainer: SingleValueDecodingContainer {
    /// The decoder (its value and coding path).
    let decoder: WireTreeDecoder

    var codingPath: [any CodingKey] { decoder.codingPath }

    /// The value converted with `convert`.
    @inline(__always)
    private func primitive<T>(_ convert: (JSONValue) -> T?) throws -> T {
        try WireTreeDecoder.primitive(decoder.value, parent: decoder.parent, component: decoder.component, convert)
    }

    func decodeNil() -> Bool {
        if case .null = decoder.value { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool { try primitive(WireDecodingConvert.bool) }
    func decode(_ type: String.Type) throws -> String { try primitive(WireDecodingConvert.string) }
    func decode(_ type: Double.Type) throws -> Double { try primitive(WireDecodingConvert.double) }
    func decode(_ type: Float.Type) throws -> Float { try primitive(WireDecodingConvert.float) }
    func decode(_ type: Int.Type) throws -> Int { try primitive { WireDecodingConvert.integer($0, as: Int.self) } }
    func decode(_ type: Int8.Type) throws -> Int8 { try primitive { WireDecodingConvert.integer($0, as: Int8.self) } }
    func decode(_ type: Int16.Type) throws -> Int16 { try primitive { WireDecodingConvert.integer($0, as: Int16.self) } }
    func decode(_ type: Int32.Type) throws -> Int32 { try primitive { WireDecodingConvert.integer($0, as: Int32.self) } }
    func decode(_ type: Int64.Type) throws -> Int64 { try primitive { WireDecodingConvert.integer($0, as: Int64.self) } }
    func decode(_ type: Int128.Type) throws -> Int128 { try primitive { WireDecodingConvert.integer($0, as: Int128.self) } }
    func decode(_ type: UInt.Type) throws -> UInt { try primitive { WireDecodingConvert.integer($0, as: UInt.self) } }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try primitive { WireDecodingConvert.integer($0, as: UInt8.self) } }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try primitive { WireDecodingConvert.integer($0, as: UInt16.self) } }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try primitive { WireDecodingConvert.integer($0, as: UInt32.self) } }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try primitive { WireDecodingConvert.integer($0, as: UInt64.self) } }
    func decode(_ type: UInt128.Type) throws -> UInt128 { try primitive { WireDecodingConvert.integer($0, as: UInt128.self) } }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decoder.unwrapSelf(as: T.self)
    }
}
