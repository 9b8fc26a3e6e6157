internal import CNATS
public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A received message: owns nats.c's `natsMsg` and destroys it when released.
///
/// Subject, reply, payload and headers are copied out on arrival. The JetStream acknowledgements
/// (`ack`, `nak`, `term`...) go through nats.c on the underlying message, serialised by a lock because
/// nats.c's message is not thread-safe.
public final class NATSMessage: @unchecked Sendable {
    /// The subject the message was published to.
    public let subject: String
    /// The subject to answer to, if the publisher expects a reply (for JetStream messages: the ack subject).
    public let reply: String?
    /// The message body.
    public let payload: [UInt8]
    /// When this process took the message from nats.c: in the subscription's callback (core NATS), or as
    /// the fetch returned it (JetStream pull). The point where a client library hands a message to the
    /// application, before any hop to a task; `aria bench` measures latency to it.
    public let receivedAt: Date
    private let headerList: [(String, String)]

    private let pointer: OpaquePointer
    private let lock = NSLock()
    // Keep the connection (for `respond`) and, for pulled messages, the nats.c subscription (which acks
    // go through) alive as long as the message.
    private let connection: NATSConnection?
    private let owner: AnyObject?

    /// Takes ownership of `pointer`.
    init(taking pointer: OpaquePointer, connection: NATSConnection?, owner: AnyObject? = nil) {
        receivedAt = Date()
        self.pointer = pointer
        self.connection = connection
        self.owner = owner
        subject = swiftString(natsMsg_GetSubject(pointer)) ?? ""
        reply = swiftString(natsMsg_GetReply(pointer)).flatMap { $0.isEmpty ? nil : $0 }
        let length = Int(natsMsg_GetDataLength(pointer))
        if length > 0, let data = natsMsg_GetData(pointer) {
            payload = Array(UnsafeRawBufferPointer(start: data, count: length))
        } else {
            payload = []
        }
        headerList = Self.readHeaders(pointer)
    }

    deinit { natsMsg_Destroy(pointer) }

    /// Every header as (name, value) pairs, in the order nats.c reports them; repeated names appear repeatedly.
    public var headers: [(String, String)] { headerList }

