internal import CNATS
public import Foundation

/// The configuration of a JetStream stream (a subset of the server's, the part Aria uses).
public struct StreamConfig: Sendable, Hashable {
    /// When the server may remove messages.
    public enum Retention: String, Sendable, Hashable {
        /// Kept until a limit (count, bytes, age) is reached.
        case limits
        /// Removed once acknowledged by the (single) consumer of its subject.
        case workQueue
        /// Removed once every consumer with interest has acknowledged it.
        case interest
    }

    /// Where messages are stored.
    public enum Storage: String, Sendable, Hashable {
        /// On disk.
        case file
        /// In memory only.
        case memory
    }

    /// What happens when a limit is reached.
    public enum Discard: String, Sendable, Hashable {
        /// Remove the oldest messages.
        case old
        /// Refuse new messages (the publisher gets an error, e.g. JetStream code 10077).
        case new
    }

    /// The stream's name.
    public var name: String
    /// The subjects (wildcards allowed) whose messages the stream stores.
    public var subjects: [String]
    /// When messages may be removed. Default `.limits`.
    public var retention: Retention
    /// Where messages are stored. Default `.file`.
    public var storage: Storage
    /// The maximum number of messages; -1 for no limit.
    public var maxMessages: Int64
    /// The maximum total size in bytes; -1 for no limit.
    public var maxBytes: Int64
    /// The maximum size of one message; -1 for the server's limit.
    public var maxMessageSize: Int32
    /// The maximum age of a message; nil for no limit.
    public var maxAge: Duration?
    /// What to do when a limit is reached. Default `.old`.
    public var discard: Discard
    /// The window in which a repeated `Nats-Msg-Id` is dropped as a duplicate; nil for the server's default (2 minutes).
    public var duplicateWindow: Duration?
    /// The number of replicas (1 on a single server).
    public var replicas: Int
    /// The maximum number of messages per subject; -1 for no limit.
    public var maxMessagesPerSubject: Int64
    /// A human-readable description, if any.
    public var summary: String?

    /// Creates a configuration with unlimited limits by default.
    public init(
        name: String, subjects: [String], retention: Retention = .limits, storage: Storage = .file, maxMessages: Int64 = -1,
        maxBytes: Int64 = -1, maxMessageSize: Int32 = -1, maxAge: Duration? = nil, discard: Discard = .old,
        duplicateWindow: Duration? = nil, replicas: Int = 1, maxMessagesPerSubject: Int64 = -1, summary: String? = nil
    ) {
        self.name = name
        self.subjects = subjects
        self.retention = retention
        self.storage = storage
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.maxMessageSize = maxMessageSize
        self.maxAge = maxAge
        self.discard = discard
        self.duplicateWindow = duplicateWindow
        self.replicas = replicas
        self.maxMessagesPerSubject = maxMessagesPerSubject
        self.summary = summary
    }
}

/// A stream's configuration and state as the server reports them.
public struct StreamInfo: Sendable, Hashable {
    /// The configuration in force (with the server's defaults filled in).
    public var config: StreamConfig
    /// When the stream was created.
    public var created: Date
    /// The number of messages stored.
    public var messages: UInt64
    /// The bytes stored.
    public var bytes: UInt64
    /// The sequence of the oldest stored message.
    public var firstSequence: UInt64
    /// The sequence of the newest stored message.
    public var lastSequence: UInt64
    /// The number of consumers.
    public var consumerCount: Int

    /// The stream's name.
    public var name: String { config.name }
}

/// The configuration of a durable pull consumer with explicit acks, delivering from the start of the stream.
public struct ConsumerConfig: Sendable, Hashable {
    /// The durable name (also the consumer's name); no dots.
    public var durable: String
    /// Only messages on this subject (wildcards allowed) are delivered; nil for all the stream's subjects.
    public var filterSubject: String?
    /// How long the server waits for an ack before redelivering.
    public var ackWait: Duration
    /// The maximum number of deliveries of one message; -1 for no limit. Beyond it the message stays in
    /// the stream and the server only publishes an advisory.
    public var maxDeliver: Int
    /// The maximum number of delivered, unacknowledged messages.
    public var maxAckPending: Int
    /// The maximum number of waiting pull requests; nil for the server's default (512).
    public var maxWaiting: Int?
    /// Redelivery delays after the 1st, 2nd... failed delivery (instead of `ackWait`); `maxDeliver` must
    /// exceed its count.
    public var backoff: [Duration]
    /// A human-readable description, if any.
    public var description: String?

