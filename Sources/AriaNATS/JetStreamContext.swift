internal import CNATS
import Foundation
import Synchronization

/// JetStream on a connection: publishing with acknowledgements, managing streams and consumers, and
/// binding pull subscriptions to existing durable consumers.
///
/// Every call that waits for the server runs on a pool thread, never on the cooperative pool.
public final class JetStreamContext: Sendable {
    /// The connection the context uses.
    public let connection: NATSConnection
    /// The longest a JetStream API request waits for the server.
    public let apiTimeout: Duration
    let handle: JetStreamHandle
    private let outcomes: PublishOutcomes

    init(connection: NATSConnection, apiTimeout: Duration, maxPendingAsyncPublishes: Int = 4_000) throws {
        self.connection = connection
        self.apiTimeout = apiTimeout
        let outcomes = PublishOutcomes()
        self.outcomes = outcomes
        var options = jsOptions()
        try natsCheck(jsOptions_Init(&options), "jsOptions_Init")
        options.Wait = max(1, apiTimeout.natsMilliseconds)
        options.PublishAsync.MaxPending = Int64(maxPendingAsyncPublishes)
        let context = Unmanaged.passRetained(outcomes)
        // Every acknowledgement and failure comes to one handler: a registered callback gets it
        // (``publishAsync(_:_:headers:messageID:onOutcome:)``), or else a failure is kept for
        // ``publishAsyncComplete(timeout:messageIDs:)``.
        options.PublishAsync.AckHandler = ariaJSPublishAsyncAck
        options.PublishAsync.AckHandlerClosure = context.toOpaque()
        var pointer: OpaquePointer?
        do {
            try natsCheck(natsConnection_JetStream(&pointer, connection.handle.pointer, &options), "create JetStream context")
        } catch {
            context.release()
            throw error
        }
        guard let pointer else {
            context.release()
            throw NATSError(code: .other, status: "Error", message: "create JetStream context: no context")
        }
        handle = JetStreamHandle(pointer, outcomes: context)
    }

    // MARK: Publishing

    /// Publishes to a stream's subject and waits for the server's acknowledgement.
    ///
    /// `messageID` becomes the `Nats-Msg-Id` header: a repeat within the stream's duplicate window is not
    /// stored again and the ack says `duplicate`. Errors carry the JetStream code (10077 when a
    /// discard-new stream is full); `.noResponders` when no stream listens on `subject`.
    public func publish(
        _ subject: String, _ payload: [UInt8], headers: [(String, String)] = [], messageID: String? = nil, timeout: Duration? = nil
    ) async throws -> PublishAck {
        let js = handle
        let connection = connection
        return try await BlockingPool.shared.run {
            let arena = CArena()
            var options = jsPubOptions()
            try natsCheck(jsPubOptions_Init(&options), "jsPubOptions_Init")
            if let messageID { options.MsgId = arena.string(messageID) }
            if let timeout { options.MaxWait = max(1, timeout.natsMilliseconds) }
            var ack: UnsafeMutablePointer<jsPubAck>?
            var errorCode = jsErrCode(rawValue: 0)
            let status: natsStatus
            if headers.isEmpty {
                status = payload.withUnsafeBytes { bytes in
                    js_Publish(&ack, js.pointer, subject, bytes.baseAddress, Int32(bytes.count), &options, &errorCode)
                }
            } else {
                let message = try connection.makeNATSMessage(subject: subject, reply: nil, payload: payload, headers: headers)
                defer { natsMsg_Destroy(message) }
                status = js_PublishMsg(&ack, js.pointer, message, &options, &errorCode)
            }
            try natsCheck(status, "JetStream publish", subject: subject, jetStreamErrorCode: errorCode)
            guard let ack else { throw NATSError(code: .other, status: "Error", message: "JetStream publish: no ack", subject: subject) }
            defer { jsPubAck_Destroy(ack) }
            return PublishAck(stream: swiftString(ack.pointee.Stream) ?? "", sequence: ack.pointee.Sequence, duplicate: ack.pointee.Duplicate)
        }
    }

