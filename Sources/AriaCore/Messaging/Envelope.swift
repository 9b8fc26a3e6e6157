import Foundation

/// The versioned envelope every bus message travels in (`docs/bus.md`, "Envelope").
///
/// Internal consumers ignore fields they do not know (rolling upgrades); user input is parsed strictly by
/// ``JobSubmissionParser``. A consumer accepts any `version` up to the one it knows for that `type`.
public struct Envelope<Body: Codable & Sendable>: Codable, Sendable {
    /// What the message is, e.g. `step.dispatch` (see ``MessageType``).
    public var type: MessageType
    /// The body's schema version for this type.
    public var version: Int
    /// The tenant the message belongs to.
    public var tenant: TenantID
    /// The run, when the message concerns one.
    public var run: RunID?
    /// The step, when the message concerns one.
    public var step: StepID?
    /// The attempt number of the step (1-based), when the message concerns one.
    public var attempt: Int?
    /// The fencing token of the step attempt; a result with a stale token is rejected.
    public var fencingToken: Int64?
    /// The per-run event sequence number (events only): gapless, defines order.
    public var seq: Int64?
    /// When the work this message asks for stops being useful.
    public var deadline: Date?
    /// When the message was created (the sender's clock; only Postgres `now()` is used for leases).
    public var createdAt: Date
    /// W3C trace context, copied into log metadata by every receiver.
    public var traceparent: String?
    /// The type-specific content.
    public var body: Body

    /// Creates an envelope stamped with `createdAt`.
    public init(
        type: MessageType, version: Int = 1, tenant: TenantID, run: RunID? = nil, step: StepID? = nil,
        attempt: Int? = nil, fencingToken: Int64? = nil, seq: Int64? = nil, deadline: Date? = nil,
        createdAt: Date, traceparent: String? = nil, body: Body
    ) {
        self.type = type
        self.version = version
        self.tenant = tenant
        self.run = run
        self.step = step
        self.attempt = attempt
        self.fencingToken = fencingToken
        self.seq = seq
        self.deadline = deadline
        self.createdAt = createdAt
        self.traceparent = traceparent
        self.body = body
    }

    enum CodingKeys: String, CodingKey {
        case type, version, tenant, run, step, attempt, seq, deadline, traceparent, body
        case fencingToken = "fencing_token"
        case createdAt = "created_at"
    }
}

/// The `type` field of an envelope.
public struct MessageType: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The dotted type name.
    public let rawValue: String
    /// Wraps a type name.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The type name.
    public var description: String { rawValue }

    /// A job submitted by a tenant (submit subject and `api.create_job`).
    public static let jobSubmit = MessageType(rawValue: "job.submit")
    /// Gateway -> planner: plan this run from its template.
    public static let planRequest = MessageType(rawValue: "plan.request")
    /// Gateway or planner -> scheduler: the run has a plan; start dispatching.
    public static let runStart = MessageType(rawValue: "run.start")
    /// Scheduler -> worker: execute one step attempt.
    public static let stepDispatch = MessageType(rawValue: "step.dispatch")
    /// Worker -> scheduler: a step attempt ended; its result is committed in Postgres.
    public static let stepFinished = MessageType(rawValue: "step.finished")
    /// An API request/reply (`aria.t.<tenant>.api.<verb>`).
    public static let apiRequest = MessageType(rawValue: "api.request")
    /// An API reply.
    public static let apiReply = MessageType(rawValue: "api.reply")

    /// The message type of a run event of `kind` (`event.run.accepted`, ...).
    public static func event(_ kind: RunEventKind) -> MessageType { MessageType(rawValue: "event.\(kind.rawValue)") }
}

/// The newest envelope version of each type that this build understands.
public enum WireVersion {
    /// Version 1 is the first and current version of every type.
    public static let current = 1
}

/// JSON coding shared by every bus message and stored document: snake_case keys by declaration,
/// RFC 3339 timestamps with milliseconds, sorted keys (stable bytes for hashing and dedupe).
public enum Wire {
    /// Encodes a value as compact JSON (``WireEncoder``: the bytes Foundation's `JSONEncoder` writes with
    /// sorted keys, unescaped slashes and these timestamps, several times faster).
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        try WireEncoder.encode(value)
    }

    /// Decodes JSON, tolerating unknown fields (``WireDecoder``: strict RFC 8259 parsing, then the tree;
    /// JSONDecoder's errors and number rules, several times faster).
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try WireDecoder.decode(type, from: bytes)
    }

    /// Decodes just the envelope header fields of a message, whatever its body.
    public static func peek(_ bytes: [UInt8]) throws -> Envelope<IgnoredBody> {
        try decode(Envelope<IgnoredBody>.self, from: bytes)
    }
}

