import Foundation

/// Encodes `Encodable` values as compact JSON bytes, byte for byte as Foundation's `JSONEncoder` with
/// `[.sortedKeys, .withoutEscapingSlashes]` and RFC 3339 dates (``Timestamp/format(_:)``) writes them, at a
/// fraction of its cost.
///
/// The output rules (tested against `JSONEncoder` in `WireEncoderTests`):
/// - no whitespace; object keys sorted by their UTF-8 bytes;
/// - strings escape only `"`, `\` and U+0000–U+001F (`\b \t \n \f \r`, otherwise lowercase `\u00xx`);
/// - integers in decimal; floating-point numbers in Swift's shortest round-trip form with a trailing `.0`
///   dropped (`1`, `0.5`, `1e+16`); non-finite numbers are an `EncodingError.invalidValue`;
/// - `nil` optionals are left out of objects and written as `null` in arrays;
/// - a value that encodes nothing is `{}`, or an `EncodingError.invalidValue` at the top level.
public enum WireEncoder {
    /// Encodes `value` as compact JSON.
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let node = try WireEncoderState.node(for: value, parent: nil, key: nil, topLevel: true)
        var output: [UInt8] = []
        output.reserveCapacity(256)
        try node.write(to: &output)
        return output
    }
}

// MARK: - The tree of a value being encoded

/// A value being encoded: a scalar, or a container that may still be filled.
enum WireNode {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case float(Float)
    case string(String)
    case json(JSONValue)
    case object(WireObject)
    case array(WireArray)

