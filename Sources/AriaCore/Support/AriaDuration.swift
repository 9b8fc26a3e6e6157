import Foundation

/// A positive length of time of at most 7 days, in whole milliseconds: the product's one duration format.
///
/// Text form: one or more `<integer><unit>` parts with no spaces, signs or fractions, where
/// `unit` is `h`, `m`, `s` or `ms` (case-sensitive). Units must appear in decreasing order
/// (`h`, then `m`, then `s`, then `ms`), each at most once; a part may exceed its natural range
/// (`"90s"`, `"1500ms"`, `"36h"`) and may be zero as long as the total is not. Examples:
/// `"250ms"`, `"30s"`, `"1m30s"`, `"2h"`, `"1h0m30s"`. The total must be greater than zero and at
/// most 7 days (`"168h"`).
///
/// ``description`` is the canonical, shortest form: each unit carried into the next larger one
/// and zero parts omitted (`"90s"` → `"1m30s"`, 1500 ms → `"1s500ms"`).
///
/// `Codable` as that canonical string; decoding also accepts a bare integer meaning milliseconds.
public struct AriaDuration: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The largest accepted duration in milliseconds (7 days).
    public static let maxMilliseconds: Int64 = 7 * 24 * 60 * 60 * 1000

    /// The largest accepted duration (7 days).
    public static let maximum = AriaDuration(uncheckedMilliseconds: maxMilliseconds)

    /// The length in milliseconds, in `1...maxMilliseconds`.
    public let milliseconds: Int64

    /// Creates a duration of `milliseconds`, which must be in `1...AriaDuration.maxMilliseconds`.
    ///
    /// - Precondition: `milliseconds` is positive and at most 7 days; use
    ///   ``init(validatingMilliseconds:)`` for values that come from outside the program.
    public init(milliseconds: Int64) {
        precondition(
            milliseconds > 0 && milliseconds <= Self.maxMilliseconds,
            "AriaDuration must be between 1 ms and 7 days, got \(milliseconds) ms"
        )
        self.milliseconds = milliseconds
    }

    /// Creates a duration of `milliseconds`, throwing unless it is in `1...AriaDuration.maxMilliseconds`.
    public init(validatingMilliseconds milliseconds: Int64) throws(AriaDurationError) {
        if milliseconds <= 0 {
            throw AriaDurationError(input: "\(milliseconds)", reason: "duration must be greater than zero")
        }
        if milliseconds > Self.maxMilliseconds {
            throw AriaDurationError(input: "\(milliseconds)", reason: "duration exceeds the maximum of 7 days (168h)")
        }
        self.milliseconds = milliseconds
    }

    /// Parses the text form, e.g. `"250ms"`, `"30s"`, `"1m30s"` or `"2h"` (see the type's documentation).
    ///
    /// - Throws: ``AriaDurationError`` if `text` does not follow the format or is out of range.
    public init(parsing text: String) throws(AriaDurationError) {
        func fail(_ reason: String) -> AriaDurationError {
            AriaDurationError(input: text, reason: reason)
        }
        let bytes = Array(text.utf8)
        if bytes.isEmpty { throw fail("duration is empty") }

        var total: Int64 = 0
        var position = 0
        var previousUnitRank = Int.max
        while position < bytes.count {
            let digitsStart = position
            var value: Int64 = 0
            var overflow = false
            while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
                if !overflow {
                    let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
                    let (next, o2) = shifted.addingReportingOverflow(Int64(bytes[position] - UInt8(ascii: "0")))
                    overflow = o1 || o2
                    value = next
                }
                position += 1
            }
            if position == digitsStart {
                if position < bytes.count, bytes[position] == UInt8(ascii: "-") {
                    throw fail("negative durations are not allowed")
                }
                throw fail("expected a number at offset \(position)")
            }
            guard position < bytes.count else {
                throw fail("missing unit after \(String(decoding: bytes[digitsStart...], as: UTF8.self)) (use ms, s, m or h)")
            }

            let unit: Unit
            switch bytes[position] {
            case UInt8(ascii: "h"): unit = .hours; position += 1
            case UInt8(ascii: "s"): unit = .seconds; position += 1
            case UInt8(ascii: "m"):
                if position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "s") {
                    unit = .milliseconds; position += 2
                } else {
                    unit = .minutes; position += 1
                }
            default:
                throw fail("invalid unit at offset \(position) (use ms, s, m or h)")
            }
            if unit.rank >= previousUnitRank {
                throw fail("units must appear once each, in the order h, m, s, ms")
            }
            previousUnitRank = unit.rank

            let (partMilliseconds, o3) = value.multipliedReportingOverflow(by: unit.milliseconds)
            let (sum, o4) = total.addingReportingOverflow(partMilliseconds)
            if overflow || o3 || o4 || sum > Self.maxMilliseconds {
                throw fail("duration exceeds the maximum of 7 days (168h)")
            }
            total = sum
        }
        if total == 0 { throw fail("duration must be greater than zero") }
        milliseconds = total
    }

    /// Creates a duration without range checks, for constants known to be valid.
    private init(uncheckedMilliseconds: Int64) {
        milliseconds = uncheckedMilliseconds
    }

    /// A duration of `value` milliseconds; traps unless the result is in range (for constants in code).
    public static func milliseconds(_ value: Int64) -> AriaDuration {
        AriaDuration(milliseconds: value)
    }

    /// A duration of `value` seconds; traps unless the result is in range (for constants in code).
    public static func seconds(_ value: Int64) -> AriaDuration {
        AriaDuration(milliseconds: value * 1000)
    }

    /// A duration of `value` minutes; traps unless the result is in range (for constants in code).
    public static func minutes(_ value: Int64) -> AriaDuration {
        AriaDuration(milliseconds: value * 60_000)
    }

    /// A duration of `value` hours; traps unless the result is in range (for constants in code).
    public static func hours(_ value: Int64) -> AriaDuration {
        AriaDuration(milliseconds: value * 3_600_000)
    }

    /// The same length as a Swift `Duration`.
    public var duration: Duration {
        .milliseconds(milliseconds)
    }

    /// The same length in seconds, for Foundation APIs.
    public var timeInterval: TimeInterval {
        Double(milliseconds) / 1000
    }

    /// The canonical, shortest text form, e.g. `"1m30s"`, `"1s500ms"`, `"2h"`.
    public var description: String {
        var remaining = milliseconds
        var text = ""
        for unit in [Unit.hours, .minutes, .seconds, .milliseconds] {
            let count = remaining / unit.milliseconds
            remaining %= unit.milliseconds
            if count > 0 { text += "\(count)\(unit.symbol)" }
        }
        return text
    }

    /// Orders durations by length.
    public static func < (lhs: AriaDuration, rhs: AriaDuration) -> Bool {
        lhs.milliseconds < rhs.milliseconds
    }

    /// Decodes the text form, or a bare integer meaning milliseconds.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        do {
            if let text = try? container.decode(String.self) {
                self = try AriaDuration(parsing: text)
            } else if let value = try? container.decode(Int64.self) {
                self = try AriaDuration(validatingMilliseconds: value)
            } else {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "Expected a duration such as \"30s\" or \"1m30s\", or an integer number of milliseconds"
                )
            }
        } catch let error as AriaDurationError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    /// Encodes the canonical text form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// The units of the text form.
    private enum Unit {
        /// The four units, largest first.
        case hours, minutes, seconds, milliseconds

        /// Position in the required order; larger units rank higher.
        var rank: Int {
            switch self {
            case .hours: 3
            case .minutes: 2
            case .seconds: 1
            case .milliseconds: 0
            }
        }

        /// Length of one unit in milliseconds.
        var milliseconds: Int64 {
            switch self {
            case .hours: 3_600_000
            case .minutes: 60_000
            case .seconds: 1000
            case .milliseconds: 1
            }
        }

        /// The unit's suffix in the text form.
        var symbol: String {
            switch self {
            case .hours: "h"
            case .minutes: "m"
            case .seconds: "s"
            case .milliseconds: "ms"
            }
        }
    }
}

/// Why a text or number is not a valid ``AriaDuration``.
public struct AriaDurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The rejected input (the text, or the number of milliseconds as text).
    public let input: String
    /// A human-readable explanation.
    public let reason: String

    /// Creates an error for `input` rejected because of `reason`.
    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    /// A message naming the input and the reason.
    public var description: String {
        "invalid duration \(String(reflecting: input)): \(reason)"
    }
}
