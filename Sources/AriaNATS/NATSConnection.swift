internal import CNATS
public import Logging
import Synchronization

/// A connection to NATS through nats.c: publish, subscribe, request/reply, and the way into JetStream.
///
/// nats.c reconnects by itself (forever by default) and restores subscriptions; `events` reports
/// disconnects, reconnects, closure and asynchronous errors such as permission violations, which the
/// server reports only asynchronously. Calls that block in nats.c run on dedicated threads, never on
/// the cooperative pool; `publish` only appends to nats.c's buffer.
public final class NATSConnection: Sendable {
    /// The options the connection was made with.
    public let options: NATSConnectOptions
    let handle: ConnectionHandle
    let eventHub: ConnectionEvents
    let logger: Logger
    private let requestMux = Mutex<RequestMux?>(nil)

    private init(options: NATSConnectOptions, handle: ConnectionHandle, eventHub: ConnectionEvents, logger: Logger) {
        self.options = options
        self.handle = handle
        self.eventHub = eventHub
        self.logger = logger
    }

    /// Connects to the first reachable server in `options.urls`.
    ///
    /// Throws `.connectionFailed` when no server can be reached or authentication fails, unless
    /// `retryOnFailedConnect` is set: then the connection is returned not yet connected, publishes are
    /// buffered, and `.reconnected` is sent when it connects.
    public static func connect(_ options: NATSConnectOptions, logger: Logger) async throws -> NATSConnection {
        guard !options.urls.isEmpty else {
            throw NATSError(code: .invalidArgument, status: "Invalid Argument", message: "connect: no server URL given")
        }
        let eventHub = ConnectionEvents(logger: logger, connectionName: options.name)
        let pointer = try await BlockingPool.shared.run { try makeConnection(options, eventHub) }
        let connection = NATSConnection(options: options, handle: ConnectionHandle(pointer.pointer), eventHub: eventHub, logger: logger)
        logger.debug("NATS connection created", metadata: ["nats.options": "\(options)", "nats.connected": "\(connection.isConnected)"])
        return connection
    }

    private static func makeConnection(_ options: NATSConnectOptions, _ eventHub: ConnectionEvents) throws -> SendablePointer {
        let arena = CArena()
        var optionsPointer: OpaquePointer?
        try natsCheck(natsOptions_Create(&optionsPointer), "connect: natsOptions_Create")
        guard let opts = optionsPointer else { throw NATSError(code: .other, status: "Error", message: "connect: no options") }
        defer { natsOptions_Destroy(opts) }

        try natsCheck(natsOptions_SetServers(opts, arena.stringArray(options.urls), Int32(options.urls.count)), "connect: servers \(options.urls)")
        try natsCheck(natsOptions_SetNoRandomize(opts, true), "connect: no randomize")
        if let user = options.user {
            try natsCheck(natsOptions_SetUserInfo(opts, user, options.password ?? ""), "connect: user info")
        }
        try natsCheck(natsOptions_SetName(opts, options.name), "connect: name")
        if let prefix = options.inboxPrefix, !prefix.isEmpty {
            try natsCheck(natsOptions_SetCustomInboxPrefix(opts, options.effectiveInboxPrefix), "connect: inbox prefix '\(prefix)'")
        }
        try natsCheck(natsOptions_SetAllowReconnect(opts, true), "connect: allow reconnect")
        try natsCheck(natsOptions_SetMaxReconnect(opts, Int32(options.maxReconnectAttempts ?? -1)), "connect: max reconnect")
        try natsCheck(natsOptions_SetReconnectWait(opts, options.reconnectWait.natsMilliseconds), "connect: reconnect wait")
        let jitter = options.reconnectJitter.natsMilliseconds
        try natsCheck(natsOptions_SetReconnectJitter(opts, jitter, jitter), "connect: reconnect jitter")
        try natsCheck(natsOptions_SetTimeout(opts, max(1, options.connectTimeout.natsMilliseconds)), "connect: timeout")
        try natsCheck(natsOptions_SetSendAsap(opts, options.sendAsap), "connect: send asap")
        try natsCheck(natsOptions_SetPingInterval(opts, max(1, options.pingInterval.natsMilliseconds)), "connect: ping interval")
        if let size = options.reconnectBufferSize {
            try natsCheck(natsOptions_SetReconnectBufSize(opts, Int32(clamping: size)), "connect: reconnect buffer size")
        }

        // nats.c holds the hub until the closed callback releases it.
        let context = Unmanaged.passRetained(eventHub).toOpaque()
        var connectionPointer: OpaquePointer?
        do {
            try natsCheck(natsOptions_SetErrorHandler(opts, ariaNATSAsyncError, context), "connect: error handler")
            try natsCheck(natsOptions_SetDisconnectedCB(opts, ariaNATSDisconnected, context), "connect: disconnected callback")
            try natsCheck(natsOptions_SetReconnectedCB(opts, ariaNATSReconnected, context), "connect: reconnected callback")
            try natsCheck(natsOptions_SetClosedCB(opts, ariaNATSClosed, context), "connect: closed callback")
            if options.retryOnFailedConnect {
                try natsCheck(natsOptions_SetRetryOnFailedConnect(opts, true, ariaNATSReconnected, context), "connect: retry on failed connect")
            }
            // With retryOnFailedConnect, NATS_NOT_YET_CONNECTED: connecting goes on in the background.
            try natsCheck(
                natsConnection_Connect(&connectionPointer, opts), "connect to \(options.urls) as '\(options.name)'",
                expecting: [NATS_NOT_YET_CONNECTED])
        } catch {
            // A failed connect makes no callback, so nats.c no longer refers to the hub.
            Unmanaged<ConnectionEvents>.fromOpaque(context).release()
            throw error
        }
        guard let connectionPointer else { throw NATSError(code: .other, status: "Error", message: "connect: no connection") }
        return SendablePointer(pointer: connectionPointer)
    }

