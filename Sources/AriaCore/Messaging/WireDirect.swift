import Foundation

/// A value that writes its own compact JSON: exactly the bytes ``WireEncoder`` writes for it through
/// `Encodable` (sorted keys, `nil` left out), without building the tree. For the messages on every job's
/// path (run events); `WireDirectTests` compares both encodings field by field.
public protocol WireDirectEncodable: Encodable {
    /// Appends this value's JSON.
    func writeWire(to output: inout [UInt8]) throws
}

/// Writes one JSON object's members in the order given, which must be the keys' sorted (UTF-8) order.
struct WireObjectWriter {
    private var first = true

    /// Writes `"key":` (with the separating comma after the first member).
    private mutating func key(_ key: StaticString, to output: inout [UInt8]) {
        output.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
        first = false
        output.append(UInt8(ascii: "\""))
        output.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        output.append(contentsOf: "\":".utf8)
    }

    mutating func string(_ name: StaticString, _ value: String?, to output: inout [UInt8]) {
        guard let value else { return }
        key(name, to: &output)
        WireText.writeString(value, to: &output)
    }

    mutating func integer(_ name: StaticString, _ value: Int64?, to output: inout [UInt8]) {
        guard let value else { return }
        key(name, to: &output)
        WireText.writeInteger(value, to: &output)
    }

    mutating func date(_ name: StaticString, _ value: Date?, to output: inout [UInt8]) {
        guard let value else { return }
        key(name, to: &output)
        WireText.writeString(Timestamp.format(value), to: &output)
    }

    mutating func json(_ name: StaticString, _ value: JSONValue?, to output: inout [UInt8]) throws {
        guard let value else { return }
        key(name, to: &output)
        try WireText.writeJSON(value, to: &output)
    }

    /// Any other `Encodable` member, through the tree encoder.
    mutating func encoded<T: Encodable>(_ name: StaticString, _ value: T?, to output: inout [UInt8]) throws {
        guard let value else { return }
        key(name, to: &output)
        try WireEncoderState.node(for: value, parent: nil, key: nil).write(to: &output)
    }

    mutating func direct<T: WireDirectEncodable>(_ name: StaticString, _ value: T, to output: inout [UInt8]) throws {
        key(name, to: &output)
        try value.writeWire(to: &output)
    }

    /// Closes the object (`{}` when no member was written).
    func end(to output: inout [UInt8]) {
        if first { output.append(UInt8(ascii: "{")) }
        output.append(UInt8(ascii: "}"))
    }
}

extension RunEventBody: WireDirectEncodable {
    /// Writes the body's members in sorted key order.
    public func writeWire(to output: inout [UInt8]) throws {
        var object = WireObjectWriter()
        object.integer("attempt", attempt.map(Int64.init), to: &output)
        try object.encoded("error", error, to: &output)
        object.string("idempotency_key", idempotencyKey, to: &output)
        object.string("kind", kind.rawValue, to: &output)
        object.date("not_before", notBefore, to: &output)
        try object.json("output", self.output, to: &output)
        object.string("parent_run", parentRun?.description, to: &output)
        object.string("reason", reason, to: &output)
        object.string("skill", skill, to: &output)
        object.string("status", status?.rawValue, to: &output)
        object.string("step", step?.rawValue, to: &output)
        object.end(to: &output)
    }
}

extension Envelope: WireDirectEncodable where Body: WireDirectEncodable {
    /// Writes the envelope's members in sorted key order, the body through its own writer.
    public func writeWire(to output: inout [UInt8]) throws {
        var object = WireObjectWriter()
        object.integer("attempt", attempt.map(Int64.init), to: &output)
        try object.direct("body", body, to: &output)
        object.date("created_at", createdAt, to: &output)
        object.date("deadline", deadline, to: &output)
        object.integer("fencing_token", fencingToken, to: &output)
        object.string("run", run?.description, to: &output)
        object.integer("seq", seq, to: &output)
        object.string("step", step?.rawValue, to: &output)
        object.string("tenant", tenant.rawValue, to: &output)
        object.string("traceparent", traceparent, to: &output)
        object.string("type", type.rawValue, to: &output)
        object.integer("version", Int64(version), to: &output)
        object.end(to: &output)
    }
}

extension WireEncoder {
    /// Encodes a value that writes its own JSON (the same bytes as the `Encodable` path, faster).
    public static func encode<T: WireDirectEncodable>(_ value: T) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(384)
        try value.writeWire(to: &output)
        return output
    }
}

extension Wire {
    /// Encodes a value that writes its own JSON (``WireDirectEncodable``): the bytes of ``encode(_:)-generic``
    /// for any other `Encodable`, without the tree.
    public static func encode<T: WireDirectEncodable>(_ value: T) throws -> [UInt8] {
        try WireEncoder.encode(value)
    }
}