    /// Creates a consumer configuration.
    public init(
        durable: String, filterSubject: String? = nil, ackWait: Duration = .seconds(30), maxDeliver: Int = -1,
        maxAckPending: Int = 1_000, maxWaiting: Int? = nil, backoff: [Duration] = [], description: String? = nil
    ) {
        self.durable = durable
        self.filterSubject = filterSubject
        self.ackWait = ackWait
        self.maxDeliver = maxDeliver
        self.maxAckPending = maxAckPending
        self.maxWaiting = maxWaiting
        self.backoff = backoff
        self.description = description
    }
}

/// A consumer's configuration and state as the server reports them.
public struct ConsumerInfo: Sendable, Hashable {
    /// The consumer's name.
    public var name: String
    /// The stream it consumes.
    public var stream: String
    /// Messages not yet delivered.
    public var numPending: UInt64
    /// Messages delivered but not yet acknowledged.
    public var numAckPending: Int
    /// Messages delivered more than once.
    public var numRedelivered: Int
    /// Pull requests waiting for messages.
    public var numWaiting: Int
    /// The last delivered stream sequence.
    public var deliveredStreamSequence: UInt64
    /// The stream sequence below which everything is acknowledged.
    public var ackFloorStreamSequence: UInt64
    /// The configuration in force.
    public var config: ConsumerConfig
}

/// The server's acknowledgement of a JetStream publish.
public struct PublishAck: Sendable, Hashable {
    /// The stream that stored the message.
    public var stream: String
    /// The message's sequence in the stream.
    public var sequence: UInt64
    /// True when the server dropped the message as a duplicate (same `Nats-Msg-Id` within the window);
    /// `sequence` is then the original's.
    public var duplicate: Bool

    /// Creates an acknowledgement.
    public init(stream: String, sequence: UInt64, duplicate: Bool) {
        self.stream = stream
        self.sequence = sequence
        self.duplicate = duplicate
    }
}

/// How an asynchronous publish ended (``JetStreamContext/publishAsync(_:_:headers:messageID:onOutcome:)``).
public enum PublishOutcome: Sendable {
    /// The stream stored it; `duplicate` when it already had a message with the same id.
    case acknowledged(duplicate: Bool)
    /// The server refused it, or nats.c gave up waiting.
    case failed(NATSError)
}

/// An asynchronous JetStream publish that the server refused or that got no acknowledgement.
public struct PublishFailure: Sendable {
    /// The subject the message was published to.
    public var subject: String
    /// Its `Nats-Msg-Id`, if it had one.
    public var messageID: String?
    /// Why it failed.
    public var error: NATSError

    /// Creates a failure report.
    public init(subject: String, messageID: String?, error: NATSError) {
        self.subject = subject
        self.messageID = messageID
        self.error = error
    }
}

// MARK: - Conversions to and from nats.c structs

extension StreamConfig {
    /// Fills a `jsStreamConfig` whose strings live in `arena`.
    func cConfig(_ arena: CArena) throws -> jsStreamConfig {
        var config = jsStreamConfig()
        try natsCheck(jsStreamConfig_Init(&config), "jsStreamConfig_Init")
        config.Name = arena.string(name)
        if let summary { config.Description = arena.string(summary) }
        config.Subjects = arena.stringArray(subjects)
        config.SubjectsLen = Int32(subjects.count)
        switch retention {
        case .limits: config.Retention = js_LimitsPolicy
        case .workQueue: config.Retention = js_WorkQueuePolicy
        case .interest: config.Retention = js_InterestPolicy
        }
        config.Storage = storage == .file ? js_FileStorage : js_MemoryStorage
        config.Discard = discard == .old ? js_DiscardOld : js_DiscardNew
        config.MaxMsgs = maxMessages
        config.MaxBytes = maxBytes
        config.MaxMsgSize = maxMessageSize
        config.MaxMsgsPerSubject = maxMessagesPerSubject
        config.MaxAge = maxAge?.natsNanoseconds ?? 0
        config.Duplicates = duplicateWindow?.natsNanoseconds ?? 0
        config.Replicas = Int64(replicas)
        return config
    }

