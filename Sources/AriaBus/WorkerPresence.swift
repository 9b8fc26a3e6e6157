import AriaCore
import AriaNATS
import Foundation

/// What a live worker says about itself in the ``Buckets/workers`` bucket, under its worker id.
///
/// JSON (``Wire``): `{"worker", "pool", "skills", "slots", "in_flight", "host", "pid", "started_at",
/// "updated_at", "version"}`. Readers ignore fields they do not know, so fields may be added.
public struct WorkerPresence: Codable, Sendable, Equatable {
    /// The worker's id (`ARIA_INSTANCE`), also its key.
    public var worker: String
    /// The pool it serves.
    public var pool: String
    /// The skills it runs, sorted.
    public var skills: [String]
    /// Steps it runs at once at most.
    public var slots: Int
    /// Steps it is running now.
    public var inFlight: Int
    /// The host name.
    public var host: String
    /// The process id.
    public var pid: Int
    /// When the worker started.
    public var startedAt: Date
    /// When this record was written.
    public var updatedAt: Date
    /// The worker's Aria version.
    public var version: String

    /// Creates a record.
    public init(worker: String, pool: String, skills: [String], slots: Int, inFlight: Int, host: String, pid: Int, startedAt: Date, updatedAt: Date, version: String) {
        self.worker = worker
        self.pool = pool
        self.skills = skills
        self.slots = slots
        self.inFlight = inFlight
        self.host = host
        self.pid = pid
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.version = version
    }

    /// The JSON field names.
    enum CodingKeys: String, CodingKey {
        case worker, pool, skills, slots, inFlight = "in_flight", host, pid, startedAt = "started_at", updatedAt = "updated_at", version
    }

    /// The bucket key of a worker id: characters a key may not hold (anything but letters, digits and
    /// `-_=/`) become `_`.
    public static func key(worker: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=/")
        let key = String(worker.map { allowed.contains($0) ? $0 : "_" })
        return key.isEmpty ? "_" : key
    }
}

/// The version of Aria this build is.
public enum AriaVersion {
    /// The version string, reported by workers in their presence.
    public static let current = "0.1.0"
}

extension WorkerPresence {
    /// The live workers in the presence `bucket`, sorted by pool, then worker; values that do not decode
    /// are skipped.
    public static func all(in bucket: KeyValueStore, timeout: Duration = .seconds(5)) async throws -> [WorkerPresence] {
        try await bucket.entries(timeout: timeout)
            .compactMap { try? Wire.decode(WorkerPresence.self, from: $0.value) }
            .sorted { ($0.pool, $0.worker) < ($1.pool, $1.worker) }
    }
}