    /// Publishes without waiting for the acknowledgement; failures are reported by `publishAsyncComplete`.
    ///
    /// Does not wait for the server, but when 4,000 publishes are already unacknowledged nats.c stalls
    /// the caller up to 200 ms and then throws.
    /// The acknowledgements come back under the connection's inbox prefix (measured with nats.c 3.4.1).
    public func publishAsync(_ subject: String, _ payload: [UInt8], headers: [(String, String)] = [], messageID: String? = nil) throws {
        let arena = CArena()
        var options = jsPubOptions()
        try natsCheck(jsPubOptions_Init(&options), "jsPubOptions_Init")
        if let messageID { options.MsgId = arena.string(messageID) }
        let status: natsStatus
        if headers.isEmpty {
            status = payload.withUnsafeBytes { bytes in
                js_PublishAsync(handle.pointer, subject, bytes.baseAddress, Int32(bytes.count), &options)
            }
        } else {
            var message: OpaquePointer? = try connection.makeNATSMessage(subject: subject, reply: nil, payload: payload, headers: headers)
            status = js_PublishMsgAsync(handle.pointer, &message, &options)
            // nats.c clears `message` when it takes ownership; destroying NULL is a no-op.
            natsMsg_Destroy(message)
        }
        try natsCheck(status, "JetStream async publish", subject: subject)
    }

    /// Publishes like ``publishAsync(_:_:headers:messageID:)`` and hands how it ended to `onOutcome`: once
    /// the server acknowledged it (or refused it), on nats.c's acknowledgement thread, so `onOutcome` must
    /// not block. Nothing waits for it, no task and no thread: a publisher that needs every message
    /// confirmed counts the outcomes instead of calling ``publishAsyncComplete(timeout:messageIDs:)``.
    ///
    /// Outcomes are matched to callbacks by `messageID`, in publication order when the same id is
    /// published again before its acknowledgement. A callback whose acknowledgement never comes (the
    /// connection was lost) is never called; it is dropped when more than 10,000 are waiting and it is
    /// two minutes old. Throws, without calling `onOutcome`, when the message could not be sent.
    public func publishAsync(_ subject: String, _ payload: [UInt8], headers: [(String, String)] = [], messageID: String,
                             onOutcome: @escaping @Sendable (PublishOutcome) -> Void) throws {
        outcomes.register(messageID, onOutcome)
        do {
            try publishAsync(subject, payload, headers: headers, messageID: messageID)
        } catch {
            outcomes.unregisterLast(messageID)
            throw error
        }
    }

    /// Waits until every asynchronous publish is acknowledged or failed, and returns (and forgets) the
    /// failures since the previous call. Throws `.timeout` if acknowledgements are still missing after
    /// `timeout` (the failures so far are kept for the next call).
    ///
    /// With `messageIDs`, returns only the failures of those messages (and of messages without an id):
    /// the failures of other publishers' messages stay for them, so concurrent publishers on one context
    /// never take each other's failures.
    public func publishAsyncComplete(timeout: Duration, messageIDs: Set<String>? = nil) async throws -> [PublishFailure] {
        let js = handle
        try await BlockingPool.shared.run {
            var options = jsPubOptions()
            try natsCheck(jsPubOptions_Init(&options), "jsPubOptions_Init")
            options.MaxWait = max(1, timeout.natsMilliseconds)
            try natsCheck(js_PublishAsyncComplete(js.pointer, &options), "JetStream async publish complete")
        }
        guard let messageIDs else { return outcomes.takeAll() }
        return outcomes.take(messageIDs: messageIDs)
    }

    // MARK: Streams

    /// Creates the stream, or updates it when it exists with a different configuration.
    public func addOrUpdateStream(_ config: StreamConfig) async throws -> StreamInfo {
        try await api("add or update stream '\(config.name)'") { js in
            let arena = CArena()
            var cConfig = try config.cConfig(arena)
            var info: UnsafeMutablePointer<jsStreamInfo>?
            var errorCode = jsErrCode(rawValue: 0)
            do {
                try natsCheck(js_AddStream(&info, js, &cConfig, nil, &errorCode), "add stream '\(config.name)'", jetStreamErrorCode: errorCode)
            } catch let error as NATSError where error.jetStreamErrorCode == 10058 {
                // Stream name already in use with a different configuration.
                errorCode = jsErrCode(rawValue: 0)
                try natsCheck(js_UpdateStream(&info, js, &cConfig, nil, &errorCode), "update stream '\(config.name)'", jetStreamErrorCode: errorCode)
            }
            defer { jsStreamInfo_Destroy(info) }
            return try Self.readStreamInfo(info, operation: "add or update stream")
        }
    }

