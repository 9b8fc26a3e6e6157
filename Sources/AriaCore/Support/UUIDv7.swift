import Foundation
import Synchronization

/// Generates RFC 9562 version 7 UUIDs that are strictly increasing within a process.
///
/// Layout: a 48-bit big-endian Unix timestamp in milliseconds, the version nibble `7`, a 12-bit
/// `rand_a` field used as a counter (RFC 9562 §6.2 method 1, "fixed-length dedicated counter"),
/// the variant bits `10`, and 62 random bits. The counter is seeded randomly (with its top bit
/// clear, leaving room for at least 2048 increments) whenever the millisecond advances and is
/// incremented for every further UUID in the same millisecond. If it overflows, or the clock
/// goes backwards, the stored timestamp is advanced by one millisecond instead, so both the
/// 16 bytes and the lowercase string form of successive UUIDs sort strictly increasingly.
///
/// Copies of a generator share state, and all methods are safe to call from any thread.
public struct UUIDv7Generator: Sendable {
    /// The process-wide generator; use it unless a test needs an isolated one.
    public static let shared = UUIDv7Generator()

    /// The largest timestamp a UUIDv7 can hold (2^48 - 1 milliseconds since 1970).
    public static let maxTimestampMilliseconds: Int64 = (1 << 48) - 1

    private let storage: Storage

    /// Creates a generator with its own monotonic state, independent of ``shared``.
    public init() {
        storage = Storage()
    }

    /// Returns a new UUIDv7 whose timestamp is `now` (or slightly later, to stay monotonic).
    ///
    /// - Parameter now: the current time; injectable so tests can control the clock.
    public func next(now: Date = Date()) -> UUID {
        let milliseconds = Self.unixMilliseconds(now)
        var random = SystemRandomNumberGenerator()
        let (timestamp, counter) = storage.state.withLock { state in
            state.advance(to: milliseconds, using: &random)
        }
        let tail = random.next() as UInt64

        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        bytes.0 = UInt8(truncatingIfNeeded: timestamp >> 40)
        bytes.1 = UInt8(truncatingIfNeeded: timestamp >> 32)
        bytes.2 = UInt8(truncatingIfNeeded: timestamp >> 24)
        bytes.3 = UInt8(truncatingIfNeeded: timestamp >> 16)
        bytes.4 = UInt8(truncatingIfNeeded: timestamp >> 8)
        bytes.5 = UInt8(truncatingIfNeeded: timestamp)
        bytes.6 = 0x70 | UInt8(truncatingIfNeeded: counter >> 8)
        bytes.7 = UInt8(truncatingIfNeeded: counter)
        bytes.8 = 0x80 | (UInt8(truncatingIfNeeded: tail >> 56) & 0x3F)
        bytes.9 = UInt8(truncatingIfNeeded: tail >> 48)
        bytes.10 = UInt8(truncatingIfNeeded: tail >> 40)
        bytes.11 = UInt8(truncatingIfNeeded: tail >> 32)
        bytes.12 = UInt8(truncatingIfNeeded: tail >> 24)
        bytes.13 = UInt8(truncatingIfNeeded: tail >> 16)
        bytes.14 = UInt8(truncatingIfNeeded: tail >> 8)
        bytes.15 = UInt8(truncatingIfNeeded: tail)
        return UUID(uuid: bytes)
    }

    /// Converts `date` to whole Unix milliseconds, clamped to the 48-bit range of the format.
    ///
    /// The time is first rounded to whole microseconds so that a date built from a millisecond
    /// value (such as ``Foundation/UUID/uuidV7Timestamp``) maps back to exactly that millisecond
    /// despite `Date`'s floating-point representation.
    private static func unixMilliseconds(_ date: Date) -> Int64 {
        let microseconds = (date.timeIntervalSince1970 * 1_000_000).rounded()
        let value = (microseconds / 1000).rounded(.down)
        guard value.isFinite, value > 0 else { return 0 }
        guard value < Double(maxTimestampMilliseconds) else { return maxTimestampMilliseconds }
        return Int64(value)
    }

    /// The shared, lock-protected state behind a generator and its copies.
    private final class Storage: Sendable {
        /// The generator state, guarded by a mutex.
        let state = Mutex(State())
    }

    /// The last issued timestamp and counter.
    private struct State {
        /// Timestamp of the last UUID issued, or -1 before the first.
        var lastMilliseconds: Int64 = -1
        /// Counter (12 bits) of the last UUID issued.
        var counter: UInt16 = 0

        /// The largest 12-bit counter value.
        static let counterMax: UInt16 = 0x0FFF
        /// The largest random seed for a new millisecond (top counter bit clear).
        static let seedMax: UInt16 = 0x07FF

        /// Returns the timestamp and counter for the next UUID given the clock reads `milliseconds`.
        mutating func advance(
            to milliseconds: Int64,
            using random: inout SystemRandomNumberGenerator
        ) -> (timestamp: Int64, counter: UInt16) {
            if milliseconds > lastMilliseconds {
                lastMilliseconds = milliseconds
                counter = UInt16.random(in: 0...Self.seedMax, using: &random)
            } else if counter < Self.counterMax {
                counter += 1
            } else {
                // Counter exhausted: borrow the next millisecond. (At the 48-bit limit, in the
                // year 10889, the timestamp cannot advance and ordering is no longer guaranteed.)
                lastMilliseconds = Swift.min(lastMilliseconds + 1, UUIDv7Generator.maxTimestampMilliseconds)
                counter = UInt16.random(in: 0...Self.seedMax, using: &random)
            }
            return (lastMilliseconds, counter)
        }
    }
}

public extension UUID {
    /// The embedded Unix timestamp (millisecond precision) if this is an RFC 9562 version 7 UUID, else `nil`.
    var uuidV7Timestamp: Date? {
        let bytes = uuid
        guard bytes.6 >> 4 == 7, bytes.8 & 0xC0 == 0x80 else { return nil }
        var milliseconds: UInt64 = 0
        for byte in [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5] {
            milliseconds = milliseconds << 8 | UInt64(byte)
        }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
