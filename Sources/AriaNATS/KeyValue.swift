internal import CNATS
public import Foundation

/// The configuration of a JetStream key-value bucket (stream `KV_<bucket>`, subjects `$KV.<bucket>.>`).
public struct KeyValueConfig: Sendable, Hashable {
    /// The bucket's name: letters, digits, `_` and `-`.
    public var bucket: String
    /// A human-readable description, if any.
    public var summary: String?
    /// How long a value lives after it was last put (the stream's max age); nil keeps values forever.
    /// A key that is put again before its TTL passes stays alive.
    public var ttl: Duration?
    /// How many values are kept per key (1...64).
    public var history: Int
    /// The largest value in bytes; -1 for the server's limit.
    public var maxValueSize: Int32
    /// The bucket's total size in bytes; -1 for no limit.
    public var maxBytes: Int64
    /// Where values are stored. Default `.file`.
    public var storage: StreamConfig.Storage
    /// The number of replicas (1 on a single server).
    public var replicas: Int

    /// Creates a configuration that keeps one value per key.
    public init(
        bucket: String, summary: String? = nil, ttl: Duration? = nil, history: Int = 1, maxValueSize: Int32 = -1,
        maxBytes: Int64 = -1, storage: StreamConfig.Storage = .file, replicas: Int = 1
    ) {
        self.bucket = bucket
        self.summary = summary
        self.ttl = ttl
        self.history = history
        self.maxValueSize = maxValueSize
        self.maxBytes = maxBytes
        self.storage = storage
        self.replicas = replicas
    }

    /// The name of the stream that holds the bucket.
    public var streamName: String { Self.streamName(bucket: bucket) }

    /// The name of the stream that holds `bucket` (`KV_<bucket>`).
    public static func streamName(bucket: String) -> String { "KV_\(bucket)" }

    /// The subject a put or delete of `key` in `bucket` is published on (`$KV.<bucket>.<key>`).
    public static func subject(bucket: String, key: String) -> String { "$KV.\(bucket).\(key)" }
}

/// A bucket's configuration and size as the server reports them.
public struct KeyValueStatus: Sendable, Hashable {
    /// The bucket's name.
    public var bucket: String
    /// The number of stored values (including history and delete markers).
    public var values: UInt64
    /// How many values are kept per key.
    public var history: Int
    /// How long a value lives after its last put; nil when values never expire.
    public var ttl: Duration?
    /// The number of replicas.
    public var replicas: Int
}

/// The current value of one key.
public struct KeyValueEntry: Sendable, Hashable {
    /// The bucket.
    public var bucket: String
    /// The key.
    public var key: String
    /// The value's bytes.
    public var value: [UInt8]
    /// The value's revision (its stream sequence; grows with every put in the bucket).
    public var revision: UInt64
    /// When the value was put (server time).
    public var created: Date
}

extension JetStreamContext {
    /// Creates the bucket, or updates its TTL, history, size limits and description when it exists with
    /// other values (storage and replicas cannot change in place). Idempotent; needs the JetStream stream
    /// API (`$JS.API.STREAM.INFO/CREATE/UPDATE.KV_<bucket>`).
    public func createOrUpdateKeyValue(_ config: KeyValueConfig) async throws -> KeyValueStore {
        let js = handle
        let pointer = try await BlockingPool.shared.run { () throws -> SendablePointer in
            let arena = CArena()
            let stream = config.streamName
            var info: UnsafeMutablePointer<jsStreamInfo>?
            let lookup = try natsCheck(
                js_GetStreamInfo(&info, js.pointer, stream, nil, nil), "key-value bucket info '\(config.bucket)'", expecting: [NATS_NOT_FOUND])
            defer { jsStreamInfo_Destroy(info) }
            if lookup == NATS_NOT_FOUND {
                var cConfig = kvConfig()
                try natsCheck(kvConfig_Init(&cConfig), "kvConfig_Init")
                cConfig.Bucket = arena.string(config.bucket)
                cConfig.Description = arena.optionalString(config.summary)
                cConfig.History = UInt8(clamping: config.history)
                cConfig.TTL = config.ttl?.natsNanoseconds ?? 0
                cConfig.MaxValueSize = config.maxValueSize
                cConfig.MaxBytes = config.maxBytes
                cConfig.StorageType = config.storage == .file ? js_FileStorage : js_MemoryStorage
                cConfig.Replicas = Int32(config.replicas)
                var kv: OpaquePointer?
                try natsCheck(js_CreateKeyValue(&kv, js.pointer, &cConfig), "create key-value bucket '\(config.bucket)'")
                guard let kv else { throw NATSError(code: .other, status: "Error", message: "create key-value bucket: no store") }
                return SendablePointer(pointer: kv)
            }
            guard let current = info?.pointee.Config else {
                throw NATSError(code: .other, status: "Error", message: "key-value bucket info '\(config.bucket)': no configuration")
            }
            let ttl = config.ttl?.natsNanoseconds ?? 0
            let history = Int64(config.history)
            let description = swiftString(current.pointee.Description)
            if current.pointee.MaxAge != ttl || current.pointee.MaxMsgsPerSubject != history || current.pointee.MaxBytes != config.maxBytes
                || current.pointee.MaxMsgSize != config.maxValueSize || description != config.summary {
                // The info owns the configuration; change the numbers in place and keep its strings.
                current.pointee.MaxAge = ttl
                // The server's default duplicate window for a bucket: 2 minutes, at most the TTL.
                current.pointee.Duplicates = ttl > 0 ? min(Duration.seconds(120).natsNanoseconds, ttl) : Duration.seconds(120).natsNanoseconds
                current.pointee.MaxMsgsPerSubject = history
                current.pointee.MaxBytes = config.maxBytes
                current.pointee.MaxMsgSize = config.maxValueSize
                let originalDescription = current.pointee.Description
                current.pointee.Description = arena.optionalString(config.summary)
                defer { current.pointee.Description = originalDescription }
                var updated: UnsafeMutablePointer<jsStreamInfo>?
                var errorCode = jsErrCode(rawValue: 0)
                try natsCheck(
                    js_UpdateStream(&updated, js.pointer, current, nil, &errorCode), "update key-value bucket '\(config.bucket)'",
                    jetStreamErrorCode: errorCode)
                jsStreamInfo_Destroy(updated)
            }
            return try Self.bindKeyValue(js.pointer, bucket: config.bucket)
        }
        return KeyValueStore(bucket: config.bucket, handle: KeyValueHandle(pointer.pointer), jetStream: self)
    }