/// A body that decodes from anything: used to read an envelope's header fields only.
public struct IgnoredBody: Codable, Sendable {
    /// Accepts any JSON.
    public init(from decoder: Decoder) throws {}
    /// Creates an empty body.
    public init() {}
    /// Encodes an empty object.
    public func encode(to encoder: Encoder) throws {
        _ = encoder.container(keyedBy: EmptyKeys.self)
    }
    private enum EmptyKeys: CodingKey {}
}

/// RFC 3339 timestamps with millisecond precision, always UTC (`2026-11-21T20:24:41.123Z`).
public enum Timestamp {
    /// Formats a date, rounded to the nearest millisecond.
    public static func format(_ date: Date) -> String {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = totalMilliseconds / 1000
        var milliseconds = totalMilliseconds % 1000
        if milliseconds < 0 { milliseconds += 1000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        // The civil date of a day count since 1970-01-01 (proleptic Gregorian), Howard Hinnant's civil_from_days.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        guard (0...9999).contains(year) else {
            let text = Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
            let digits = String(milliseconds)
            return String(text.dropLast()) + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
        }
        // 2026-11-21T20:24:41.123Z
        var bytes = [UInt8](repeating: 0, count: 24)
        func put(_ value: Int64, at offset: Int, width: Int) {
            var rest = value
            for index in stride(from: offset + width - 1, through: offset, by: -1) {
                bytes[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
        }
        put(year, at: 0, width: 4)
        put(month, at: 5, width: 2)
        put(day, at: 8, width: 2)
        put(secondOfDay / 3600, at: 11, width: 2)
        put(secondOfDay / 60 % 60, at: 14, width: 2)
        put(secondOfDay % 60, at: 17, width: 2)
        put(milliseconds, at: 20, width: 3)
        bytes[4] = UInt8(ascii: "-"); bytes[7] = UInt8(ascii: "-"); bytes[10] = UInt8(ascii: "T")
        bytes[13] = UInt8(ascii: ":"); bytes[16] = UInt8(ascii: ":"); bytes[19] = UInt8(ascii: "."); bytes[23] = UInt8(ascii: "Z")
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses a strict RFC 3339 timestamp (`Z` or `±hh:mm` offset, optional fraction); nil if invalid,
    /// including impossible dates and times such as February 30 or hour 25.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 20, let year = digits(0..<4), bytes[4] == 45, let month = digits(5..<7), bytes[7] == 45,
              let day = digits(8..<10), bytes[10] == 84 || bytes[10] == 116, let hour = digits(11..<13), bytes[13] == 58,
              let minute = digits(14..<16), bytes[16] == 58, let second = digits(17..<19) else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == 46 {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start, index - start <= 9 else { return nil }
        }
        guard index < bytes.count else { return nil }
        var offsetSeconds = 0
        if bytes[index] == 90 || bytes[index] == 122 {
            index += 1
        } else if bytes[index] == 43 || bytes[index] == 45 {
            guard let offsetHours = digits(index + 1..<index + 3), index + 3 < bytes.count, bytes[index + 3] == 58,
                  let offsetMinutes = digits(index + 4..<index + 6), offsetHours < 24, offsetMinutes < 60 else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (bytes[index] == 45 ? -1 : 1)
            index += 6
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), (1...daysInMonth[month - 1]).contains(day), hour < 24, minute < 60, second < 60 else { return nil }
        // Days since 1970-01-01 (proleptic Gregorian), from Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: TimeInterval(seconds) + fraction)
    }
}

/// Header names Aria reads and writes on bus messages.
public enum AriaHeader {
    /// The business idempotency key of a submission (Postgres-enforced, unique per tenant).
    public static let idempotencyKey = "Aria-Idempotency-Key"
    /// Transport-level JetStream dedupe id (never used as a business key).
    public static let messageID = "Nats-Msg-Id"
    /// W3C trace context.
    public static let traceparent = "traceparent"
    /// The error code of a rejection event or an error reply.
    public static let errorCode = "Aria-Error"
    /// On a step dispatch sent while the transaction that creates its run was still committing: the
    /// worker waits for that transaction, and retries shortly when it finds no run yet.
    public static let ahead = "Aria-Ahead"
}
