import Foundation

/// The characters allowed in tenant, agent and step ids: they appear as NATS subject tokens.
public enum SubjectSafeName {
    /// Longest allowed name.
    public static let maxLength = 64

    /// Whether `value` is 1...64 characters of `[a-z0-9_-]`.
    public static func isValid(_ value: String) -> Bool {
        guard !value.isEmpty, value.utf8.count <= maxLength else { return false }
        return value.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F || byte == 0x2D
        }
    }
}

/// A subject-safe name used as an id (`[a-z0-9_-]{1,64}`): validated on creation and when decoded.
public protocol SubjectSafeIdentifier: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The name.
    var rawValue: String { get }
    /// Wraps a name known to be valid (constants, values read back from the store).
    init(trusted rawValue: String)
    /// What the id names, for error messages ("tenant id").
    static var label: String { get }
    /// The error code of an invalid value.
    static var invalidCode: ErrorCode { get }
}

extension SubjectSafeIdentifier {
    /// Validates `rawValue` (`[a-z0-9_-]{1,64}`).
    public init(_ rawValue: String) throws(AriaError) {
        guard SubjectSafeName.isValid(rawValue) else {
            throw AriaError(Self.invalidCode, "\(Self.label) '\(rawValue.prefix(80))' must match [a-z0-9_-]{1,64}")
        }
        self.init(trusted: rawValue)
    }

    /// The name.
    public var description: String { rawValue }

    /// Orders by name.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Decodes and validates.
    public init(from decoder: Decoder) throws {
        let value = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(value) } catch { throw error }
    }

    /// Encodes the name.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A tenant: the unit of isolation on the bus and in the store.
public struct TenantID: SubjectSafeIdentifier {
    /// The subject-safe name.
    public let rawValue: String
    /// Wraps a name known to be valid.
    public init(trusted rawValue: String) { self.rawValue = rawValue }
    /// "tenant id".
    public static let label = "tenant id"
    /// `invalid_job`.
    public static let invalidCode = ErrorCode.invalidJob
}

/// An agent: who a job runs as (its allowlist, model and budget arrive in later issues).
public struct AgentID: SubjectSafeIdentifier {
    /// The subject-safe name.
    public let rawValue: String
    /// Wraps a name known to be valid.
    public init(trusted rawValue: String) { self.rawValue = rawValue }
    /// "agent id".
    public static let label = "agent id"
    /// `invalid_job`.
    public static let invalidCode = ErrorCode.invalidJob
}

/// A step's id, unique within its plan.
public struct StepID: SubjectSafeIdentifier {
    /// The subject-safe name.
    public let rawValue: String
    /// Wraps a name known to be valid.
    public init(trusted rawValue: String) { self.rawValue = rawValue }
    /// "step id".
    public static let label = "step id"
    /// `invalid_plan`.
    public static let invalidCode = ErrorCode.invalidPlan
}

/// A run: one execution of a job, identified by a UUIDv7 (time-ordered).
public struct RunID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The UUID.
    public let uuid: UUID
    /// Wraps a UUID.
    public init(_ uuid: UUID) { self.uuid = uuid }
    /// Parses the string form (`8-4-4-4-12` hex digits, either case); nil if it is not a UUID.
    public init?(_ string: String) {
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &bytes) { out -> Bool in
            var utf8 = string.utf8.makeIterator()
            var index = 0, position = 0
            while index < 16 {
                if position == 8 || position == 13 || position == 18 || position == 23 {
                    guard utf8.next() == UInt8(ascii: "-") else { return false }
                    position += 1
                }
                guard let high = utf8.next().flatMap(Self.nibble), let low = utf8.next().flatMap(Self.nibble) else { return false }
                out[index] = high << 4 | low
                index += 1
                position += 2
            }
            return utf8.next() == nil
        }
        guard parsed else { return nil }
        self.uuid = UUID(uuid: bytes)
    }
    /// A new time-ordered id.
    public static func generate(now: Date = Date()) -> RunID { RunID(UUIDv7Generator.shared.next(now: now)) }
    /// The lowercase string form used on the bus and in the store (formatted directly: `UUID.uuidString`
    /// goes through `snprintf` per byte, which showed in profiles).
    public var description: String {
        withUnsafeBytes(of: uuid.uuid) { raw in
            String(unsafeUninitializedCapacity: 36) { out in
                let digits = Self.hexDigits
                var position = 0
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    out[position] = digits[Int(byte >> 4)]
                    out[position + 1] = digits[Int(byte & 0x0F)]
                    position += 2
                }
                return position
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of one hex digit, either case.
    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    /// Decodes the string form.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value = try container.decode(String.self)
        guard let id = RunID(value) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a UUID: \(value.prefix(80))")
        }
        self = id
    }
    /// Encodes the lowercase string form.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