    /// Binds to an existing bucket; throws `.notFound` when it does not exist. Needs only
    /// `$JS.API.STREAM.INFO.KV_<bucket>`; a user without it gets `.timeout` (a permissions violation).
    public func keyValue(bucket: String) async throws -> KeyValueStore {
        let js = handle
        let pointer = try await BlockingPool.shared.run { try Self.bindKeyValue(js.pointer, bucket: bucket) }
        return KeyValueStore(bucket: bucket, handle: KeyValueHandle(pointer.pointer), jetStream: self)
    }

    /// Deletes the bucket and every value in it; throws `.notFound` when it does not exist.
    public func deleteKeyValue(bucket: String) async throws {
        let js = handle
        try await BlockingPool.shared.run {
            _ = try natsCheck(js_DeleteKeyValue(js.pointer, bucket), "delete key-value bucket '\(bucket)'")
        }
    }

    /// `js_KeyValue` on the calling (pool) thread.
    private static func bindKeyValue(_ js: OpaquePointer, bucket: String) throws -> SendablePointer {
        var kv: OpaquePointer?
        try natsCheck(js_KeyValue(&kv, js, bucket), "bind key-value bucket '\(bucket)'")
        guard let kv else { throw NATSError(code: .other, status: "Error", message: "bind key-value bucket: no store") }
        return SendablePointer(pointer: kv)
    }
}

/// A key-value bucket: put, get, delete and list its keys and values.
///
/// Every call that waits for the server runs on a pool thread, never on the cooperative pool. Keys are
/// letters, digits and `-_=/.\` (not starting or ending with `.`); an invalid key is `.invalidArgument`.
public final class KeyValueStore: Sendable {
    /// The bucket's name.
    public let bucket: String
    /// The nats.c store.
    let handle: KeyValueHandle
    // nats.c keeps its own reference to the JetStream context; this one keeps the Swift wrapper (and
    // its error handler context) alive as long as the store.
    private let jetStream: JetStreamContext

    /// Wraps a bound store.
    init(bucket: String, handle: KeyValueHandle, jetStream: JetStreamContext) {
        self.bucket = bucket
        self.handle = handle
        self.jetStream = jetStream
    }

    /// Stores `value` under `key` and returns its revision. Needs publish permission on
    /// `$KV.<bucket>.<key>` (and the connection's inbox for the acknowledgement).
    @discardableResult
    public func put(_ key: String, _ value: [UInt8]) async throws -> UInt64 {
        let kv = handle, bucket = bucket
        return try await BlockingPool.shared.run {
            var revision: UInt64 = 0
            let status = value.withUnsafeBytes { bytes in
                kvStore_Put(&revision, kv.pointer, key, bytes.baseAddress, Int32(bytes.count))
            }
            try natsCheck(status, "put '\(key)' in '\(bucket)'", subject: KeyValueConfig.subject(bucket: bucket, key: key))
            return revision
        }
    }

    /// The current value of `key`, or nil when it has none (never put, deleted, or expired).
    public func get(_ key: String) async throws -> KeyValueEntry? {
        let kv = handle, bucket = bucket
        return try await BlockingPool.shared.run {
            var entry: OpaquePointer?
            let status = try natsCheck(kvStore_Get(&entry, kv.pointer, key), "get '\(key)' from '\(bucket)'", expecting: [NATS_NOT_FOUND])
            guard status == NATS_OK, let entry else { return nil }
            defer { kvEntry_Destroy(entry) }
            return KeyValueEntry(entry)
        }
    }