    /// The stream's configuration and state; throws `.notFound` when it does not exist.
    public func streamInfo(_ name: String) async throws -> StreamInfo {
        try await api("stream info '\(name)'") { js in
            var info: UnsafeMutablePointer<jsStreamInfo>?
            var errorCode = jsErrCode(rawValue: 0)
            try natsCheck(js_GetStreamInfo(&info, js, name, nil, &errorCode), "stream info '\(name)'", jetStreamErrorCode: errorCode)
            defer { jsStreamInfo_Destroy(info) }
            return try Self.readStreamInfo(info, operation: "stream info")
        }
    }

    /// Deletes the stream, its messages and consumers; throws `.notFound` when it does not exist.
    public func deleteStream(_ name: String) async throws {
        try await api("delete stream '\(name)'") { js in
            var errorCode = jsErrCode(rawValue: 0)
            try natsCheck(js_DeleteStream(js, name, nil, &errorCode), "delete stream '\(name)'", jetStreamErrorCode: errorCode)
        }
    }

    /// Removes every message from the stream.
    public func purgeStream(_ name: String) async throws {
        try await api("purge stream '\(name)'") { js in
            var errorCode = jsErrCode(rawValue: 0)
            try natsCheck(js_PurgeStream(js, name, nil, &errorCode), "purge stream '\(name)'", jetStreamErrorCode: errorCode)
        }
    }

    /// Removes one message from the stream.
    public func deleteMessage(stream: String, sequence: UInt64) async throws {
        try await api("delete message \(sequence) from '\(stream)'") { js in
            var errorCode = jsErrCode(rawValue: 0)
            try natsCheck(
                js_DeleteMsg(js, stream, sequence, nil, &errorCode), "delete message \(sequence) from '\(stream)'",
                jetStreamErrorCode: errorCode)
        }
    }

    // MARK: Consumers

    /// Creates the durable pull consumer, or updates it when it exists with a different configuration.
    public func addOrUpdateConsumer(stream: String, _ config: ConsumerConfig) async throws -> ConsumerInfo {
        try await api("add or update consumer '\(stream)/\(config.durable)'") { js in
            let arena = CArena()
            var cConfig = try config.cConfig(arena)
            var info: UnsafeMutablePointer<jsConsumerInfo>?
            var errorCode = jsErrCode(rawValue: 0)
            let name = "'\(stream)/\(config.durable)'"
            do {
                try natsCheck(js_AddConsumer(&info, js, stream, &cConfig, nil, &errorCode), "add consumer \(name)", jetStreamErrorCode: errorCode)
            } catch let error as NATSError where [10013, 10148].contains(error.jetStreamErrorCode) {
                // Consumer name already in use (10013) / already exists (10148, newer servers).
                errorCode = jsErrCode(rawValue: 0)
                try natsCheck(
                    js_UpdateConsumer(&info, js, stream, &cConfig, nil, &errorCode), "update consumer \(name)", jetStreamErrorCode: errorCode)
            }
            defer { jsConsumerInfo_Destroy(info) }
            return try Self.readConsumerInfo(info, operation: "add or update consumer")
        }
    }

    /// The consumer's configuration and state; throws `.notFound` when the stream or consumer does not exist.
    public func consumerInfo(stream: String, consumer: String) async throws -> ConsumerInfo {
        try await api("consumer info '\(stream)/\(consumer)'") { js in
            var info: UnsafeMutablePointer<jsConsumerInfo>?
            var errorCode = jsErrCode(rawValue: 0)
            try natsCheck(
                js_GetConsumerInfo(&info, js, stream, consumer, nil, &errorCode), "consumer info '\(stream)/\(consumer)'",
                jetStreamErrorCode: errorCode)
            defer { jsConsumerInfo_Destroy(info) }
            return try Self.readConsumerInfo(info, operation: "consumer info")
        }
    }