    /// Appends the JSON of this node.
    func write(to output: inout [UInt8]) throws {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): WireText.writeInteger(value, to: &output)
        case .uint(let value): WireText.writeUnsigned(value, to: &output)
        case .double(let value):
            guard value.isFinite else { throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Unable to encode Double.\(value) directly in JSON.")) }
            WireText.writeFloatingPoint(value.description, to: &output)
        case .float(let value):
            guard value.isFinite else { throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Unable to encode Float.\(value) directly in JSON.")) }
            WireText.writeFloatingPoint(value.description, to: &output)
        case .string(let value): WireText.writeString(value, to: &output)
        case .json(let value): try WireText.writeJSON(value, to: &output)
        case .object(let object):
            output.append(UInt8(ascii: "{"))
            let keys = object.keys
            var order = Array(keys.indices)
            if order.count > 1 { order.sort { keys[$0].utf8.lexicographicallyPrecedes(keys[$1].utf8) } }
            for (position, index) in order.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                WireText.writeString(keys[index], to: &output)
                output.append(UInt8(ascii: ":"))
                try object.values[index].write(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        case .array(let array):
            output.append(UInt8(ascii: "["))
            for (index, element) in array.values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                try element.write(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        }
    }
}

/// An object's members in the order they were encoded (sorted when written).
final class WireObject {
    var keys: [String] = []
    var values: [WireNode] = []
    init() {}

    func set(_ key: String, _ value: WireNode) {
        keys.append(key)
        values.append(value)
    }
}

/// An array's elements.
final class WireArray {
    var values: [WireNode] = []
    init() {}
}

// MARK: - Encoder

/// The `Encoder` handed to `encode(to:)`: records what the value stores as a ``WireNode``.
final class WireEncoderState: Encoder {
    let parent: WireEncoderState?
    let key: (any CodingKey)?
    var node: WireNode?
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(parent: WireEncoderState?, key: (any CodingKey)?) {
        self.parent = parent
        self.key = key
    }

    var codingPath: [any CodingKey] {
        var path: [any CodingKey] = []
        var current: WireEncoderState? = self
        while let state = current, let key = state.key {
            path.append(key)
            current = state.parent
        }
        return path.reversed()
    }

    /// The node of `value`: primitives and dates directly, anything else through its `encode(to:)`.
    static func node<T: Encodable>(for value: T, parent: WireEncoderState?, key: (any CodingKey)?, topLevel: Bool = false) throws -> WireNode {
        // Exact type checks (metadata comparisons), so the bit casts below are sound.
        if T.self == String.self { return .string(unsafeBitCast(value, to: String.self)) }
        if T.self == Date.self { return .string(Timestamp.format(unsafeBitCast(value, to: Date.self))) }
        if T.self == JSONValue.self { return .json(unsafeBitCast(value, to: JSONValue.self)) }
        if T.self == Int.self { return .int(Int64(unsafeBitCast(value, to: Int.self))) }
        if T.self == Int64.self { return .int(unsafeBitCast(value, to: Int64.self)) }
        if T.self == Bool.self { return .bool(unsafeBitCast(value, to: Bool.self)) }
        if T.self == Double.self { return .double(unsafeBitCast(value, to: Double.self)) }
        let encoder = WireEncoderState(parent: parent, key: key)
        try value.encode(to: encoder)
        if let node = encoder.node { return node }
        if topLevel { throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values.")) }
        return .object(WireObject())
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object: WireObject
        if case .object(let existing) = node {
            object = existing
        } else {
            object = WireObject()
            node = .object(object)
        }
        return KeyedEncodingContainer(WireKeyedContainer<Key>(encoder: self, object: object))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array: WireArray
        if case .array(let existing) = node {
            array = existing
        } else {
            array = WireArray()
            node = .array(array)
        }
        return WireUnkeyedContainer(encoder: self, array: array)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { WireSingleValueContainer(encoder: self) }
}

/// The coding key of an array element or a `super` encoder.
struct WireIndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = "Index \(intValue)"
        self.intValue = intValue
    }
    static let superKey = WireIndexKey(stringValue: "super")
}

/// A `super` encoder's node, put in its place once the encoder is done with it.
private final class WireDeferredNode {
    let encoder: WireEncoderState
    init(_ encoder: WireEncoderState) { self.encoder = encoder }
}

struct WireKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: WireEncoderState
    let object: WireObject
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil(forKey key: Key) throws { object.set(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { object.set(key.stringValue, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { object.set(key.stringValue, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { object.set(key.stringValue, .double(value)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { object.set(key.stringValue, .float(value)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { object.set(key.stringValue, .int(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { object.set(key.stringValue, .uint(value)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        object.set(key.stringValue, try WireEncoderState.node(for: value, parent: encoder, key: key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = WireObject()
        object.set(key.stringValue, .object(nested))
        return KeyedEncodingContainer(WireKeyedContainer<NestedKey>(encoder: WireEncoderState(parent: encoder, key: key), object: nested))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = WireArray()
        object.set(key.stringValue, .array(nested))
        return WireUnkeyedContainer(encoder: WireEncoderState(parent: encoder, key: key), array: nested)
    }

    mutating func superEncoder() -> any Encoder { superEncoder(named: WireIndexKey.superKey) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key) }

    private func superEncoder(named key: any CodingKey) -> any Encoder {
        // A placeholder member (`{}` if the super encoder stores nothing), replaced by what it stores.
        let (object, slot) = (object, object.keys.count)
        object.set(key.stringValue, .object(WireObject()))
        return WireSuperEncoder(parent: encoder, key: key) { object.values[slot] = $0 }
    }
}

/// A `superEncoder()`: whatever it stores replaces the placeholder its container made for it (`place`).
final class WireSuperEncoder: Encoder {
    let state: WireEncoderState
    let place: (WireNode) -> Void
    var codingPath: [any CodingKey] { state.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(parent: WireEncoderState, key: any CodingKey, place: @escaping (WireNode) -> Void) {
        state = WireEncoderState(parent: parent, key: key)
        self.place = place
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let container = state.container(keyedBy: type)
        place(state.node ?? .null)
        return container
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let container = state.unkeyedContainer()
        place(state.node ?? .null)
        return container
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        WireSingleValueContainer(encoder: state, onStore: place)
    }
}

struct WireUnkeyedContainer: UnkeyedEncodingContainer {
    let encoder: WireEncoderState
    let array: WireArray
    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int { array.values.count }

    mutating func encodeNil() throws { array.values.append(.null) }
    mutating func encode(_ value: Bool) throws { array.values.append(.bool(value)) }
    mutating func encode(_ value: String) throws { array.values.append(.string(value)) }
    mutating func encode(_ value: Double) throws { array.values.append(.double(value)) }
    mutating func encode(_ value: Float) throws { array.values.append(.float(value)) }
    mutating func encode(_ value: Int) throws { array.values.append(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { array.values.append(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { array.values.append(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { array.values.append(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { array.values.append(.int(value)) }
    mutating func encode(_ value: UInt) throws { array.values.append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { array.values.append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt16) throws { array.values.append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt32) throws { array.values.append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt64) throws { array.values.append(.uint(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = WireIndexKey(intValue: array.values.count)
        array.values.append(try WireEncoderState.node(for: value, parent: encoder, key: key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let key = WireIndexKey(intValue: array.values.count)
        let nested = WireObject()
        array.values.append(.object(nested))
        return KeyedEncodingContainer(WireKeyedContainer<NestedKey>(encoder: WireEncoderState(parent: encoder, key: key), object: nested))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let key = WireIndexKey(intValue: array.values.count)
        let nested = WireArray()
        array.values.append(.array(nested))
        return WireUnkeyedContainer(encoder: WireEncoderState(parent: encoder, key: key), array: nested)
    }

    mutating func superEncoder() -> any Encoder {
        // A placeholder element (`{}` if the super encoder stores nothing), replaced by what it stores.
        let (array, slot) = (array, array.values.count)
        array.values.append(.object(WireObject()))
        return WireSuperEncoder(parent: encoder, key: WireIndexKey(intValue: slot)) { array.values[slot] = $0 }
    }
}

struct WireSingleValueContainer: SingleValueEncodingContainer {
    let encoder: WireEncoderState
    /// Where the value goes besides the encoder's node (super encoders).
    var onStore: ((WireNode) -> Void)? = nil
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func store(_ node: WireNode) {
        encoder.node = node
        onStore?(node)
    }

    mutating func encodeNil() throws { store(.null) }
    mutating func encode(_ value: Bool) throws { store(.bool(value)) }
    mutating func encode(_ value: String) throws { store(.string(value)) }
    mutating func encode(_ value: Double) throws { store(.double(value)) }
    mutating func encode(_ value: Float) throws { store(.float(value)) }
    mutating func encode(_ value: Int) throws { store(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { store(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { store(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { store(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { store(.int(value)) }
    mutating func encode(_ value: UInt) throws { store(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { store(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt16) throws { store(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt32) throws { store(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt64) throws { store(.uint(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        // The value replaces this encoder's node: encode it as if it were this encoder's own value.
        store(try WireEncoderState.node(for: value, parent: encoder.parent, key: encoder.key))
    }
}

// MARK: - Text

/// Writes JSON text the way `JSONEncoder` does.
enum WireText {
    static func writeInteger(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        writeUnsigned(value.magnitude, to: &output)
    }

    static func writeUnsigned(_ value: UInt64, to output: inout [UInt8]) {
        if value < 10 {
            output.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var magnitude = value
        let start = output.count
        while magnitude > 0 {
            output.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        output[start...].reverse()
    }

    /// Swift's shortest round-trip description with a trailing `.0` dropped, as `JSONEncoder` writes it.
    static func writeFloatingPoint(_ description: String, to output: inout [UInt8]) {
        let utf8 = description.utf8
        if utf8.count >= 2, utf8.last == UInt8(ascii: "0"), utf8[utf8.index(utf8.endIndex, offsetBy: -2)] == UInt8(ascii: ".") {
            output.append(contentsOf: utf8.dropLast(2))
        } else {
            output.append(contentsOf: utf8)
        }
    }

    @inline(__always)
    static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// Appends `string` quoted, escaping `"`, `\` and control characters.
    static func writeString(_ string: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var copy = string
        copy.withUTF8 { buffer in
            var segmentStart = 0
            for index in 0..<buffer.count {
                let byte = buffer[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[segmentStart..<index]))
                segmentStart = index + 1
                output.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
                case 0x08: output.append(UInt8(ascii: "b"))
                case 0x0C: output.append(UInt8(ascii: "f"))
                case 0x0A: output.append(UInt8(ascii: "n"))
                case 0x0D: output.append(UInt8(ascii: "r"))
                case 0x09: output.append(UInt8(ascii: "t"))
                default:
                    output.append(contentsOf: "u00".utf8)
                    output.append(hexDigit(byte >> 4))
                    output.append(hexDigit(byte & 0x0F))
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[segmentStart..<buffer.count]))
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Appends a `JSONValue` as its `Codable` conformance would through `JSONEncoder`.
    static func writeJSON(_ value: JSONValue, to output: inout [UInt8]) throws {
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let bool): output.append(contentsOf: (bool ? "true" : "false").utf8)
        case .int(let int): writeInteger(int, to: &output)
        case .double(let double):
            guard double.isFinite else { throw EncodingError.invalidValue(double, .init(codingPath: [], debugDescription: "Unable to encode Double.\(double) directly in JSON.")) }
            writeFloatingPoint(double.description, to: &output)
        case .string(let string): writeString(string, to: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                try writeJSON(element, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            let sorted = members.count > 1 ? members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) } : Array(members)
            for (index, member) in sorted.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                writeString(member.key, to: &output)
                output.append(UInt8(ascii: ":"))
                try writeJSON(member.value, to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }
}