    /// Deletes `key` (a delete marker; later reads find no value). Deleting an absent key succeeds.
    public func delete(_ key: String) async throws {
        let kv = handle, bucket = bucket
        try await BlockingPool.shared.run {
            _ = try natsCheck(kvStore_Delete(kv.pointer, key), "delete '\(key)' from '\(bucket)'", subject: KeyValueConfig.subject(bucket: bucket, key: key))
        }
    }

    /// The keys that currently have a value, sorted. Reads the bucket through an ordered consumer (needs
    /// the JetStream consumer API); throws `.timeout` when that takes longer than `timeout`.
    public func keys(timeout: Duration = .seconds(5)) async throws -> [String] {
        let kv = handle, bucket = bucket
        return try await BlockingPool.shared.run {
            var options = kvWatchOptions()
            try natsCheck(kvWatchOptions_Init(&options), "kvWatchOptions_Init")
            options.Timeout = max(1, timeout.natsMilliseconds)
            var list = kvKeysList()
            let status = try natsCheck(kvStore_Keys(&list, kv.pointer, &options), "list keys of '\(bucket)'", expecting: [NATS_NOT_FOUND])
            defer { kvKeysList_Destroy(&list) }
            guard status == NATS_OK, let keys = list.Keys else { return [] }
            return (0..<Int(list.Count)).compactMap { swiftString(keys[$0]) }.sorted()
        }
    }

    /// The current value of every key, sorted by key (deleted and expired keys are left out). Reads the
    /// bucket through an ordered consumer like ``keys(timeout:)``.
    public func entries(timeout: Duration = .seconds(5)) async throws -> [KeyValueEntry] {
        let kv = handle, bucket = bucket
        return try await BlockingPool.shared.run {
            var options = kvWatchOptions()
            try natsCheck(kvWatchOptions_Init(&options), "kvWatchOptions_Init")
            options.IgnoreDeletes = true
            var watcher: OpaquePointer?
            try natsCheck(kvStore_WatchAll(&watcher, kv.pointer, &options), "watch '\(bucket)'")
            guard let watcher else { throw NATSError(code: .other, status: "Error", message: "watch '\(bucket)': no watcher") }
            defer { kvWatcher_Destroy(watcher) }
            let deadline = ContinuousClock.now + timeout
            var entries: [String: KeyValueEntry] = [:]
            while true {
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else {
                    throw NATSError(code: .timeout, status: "Timeout", message: "read values of '\(bucket)': not complete within \(timeout)")
                }
                var entry: OpaquePointer?
                try natsCheck(kvWatcher_Next(&entry, watcher, max(1, remaining.natsMilliseconds)), "read values of '\(bucket)'")
                // A NULL entry marks the end of the current values.
                guard let entry else { break }
                defer { kvEntry_Destroy(entry) }
                let value = KeyValueEntry(entry)
                if kvEntry_Operation(entry) == kvOp_Put {
                    entries[value.key] = value
                } else {
                    entries[value.key] = nil
                }
            }
            return entries.values.sorted { $0.key < $1.key }
        }
    }

    /// The bucket's configuration and size (needs `$JS.API.STREAM.INFO.KV_<bucket>`).
    public func status() async throws -> KeyValueStatus {
        let kv = handle, bucket = bucket
        return try await BlockingPool.shared.run {
            var status: OpaquePointer?
            try natsCheck(kvStore_Status(&status, kv.pointer), "status of '\(bucket)'")
            guard let status else { throw NATSError(code: .other, status: "Error", message: "status of '\(bucket)': no status") }
            defer { kvStatus_Destroy(status) }
            let ttl = kvStatus_TTL(status)
            return KeyValueStatus(
                bucket: swiftString(kvStatus_Bucket(status)) ?? bucket, values: kvStatus_Values(status), history: Int(kvStatus_History(status)),
                ttl: ttl > 0 ? .nanoseconds(ttl) : nil, replicas: Int(kvStatus_Replicas(status)))
        }
    }
}

/// Owns a `kvStore*`.
final class KeyValueHandle: @unchecked Sendable {
    /// The nats.c store.
    let pointer: OpaquePointer

    /// Takes ownership of `pointer`.
    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    // Only frees memory (nats.c releases its reference to the JetStream context); nothing blocks.
    deinit { kvStore_Destroy(pointer) }
}

extension KeyValueEntry {
    /// Reads a `kvEntry` (copying the value).
    init(_ entry: OpaquePointer) {
        let length = Int(kvEntry_ValueLen(entry))
        var bytes: [UInt8] = []
        if length > 0, let raw = kvEntry_Value(entry) {
            bytes = Array(UnsafeRawBufferPointer(start: raw, count: length))
        }
        self.init(
            bucket: swiftString(kvEntry_Bucket(entry)) ?? "", key: swiftString(kvEntry_Key(entry)) ?? "", value: bytes,
            revision: kvEntry_Revision(entry), created: Date(timeIntervalSince1970: Double(kvEntry_Created(entry)) / 1e9))
    }
}