    /// Deletes the consumer; throws `.notFound` when it does not exist.
    public func deleteConsumer(stream: String, consumer: String) async throws {
        try await api("delete consumer '\(stream)/\(consumer)'") { js in
            var errorCode = jsErrCode(rawValue: 0)
            try natsCheck(
                js_DeleteConsumer(js, stream, consumer, nil, &errorCode), "delete consumer '\(stream)/\(consumer)'",
                jetStreamErrorCode: errorCode)
        }
    }

    /// A pull subscription bound to the existing durable consumer `consumer` of `stream`.
    ///
    /// Binding needs no stream lookup and creates nothing, so the user needs only
    /// `$JS.API.CONSUMER.INFO.<stream>.<consumer>`, `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`,
    /// `$JS.ACK.<stream>.<consumer>.>` and its inbox. Throws `.notFound` when the consumer does not exist.
    public func pullSubscribe(stream: String, consumer: String) async throws -> PullSubscription {
        let pointer = try await api("pull subscribe to '\(stream)/\(consumer)'") { js in
            let arena = CArena()
            var options = jsSubOptions()
            try natsCheck(jsSubOptions_Init(&options), "jsSubOptions_Init")
            options.Stream = arena.string(stream)
            options.Consumer = arena.string(consumer)
            var subscription: OpaquePointer?
            var errorCode = jsErrCode(rawValue: 0)
            try natsCheck(
                js_PullSubscribe(&subscription, js, nil, consumer, nil, &options, &errorCode),
                "pull subscribe to '\(stream)/\(consumer)'", jetStreamErrorCode: errorCode)
            guard let subscription else {
                throw NATSError(code: .other, status: "Error", message: "pull subscribe: no subscription")
            }
            return SendablePointer(pointer: subscription)
        }
        return PullSubscription(stream: stream, consumer: consumer, handle: SubscriptionHandle(pointer.pointer), connection: connection)
    }

    // MARK: Helpers

    /// Runs a blocking JetStream API call on a pool thread.
    private func api<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let js = handle
        return try await BlockingPool.shared.run { try body(js.pointer) }
    }

    private static func readStreamInfo(_ info: UnsafeMutablePointer<jsStreamInfo>?, operation: String) throws -> StreamInfo {
        guard let info else { throw NATSError(code: .other, status: "Error", message: "\(operation): no stream info") }
        return StreamInfo(info.pointee)
    }

    private static func readConsumerInfo(_ info: UnsafeMutablePointer<jsConsumerInfo>?, operation: String) throws -> ConsumerInfo {
        guard let info else { throw NATSError(code: .other, status: "Error", message: "\(operation): no consumer info") }
        return ConsumerInfo(info.pointee)
    }
}

/// Owns a `jsCtx*`.
final class JetStreamHandle: @unchecked Sendable {
    /// The nats.c JetStream context.
    let pointer: OpaquePointer
    private let outcomes: Unmanaged<PublishOutcomes>

    init(_ pointer: OpaquePointer, outcomes: Unmanaged<PublishOutcomes>) {
        self.pointer = pointer
        self.outcomes = outcomes
    }

    deinit {
        let js = SendablePointer(pointer: pointer)
        let outcomes = UncheckedSendable(outcomes)
        BlockingPool.shared.submit {
            jsCtx_Destroy(js.pointer)
            // nats.c gives no completion signal for its acknowledgement subscription, whose delivery
            // thread may be inside the error handler while the context is destroyed; release the
            // handler's context only well after that.
            DispatchQueue.global().asyncAfter(deadline: .now() + 10) { outcomes.value.release() }
        }
    }
}

/// Takes nats.c's asynchronous publish outcomes: hands each to the callback registered for its message id,
/// or else collects the failures for ``JetStreamContext/publishAsyncComplete(timeout:messageIDs:)``.
final class PublishOutcomes: Sendable {
    private let failures = Mutex<[PublishFailure]>([])
    /// Callbacks waiting for an outcome, by message id, oldest first, with when they were registered.
    private let callbacks = Mutex<[String: [(registered: ContinuousClock.Instant, call: @Sendable (PublishOutcome) -> Void)]]>([:])
    /// Beyond this many ids waiting, callbacks older than two minutes are dropped.
    static let waitingLimit = 10_000