    /// The first value of header `name` (exact match first, then case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        if let exact = headerList.first(where: { $0.0 == name }) { return exact.1 }
        let lowered = name.lowercased()
        return headerList.first(where: { $0.0.lowercased() == lowered })?.1
    }

    /// Publishes a reply to this message's reply subject through the connection it arrived on.
    public func respond(_ payload: [UInt8], headers: [(String, String)] = []) throws {
        guard let reply else {
            throw NATSError(code: .invalidArgument, status: "Invalid Argument", message: "respond: the message on '\(subject)' has no reply subject", subject: subject)
        }
        guard let connection else {
            throw NATSError(code: .connectionClosed, status: "Connection Closed", message: "respond: the message has no connection", subject: reply)
        }
        try connection.publish(reply, payload, headers: headers)
    }

    /// The JetStream delivery information encoded in the ack subject, or nil for a core NATS message.
    public var metadata: JetStreamMetadata? {
        guard let reply, reply.hasPrefix("$JS.ACK.") else { return nil }
        return lock.withLock {
            var meta: UnsafeMutablePointer<jsMsgMetaData>?
            guard (try? natsCheck(natsMsg_GetMetaData(&meta, pointer), "read metadata", subject: subject)) != nil, let meta else { return nil }
            defer { jsMsgMetaData_Destroy(meta) }
            let value = meta.pointee
            return JetStreamMetadata(
                stream: swiftString(value.Stream) ?? "",
                consumer: swiftString(value.Consumer) ?? "",
                streamSequence: value.Sequence.Stream,
                consumerSequence: value.Sequence.Consumer,
                numDelivered: value.NumDelivered,
                numPending: value.NumPending,
                timestamp: Date(timeIntervalSince1970: Double(value.Timestamp) / 1e9),
                domain: swiftString(value.Domain).flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    /// Acknowledges a JetStream message (buffered, fire-and-forget: a crash before the flush means a
    /// redelivery after the consumer's ack wait).
    public func ack() throws {
        _ = try lock.withLock {
            try natsCheck(natsMsg_Ack(pointer, nil), "ack", subject: subject)
        }
    }

    /// Acknowledges a JetStream message and waits for the server to confirm it (one round trip, off the
    /// cooperative pool).
    public func ackSync() async throws {
        let subject = subject
        try await BlockingPool.shared.run { [self] in
            _ = try lock.withLock {
                var errorCode = jsErrCode(rawValue: 0)
                let status = natsMsg_AckSync(pointer, nil, &errorCode)
                try natsCheck(status, "ackSync", subject: subject, jetStreamErrorCode: errorCode)
            }
        }
    }

    /// Negatively acknowledges a JetStream message: redeliver it now, or after `delay`.
    public func nak(delay: Duration? = nil) throws {
        _ = try lock.withLock {
            if let delay {
                try natsCheck(natsMsg_NakWithDelay(pointer, delay.natsMilliseconds, nil), "nak", subject: subject)
            } else {
                try natsCheck(natsMsg_Nak(pointer, nil), "nak", subject: subject)
            }
        }
    }

    /// Tells the server that work on the message is still going on, resetting its ack wait.
    public func inProgress() throws {
        _ = try lock.withLock {
            try natsCheck(natsMsg_InProgress(pointer, nil), "inProgress", subject: subject)
        }
    }

    /// Stops redelivery of the message for good (a WorkQueue stream removes it).
    public func term() throws {
        _ = try lock.withLock {
            try natsCheck(natsMsg_Term(pointer, nil), "term", subject: subject)
        }
    }

    /// Whether this is the server's "no responders" status reply to a request.
    var isNoResponders: Bool { natsMsg_IsNoResponders(pointer) }

    private static func readHeaders(_ pointer: OpaquePointer) -> [(String, String)] {
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var keyCount: Int32 = 0
        // NATS_NOT_FOUND: the message has no headers.
        guard (try? natsCheck(natsMsgHeader_Keys(pointer, &keys, &keyCount), "read headers", expecting: [NATS_NOT_FOUND])) == NATS_OK,
            let keys
        else { return [] }
        defer { free(UnsafeMutableRawPointer(keys)) }
        var result: [(String, String)] = []
        for index in 0..<Int(keyCount) {
            guard let key = keys[index] else { continue }
            let name = String(cString: key)
            var values: UnsafeMutablePointer<UnsafePointer<CChar>?>?
            var valueCount: Int32 = 0
            guard (try? natsCheck(natsMsgHeader_Values(pointer, key, &values, &valueCount), "read header '\(name)'")) != nil, let values
            else { continue }
            for valueIndex in 0..<Int(valueCount) {
                result.append((name, swiftString(values[valueIndex]) ?? ""))
            }
            free(UnsafeMutableRawPointer(values))
        }
        return result
    }
}

/// Where a JetStream message came from and how often it was delivered (from its ack subject).
public struct JetStreamMetadata: Sendable, Hashable {
    /// The stream the message is stored in.
    public var stream: String
    /// The consumer that delivered it.
    public var consumer: String
    /// The message's sequence in the stream.
    public var streamSequence: UInt64
    /// The delivery's sequence in the consumer.
    public var consumerSequence: UInt64
    /// How many times the message has been delivered, this delivery included (1 on first delivery).
    public var numDelivered: UInt64
    /// How many messages the consumer still had pending after this one.
    public var numPending: UInt64
    /// When the message was stored in the stream.
    public var timestamp: Date
    /// The JetStream domain, if any.
    public var domain: String?

    /// Creates metadata.
    public init(
        stream: String, consumer: String, streamSequence: UInt64, consumerSequence: UInt64, numDelivered: UInt64,
        numPending: UInt64, timestamp: Date, domain: String? = nil
    ) {
        self.stream = stream
        self.consumer = consumer
        self.streamSequence = streamSequence
        self.consumerSequence = consumerSequence
        self.numDelivered = numDelivered
        self.numPending = numPending
        self.timestamp = timestamp
        self.domain = domain
    }
}
