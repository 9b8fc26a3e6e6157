internal import CNATS
import Logging
import Synchronization

/// A core NATS subscription: nats.c's callback puts messages into a bounded buffer that the
/// subscriber drains as an `AsyncSequence`.
///
/// When the buffer is full, a new message is dropped: it is counted in `droppedCount` and a warning is
/// logged (first drop, then every 1,000th), so a slow subscriber never blocks nats.c's delivery thread
/// nor grows memory without bound. The sequence ends when the subscription is unsubscribed, drained, or
/// its connection closes, after the buffered messages have been delivered.
public final class NATSSubscription: AsyncSequence, Sendable {
    /// The messages received.
    public typealias Element = NATSMessage
    /// Iteration never throws; it ends with nil.
    public typealias Failure = Never

    /// The subject (possibly with wildcards) subscribed to.
    public let subject: String
    /// The queue group, if any.
    public let queue: String?
    let inbox: MessageInbox
    private let handle: SubscriptionHandle

    init(subject: String, queue: String?, inbox: MessageInbox, handle: SubscriptionHandle) {
        self.subject = subject
        self.queue = queue
        self.inbox = inbox
        self.handle = handle
    }

    /// How many messages were dropped because the buffer was full.
    public var droppedCount: Int { inbox.droppedCount }

    /// Removes interest at once; messages already buffered are still delivered, then the sequence ends.
    public func unsubscribe() {
        // Unsubscribing a closed subscription fails harmlessly.
        _ = try? natsCheck(natsSubscription_Unsubscribe(handle.pointer), "unsubscribe", subject: subject)
    }

    /// Stops receiving new messages after those the server already sent have been processed, then ends the sequence.
    public func drain() {
        _ = try? natsCheck(natsSubscription_Drain(handle.pointer), "drain subscription", subject: subject)
    }

    /// Drains like `drain()` and waits until every message received before has been handed to the
    /// buffer (or dropped); throws `.timeout` if that takes longer than `timeout`.
    public func drain(timeout: Duration) async throws {
        let subscription = handle
        try await BlockingPool.shared.run {
            try natsCheck(natsSubscription_Drain(subscription.pointer), "drain subscription", subject: self.subject, expecting: [NATS_INVALID_SUBSCRIPTION])
            try natsCheck(
                natsSubscription_WaitForDrainCompletion(subscription.pointer, Swift.max(1, timeout.natsMilliseconds)),
                "wait for subscription drain", subject: self.subject)
        }
    }

    /// An iterator over the received messages; iterating keeps the subscription alive.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let subscription: NATSSubscription

        /// The next message, or nil once the subscription has ended (or the task is cancelled).
        public mutating func next() async -> NATSMessage? {
            await subscription.inbox.next()
        }
    }

    /// Makes an iterator over the received messages.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(subscription: self) }
}

/// Owns a `natsSubscription*`; destroying it removes interest if still subscribed.
final class SubscriptionHandle: @unchecked Sendable {
    /// The nats.c subscription.
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit {
        // The last reference may go away on the subscription's own delivery thread (in its completion
        // callback); destroying from there could wait on that thread, so do it on a pool thread.
        let subscription = SendablePointer(pointer: pointer)
        BlockingPool.shared.submit { natsSubscription_Destroy(subscription.pointer) }
    }
}

/// The context object of a nats.c subscription callback.
protocol SubscriptionContext: AnyObject, Sendable {
    /// The subscription has ended: no more callbacks come.
    func finish()
}

/// The bounded buffer between nats.c's delivery thread and the subscriber; the context object of the
/// subscription's callbacks (retained by nats.c until the subscription's completion callback).
final class MessageInbox: SubscriptionContext {
    private struct State {
        var buffer = FIFO<NATSMessage>()
        var waiters: [(id: UInt64, continuation: CheckedContinuation<NATSMessage?, Never>)] = []
        var nextWaiterID: UInt64 = 0
        var finished = false
        var dropped = 0
    }

    private enum Delivery {
        case resume(CheckedContinuation<NATSMessage?, Never>)
        case buffered
        case dropped(Int)
    }

    /// The connection messages arrived on (for `respond`).
    let connection: NATSConnection
    private let limit: Int
    private let subject: String
    private let logger: Logger
    private let state = Mutex(State())

    init(connection: NATSConnection, subject: String, limit: Int, logger: Logger) {
        self.connection = connection
        self.subject = subject
        self.limit = max(1, limit)
        self.logger = logger
    }

    /// How many messages were dropped.
    var droppedCount: Int { state.withLock { $0.dropped } }

    /// Hands `message` to a waiting subscriber, buffers it, or drops it when the buffer is full.
    func deliver(_ message: NATSMessage) {
        let delivery: Delivery = state.withLock { state in
            if state.finished { return .dropped(0) }
            if !state.waiters.isEmpty { return .resume(state.waiters.removeFirst().continuation) }
            if state.buffer.count < limit {
                state.buffer.append(message)
                return .buffered
            }
            state.dropped += 1
            return .dropped(state.dropped)
        }
        switch delivery {
        case .resume(let continuation): continuation.resume(returning: message)
        case .buffered: break
        case .dropped(let count):
            if count == 1 || count % 1_000 == 0 {
                logger.warning("NATS subscription buffer full; dropping messages", metadata: [
                    "nats.subject": "\(subject)", "nats.dropped": "\(count)", "nats.buffer_limit": "\(limit)",
                ])
            }
        }
    }

    /// Ends the sequence once the buffer is empty.
    func finish() {
        let waiters = state.withLock { state in
            state.finished = true
            let waiters = state.waiters
            state.waiters = []
            return waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
    }

    /// The next buffered message, waiting for one if needed; nil when finished or cancelled.
    func next() async -> NATSMessage? {
        if Task.isCancelled { return nil }
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<NATSMessage?, Never>) in
                enum Immediate { case message(NATSMessage), end, wait }
                let immediate: Immediate = state.withLock { state in
                    if let message = state.buffer.popFirst() { return .message(message) }
                    if state.finished || Task.isCancelled { return .end }
                    state.waiters.append((id, continuation))
                    return .wait
                }
                switch immediate {
                case .message(let message): continuation.resume(returning: message)
                case .end: continuation.resume(returning: nil)
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<NATSMessage?, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }
}

// MARK: - nats.c subscription callbacks

/// nats.c's message callback for core subscriptions: wraps and buffers the message, never blocks.
func ariaNATSMessage(
    _ connection: OpaquePointer?, _ subscription: OpaquePointer?, _ message: OpaquePointer?, _ closure: UnsafeMutableRawPointer?
) {
    guard let message else { return }
    guard let closure else {
        natsMsg_Destroy(message)
        return
    }
    let inbox = Unmanaged<MessageInbox>.fromOpaque(closure).takeUnretainedValue()
    inbox.deliver(NATSMessage(taking: message, connection: inbox.connection))
}

/// nats.c's completion callback: runs after the last message callback of a closed subscription, so it
/// ends the sequence and releases the context.
func ariaNATSSubscriptionComplete(_ closure: UnsafeMutableRawPointer?) {
    guard let closure else { return }
    let unmanaged = Unmanaged<MessageInbox>.fromOpaque(closure)
    unmanaged.takeUnretainedValue().finish()
    unmanaged.release()
}