    /// Registers `call` for the next outcome of `messageID`.
    func register(_ messageID: String, _ call: @escaping @Sendable (PublishOutcome) -> Void) {
        let now = ContinuousClock.now
        callbacks.withLock { callbacks in
            callbacks[messageID, default: []].append((now, call))
            if callbacks.count > Self.waitingLimit {
                callbacks = callbacks.compactMapValues { waiting in
                    let kept = waiting.filter { now - $0.registered < .seconds(120) }
                    return kept.isEmpty ? nil : kept
                }
            }
        }
    }

    /// Forgets the callback registered last for `messageID` (its message was not sent).
    func unregisterLast(_ messageID: String) {
        callbacks.withLock { callbacks in
            callbacks[messageID]?.removeLast()
            if callbacks[messageID]?.isEmpty == true { callbacks[messageID] = nil }
        }
    }

    /// Hands an outcome to the oldest callback of `messageID`; false if none is registered.
    func deliver(_ outcome: PublishOutcome, messageID: String?) -> Bool {
        guard let messageID else { return false }
        let call = callbacks.withLock { callbacks -> (@Sendable (PublishOutcome) -> Void)? in
            guard var waiting = callbacks[messageID], !waiting.isEmpty else { return nil }
            let first = waiting.removeFirst()
            callbacks[messageID] = waiting.isEmpty ? nil : waiting
            return first.call
        }
        call?(outcome)
        return call != nil
    }

    /// The most failures kept unclaimed (the oldest go first): a publisher that never asks for its
    /// failures cannot grow the list without bound.
    static let capacity = 10_000

    /// Records a failure.
    func add(_ failure: PublishFailure) {
        failures.withLock { failures in
            failures.append(failure)
            if failures.count > Self.capacity { failures.removeFirst(failures.count - Self.capacity) }
        }
    }

    /// Returns and forgets the failures of `messageIDs` and those without an id; keeps the others.
    func take(messageIDs: Set<String>) -> [PublishFailure] {
        failures.withLock { failures in
            var taken: [PublishFailure] = [], kept: [PublishFailure] = []
            for failure in failures {
                if let id = failure.messageID, !messageIDs.contains(id) { kept.append(failure) } else { taken.append(failure) }
            }
            failures = kept
            return taken
        }
    }

    /// Returns and forgets the recorded failures.
    func takeAll() -> [PublishFailure] {
        failures.withLock { failures in
            let all = failures
            failures = []
            return all
        }
    }
}

/// A value moved across a concurrency boundary that is known to be safe.
struct UncheckedSendable<Value>: @unchecked Sendable {
    /// The value.
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// nats.c's asynchronous publish acknowledgement handler, called on its acknowledgement thread for every
/// outcome: hands it to the message's callback, or records a failure. Destroys the message, as nats.c asks.
func ariaJSPublishAsyncAck(_ js: OpaquePointer?, _ message: OpaquePointer?, _ ack: UnsafeMutablePointer<jsPubAck>?,
                           _ failure: UnsafeMutablePointer<jsPubAckErr>?, _ closure: UnsafeMutableRawPointer?) {
    defer { natsMsg_Destroy(message) }
    guard let closure else { return }
    let outcomes = Unmanaged<PublishOutcomes>.fromOpaque(closure).takeUnretainedValue()
    var messageID: String?
    if let message {
        var id: UnsafePointer<CChar>?
        if (try? natsCheck(natsMsgHeader_Get(message, "Nats-Msg-Id", &id), "read header", expecting: [NATS_NOT_FOUND])) == NATS_OK {
            messageID = swiftString(id)
        }
    }
    if let failure {
        let value = failure.pointee
        let subject = message.flatMap { swiftString(natsMsg_GetSubject($0)) } ?? ""
        let error = NATSError(
            status: value.Err, jetStreamErrorCode: Int(value.ErrCode.rawValue), operation: "JetStream async publish",
            detail: swiftString(value.ErrText), subject: subject)
        if !outcomes.deliver(.failed(error), messageID: messageID) {
            outcomes.add(PublishFailure(subject: subject, messageID: messageID, error: error))
        }
    } else if let ack {
        _ = outcomes.deliver(.acknowledged(duplicate: ack.pointee.Duplicate), messageID: messageID)
    }
}