    /// Reads a `jsStreamConfig`.
    init(_ config: jsStreamConfig) {
        var subjects: [String] = []
        if let list = config.Subjects {
            for index in 0..<Int(config.SubjectsLen) { if let subject = swiftString(list[index]) { subjects.append(subject) } }
        }
        let retention: Retention
        switch config.Retention {
        case js_WorkQueuePolicy: retention = .workQueue
        case js_InterestPolicy: retention = .interest
        default: retention = .limits
        }
        self.init(
            name: swiftString(config.Name) ?? "", subjects: subjects, retention: retention,
            storage: config.Storage == js_MemoryStorage ? .memory : .file, maxMessages: config.MaxMsgs, maxBytes: config.MaxBytes,
            maxMessageSize: config.MaxMsgSize, maxAge: config.MaxAge > 0 ? .nanoseconds(config.MaxAge) : nil,
            discard: config.Discard == js_DiscardNew ? .new : .old,
            duplicateWindow: config.Duplicates > 0 ? .nanoseconds(config.Duplicates) : nil, replicas: Int(config.Replicas),
            maxMessagesPerSubject: config.MaxMsgsPerSubject, summary: swiftString(config.Description))
    }
}

extension StreamInfo {
    /// Reads a `jsStreamInfo`.
    init(_ info: jsStreamInfo) {
        config = info.Config.map { StreamConfig($0.pointee) } ?? StreamConfig(name: "", subjects: [])
        created = Date(timeIntervalSince1970: Double(info.Created) / 1e9)
        messages = info.State.Msgs
        bytes = info.State.Bytes
        firstSequence = info.State.FirstSeq
        lastSequence = info.State.LastSeq
        consumerCount = Int(info.State.Consumers)
    }
}

extension ConsumerConfig {
    /// Fills a `jsConsumerConfig` whose strings and arrays live in `arena`.
    func cConfig(_ arena: CArena) throws -> jsConsumerConfig {
        var config = jsConsumerConfig()
        try natsCheck(jsConsumerConfig_Init(&config), "jsConsumerConfig_Init")
        config.Durable = arena.string(durable)
        if let description { config.Description = arena.string(description) }
        config.DeliverPolicy = js_DeliverAll
        config.AckPolicy = js_AckExplicit
        config.AckWait = ackWait.natsNanoseconds
        config.MaxDeliver = Int64(maxDeliver)
        config.MaxAckPending = Int64(maxAckPending)
        if let maxWaiting { config.MaxWaiting = Int64(maxWaiting) }
        if let filterSubject { config.FilterSubject = arena.string(filterSubject) }
        if !backoff.isEmpty {
            config.BackOff = arena.int64Array(backoff.map(\.natsNanoseconds))
            config.BackOffLen = Int32(backoff.count)
        }
        return config
    }

    /// Reads a `jsConsumerConfig`.
    init(_ config: jsConsumerConfig) {
        var backoff: [Duration] = []
        if let list = config.BackOff {
            for index in 0..<Int(config.BackOffLen) { backoff.append(.nanoseconds(list[index])) }
        }
        self.init(
            durable: swiftString(config.Durable) ?? swiftString(config.Name) ?? "",
            filterSubject: swiftString(config.FilterSubject).flatMap { $0.isEmpty ? nil : $0 },
            ackWait: .nanoseconds(config.AckWait), maxDeliver: Int(config.MaxDeliver), maxAckPending: Int(config.MaxAckPending),
            maxWaiting: config.MaxWaiting > 0 ? Int(config.MaxWaiting) : nil, backoff: backoff,
            description: swiftString(config.Description))
    }
}

extension ConsumerInfo {
    /// Reads a `jsConsumerInfo`.
    init(_ info: jsConsumerInfo) {
        name = swiftString(info.Name) ?? ""
        stream = swiftString(info.Stream) ?? ""
        numPending = info.NumPending
        numAckPending = Int(info.NumAckPending)
        numRedelivered = Int(info.NumRedelivered)
        numWaiting = Int(info.NumWaiting)
        deliveredStreamSequence = info.Delivered.Stream
        ackFloorStreamSequence = info.AckFloor.Stream
        config = info.Config.map { ConsumerConfig($0.pointee) } ?? ConsumerConfig(durable: name)
    }
}