    /// Whether the connection is currently connected (not reconnecting, draining or closed).
    public var isConnected: Bool { natsConnection_Status(handle.pointer) == NATS_CONN_STATUS_CONNECTED }

    /// Whether the connection is closed for good.
    public var isClosed: Bool { natsConnection_IsClosed(handle.pointer) }

    /// A new stream of the events that happen from now on; every call returns an independent stream.
    /// The stream ends after `.closed`.
    public var events: AsyncStream<NATSConnectionEvent> { eventHub.stream() }

    /// Publishes `payload` to `subject` without waiting: nats.c buffers it (also while reconnecting)
    /// and its flusher sends it. With headers, the message is built as a `natsMsg`.
    public func publish(_ subject: String, _ payload: [UInt8], headers: [(String, String)] = [], reply: String? = nil) throws {
        let connection = handle.pointer
        if headers.isEmpty {
            let status = payload.withUnsafeBytes { bytes in
                if let reply {
                    natsConnection_PublishRequest(connection, subject, reply, bytes.baseAddress, Int32(bytes.count))
                } else {
                    natsConnection_Publish(connection, subject, bytes.baseAddress, Int32(bytes.count))
                }
            }
            try natsCheck(status, "publish", subject: subject)
        } else {
            let message = try makeNATSMessage(subject: subject, reply: reply, payload: payload, headers: headers)
            defer { natsMsg_Destroy(message) }
            try natsCheck(natsConnection_PublishMsg(connection, message), "publish", subject: subject)
        }
    }

    /// Sends a request and waits for the first reply, without blocking a thread.
    ///
    /// Replies come through one shared subscription on `<inboxPrefix>.<unique>.*`. Throws
    /// `.noResponders` at once when nobody subscribes to `subject`, `.timeout` after `timeout`.
    public func request(_ subject: String, _ payload: [UInt8], headers: [(String, String)] = [], timeout: Duration) async throws -> NATSMessage {
        let mux = try requestMultiplexer()
        return try await mux.request(subject: subject, timeout: timeout) { reply in
            try self.publish(subject, payload, headers: headers, reply: reply)
        }
    }

    /// Subscribes to `subject` (wildcards allowed), in queue group `queue` if given, buffering up to
    /// `bufferLimit` messages for the subscriber (see `NATSSubscription` for what happens beyond).
    public func subscribe(_ subject: String, queue: String? = nil, bufferLimit: Int = 1024) throws -> NATSSubscription {
        let inbox = MessageInbox(connection: self, subject: subject, limit: bufferLimit, logger: logger)
        let handle = try subscribeRaw(
            subject: subject, queue: queue, callback: ariaNATSMessage, completion: ariaNATSSubscriptionComplete, context: inbox)
        return NATSSubscription(subject: subject, queue: queue, inbox: inbox, handle: handle)
    }

