internal import CNATS

/// A pull subscription bound to a durable JetStream consumer: `fetch` asks the server for messages.
///
/// nats.c's fetch blocks its thread until messages arrive or the time is up, so each pull
/// subscription fetches on a dedicated thread of its own: fetches of one subscription run one after
/// another, and no fetch ever occupies the cooperative pool. For parallel fetching, bind several pull
/// subscriptions to the same consumer.
public final class PullSubscription: Sendable {
    /// The stream consumed.
    public let stream: String
    /// The durable consumer bound to.
    public let consumer: String
    let handle: SubscriptionHandle
    private let connection: NATSConnection
    private let thread: DedicatedThread

    init(stream: String, consumer: String, handle: SubscriptionHandle, connection: NATSConnection) {
        self.stream = stream
        self.consumer = consumer
        self.handle = handle
        self.connection = connection
        thread = DedicatedThread(name: "aria.nats.fetch.\(stream).\(consumer)")
    }

    deinit { thread.stop() }

    /// Fetches up to `max` messages, waiting at most `timeout`; returns as soon as at least one message
    /// is available, and `[]` when none came in time.
    ///
    /// One pull request asks for `max` messages with `no_wait` and an expiry: the server (2.9+) answers
    /// at once with what it has, or holds the request until the first messages arrive or the expiry
    /// passes, so latency stays low when fewer than `max` are available. Cancelling the task does not
    /// interrupt a fetch in progress; it ends by `timeout`.
    public func fetch(max: Int, timeout: Duration) async throws -> [NATSMessage] {
        guard max > 0 else { return [] }
        let subscription = handle
        let connection = connection
        let name = "\(stream)/\(consumer)"
        return try await thread.run {
            let pointers = try Self.fetchPointers(subscription.pointer, max: max, timeout: timeout, consumer: name)
            return pointers.map { NATSMessage(taking: $0.pointer, connection: connection, owner: subscription) }
        }
    }

    /// Removes interest; the durable consumer stays on the server.
    public func unsubscribe() {
        // Unsubscribing a closed subscription fails harmlessly.
        _ = try? natsCheck(natsSubscription_Unsubscribe(handle.pointer), "unsubscribe from '\(stream)/\(consumer)'")
    }

    /// Drains the subscription (messages already received are still acknowledgeable); the consumer stays.
    public func drain() {
        _ = try? natsCheck(natsSubscription_Drain(handle.pointer), "drain '\(stream)/\(consumer)'")
    }

    /// The blocking fetch, run on the subscription's thread; the caller owns the returned messages.
    static func fetchPointers(_ subscription: OpaquePointer, max: Int, timeout: Duration, consumer: String) throws -> [SendablePointer] {
        var request = jsFetchRequest()
        try natsCheck(jsFetchRequest_Init(&request), "jsFetchRequest_Init")
        request.Batch = Int32(clamping: max)
        request.NoWait = true
        request.Expires = Swift.max(1, timeout.natsMilliseconds) * 1_000_000
        var list = natsMsgList()
        defer { natsMsgList_Destroy(&list) }
        // Nothing came in time: NATS_TIMEOUT (expired) or NATS_NOT_FOUND (the server's "no messages").
        try natsCheck(natsSubscription_FetchRequest(&list, subscription, &request), "fetch from '\(consumer)'", expecting: [NATS_TIMEOUT, NATS_NOT_FOUND])
        var messages: [SendablePointer] = []
        messages.reserveCapacity(Int(list.Count))
        for index in 0..<Int(list.Count) {
            // Take each message out of the list so that natsMsgList_Destroy frees only the array.
            if let message = list.Msgs[index] {
                messages.append(SendablePointer(pointer: message))
                list.Msgs[index] = nil
            }
        }
        return messages
    }
}

