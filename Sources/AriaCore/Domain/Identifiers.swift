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
    /// Parses the lowercase string form; nil if it is not a UUID.
    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.uuid = uuid
    }
    /// A new time-ordered id.
    public static func generate(now: Date = Date()) -> RunID { RunID(UUIDv7Generator.shared.next(now: now)) }
    /// The lowercase string form used on the bus and in the store.
    public var description: String { uuid.uuidString.lowercased() }
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