    /// Subscribes with a nats.c message callback and `context`, which nats.c holds (retained) until
    /// `completion` runs after the subscription's last callback; `completion` must release it.
    func subscribeRaw<Context: SubscriptionContext>(
        subject: String, queue: String?,
        callback: @convention(c) (OpaquePointer?, OpaquePointer?, OpaquePointer?, UnsafeMutableRawPointer?) -> Void,
        completion: @convention(c) (UnsafeMutableRawPointer?) -> Void,
        context: Context
    ) throws -> SubscriptionHandle {
        let unmanaged = Unmanaged.passRetained(context)
        let pointer = unmanaged.toOpaque()
        var subscriptionPointer: OpaquePointer?
        do {
            if let queue {
                try natsCheck(
                    natsConnection_QueueSubscribe(&subscriptionPointer, handle.pointer, subject, queue, callback, pointer),
                    "subscribe (queue '\(queue)')", subject: subject)
            } else {
                try natsCheck(natsConnection_Subscribe(&subscriptionPointer, handle.pointer, subject, callback, pointer), "subscribe", subject: subject)
            }
        } catch {
            unmanaged.release()
            throw error
        }
        guard let subscriptionPointer else {
            unmanaged.release()
            throw NATSError(code: .other, status: "Error", message: "subscribe: no subscription", subject: subject)
        }
        do {
            try natsCheck(natsSubscription_SetOnCompleteCB(subscriptionPointer, completion, pointer), "set completion callback", subject: subject)
        } catch {
            // Closed already (the connection closed meanwhile). nats.c may still be in the message
            // callback, so the context is deliberately not released; just end it.
            context.finish()
        }
        return SubscriptionHandle(subscriptionPointer)
    }

    /// A new unique inbox subject under this connection's inbox prefix.
    public func newInbox() -> String {
        "\(options.effectiveInboxPrefix).\(uniqueToken())"
    }

    /// Waits until the server has processed everything published so far (a PING/PONG round trip).
    public func flush(timeout: Duration) async throws {
        let connection = handle
        _ = try await BlockingPool.shared.run {
            try natsCheck(natsConnection_FlushTimeout(connection.pointer, max(1, timeout.natsMilliseconds)), "flush")
        }
    }

    /// Drains every subscription, flushes publishes, then closes; returns once closed.
    /// Throws `.timeout` if the connection is not closed within `timeout` (plus a second of grace).
    public func drain(timeout: Duration) async throws {
        if !eventHub.isClosed {
            try natsCheck(
                natsConnection_DrainTimeout(handle.pointer, max(1, timeout.natsMilliseconds)), "drain", expecting: [NATS_CONNECTION_CLOSED])
        }
        guard await eventHub.waitUntilClosed(timeout: timeout + .seconds(1)) else {
            throw NATSError(code: .timeout, status: "Timeout", message: "drain: the connection did not close within \(timeout)")
        }
    }

    /// Closes the connection now: buffered publishes are flushed if possible, subscriptions end.
    /// nats.c joins its reconnect thread here, so this may block for up to `connectTimeout` while a
    /// reconnect attempt is in progress; prefer `drain(timeout:)` for a graceful shutdown.
    public func close() {
        natsConnection_Close(handle.pointer)
    }

    /// A JetStream context whose API requests wait at most `apiTimeout`.
    public func jetStream(apiTimeout: Duration = .seconds(5)) throws -> JetStreamContext {
        try JetStreamContext(connection: self, apiTimeout: apiTimeout)
    }

    private func requestMultiplexer() throws -> RequestMux {
        try requestMux.withLock { mux in
            if let mux { return mux }
            let created = try RequestMux(connection: self)
            mux = created
            return created
        }
    }

    /// Builds a `natsMsg` with headers; the caller owns (destroys) it.
    func makeNATSMessage(subject: String, reply: String?, payload: [UInt8], headers: [(String, String)]) throws -> OpaquePointer {
        var messagePointer: OpaquePointer?
        let status = payload.withUnsafeBytes { bytes in
            natsMsg_Create(&messagePointer, subject, reply, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        }
        try natsCheck(status, "create message", subject: subject)
        guard let message = messagePointer else { throw NATSError(code: .other, status: "Error", message: "create message: no message", subject: subject) }
        do {
            for (name, value) in headers {
                try natsCheck(natsMsgHeader_Add(message, name, value), "set header '\(name)'", subject: subject)
            }
        } catch {
            natsMsg_Destroy(message)
            throw error
        }
        return message
    }
}

/// Owns a `natsConnection*`.
final class ConnectionHandle: @unchecked Sendable {
    /// The nats.c connection.
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit {
        // The last reference may go away on a nats.c callback thread; destroying (closing) the
        // connection from there could wait on that very thread, so do it on a pool thread.
        let connection = SendablePointer(pointer: pointer)
        BlockingPool.shared.submit { natsConnection_Destroy(connection.pointer) }
    }
}

/// A unique token (nats.c's NUID) for inbox subjects.
func uniqueToken() -> String {
    var inbox: UnsafeMutablePointer<CChar>?
    guard (try? natsCheck(natsInbox_Create(&inbox), "create inbox")) != nil, let inbox else {
        return String(UInt64.random(in: 0...UInt64.max), radix: 36) + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }
    defer { natsInbox_Destroy(inbox) }
    let full = String(cString: inbox)
    return full.split(separator: ".").last.map(String.init) ?? full
}
