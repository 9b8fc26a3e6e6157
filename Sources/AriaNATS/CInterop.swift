#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// C copies of Swift strings and arrays that stay valid until the arena is dropped.
///
/// `const char *` fields of nats.c structs (stream name, subjects, durable) must point at memory
/// that outlives the call; `withCString { $0 }` would dangle.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    /// Creates an empty arena.
    init() {}

    deinit { for pointer in allocations { free(pointer) } }

    /// A NUL-terminated copy of `string`.
    func string(_ string: String) -> UnsafePointer<CChar> {
        let copy = strdup(string)!
        allocations.append(UnsafeMutableRawPointer(copy))
        return UnsafePointer(copy)
    }

    /// A copy of `string`, or NULL when it is nil.
    func optionalString(_ string: String?) -> UnsafePointer<CChar>? {
        string.map { self.string($0) }
    }

    /// A C array of C strings (`const char **`).
    func stringArray(_ strings: [String]) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
        let raw = malloc(max(1, strings.count) * MemoryLayout<UnsafePointer<CChar>?>.stride)!
        allocations.append(raw)
        let array = raw.bindMemory(to: UnsafePointer<CChar>?.self, capacity: max(1, strings.count))
        for (index, value) in strings.enumerated() { array[index] = string(value) }
        return array
    }

    /// A C array of 64-bit integers.
    func int64Array(_ values: [Int64]) -> UnsafeMutablePointer<Int64> {
        let raw = malloc(max(1, values.count) * MemoryLayout<Int64>.stride)!
        allocations.append(raw)
        let array = raw.bindMemory(to: Int64.self, capacity: max(1, values.count))
        for (index, value) in values.enumerated() { array[index] = value }
        return array
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so that a positive duration never becomes 0 ("no timeout" in nats.c).
    var natsMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let millis = seconds * 1_000 + attoseconds / 1_000_000_000_000_000
        let remainder = attoseconds % 1_000_000_000_000_000
        return remainder > 0 ? millis + 1 : millis
    }

    /// Whole nanoseconds, as nats.c wants in JetStream configuration structs.
    var natsNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// A duration from nanoseconds as found in JetStream structs.
    static func natsNanoseconds(_ value: Int64) -> Duration { .nanoseconds(value) }
}

/// A Swift string from a C string that may be NULL.
func swiftString(_ pointer: UnsafePointer<CChar>?) -> String? {
    pointer.map { String(cString: $0) }
}

/// A C handle that may be moved across threads because nats.c objects are thread-safe.
struct SendablePointer: @unchecked Sendable {
    /// The handle.
    let pointer: OpaquePointer
}
