import AriaBus
import AriaCore
import AriaNATS
import AriaStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// What a handler reports for one message it was given.
public enum HandlingOutcome: Sendable, Equatable {
    /// Its effects are committed (or were already): acknowledge.
    case committed
    /// It cannot be decoded or has an unsupported version: dead-letter it, never retry.
    case undecodable(AriaError)
    /// It may succeed later (database or bus unavailable): redeliver with backoff.
    case transient(AriaError)
    /// The service is shutting down before the work was committed: redeliver at once elsewhere.
    case shutdown
    /// It overtook the transaction that makes it valid: redeliver soon, a few times (``Delivery/Event/early``).
    case early(AriaError)
}

/// Pulls from one durable JetStream consumer and hands messages to a handler, never holding more than
/// `slots` unacknowledged messages (backpressure: nothing is fetched without a free slot).
///
/// Messages are handed over in groups of at most `handlerBatch` (control services commit a whole group in
/// one transaction; workers take one message at a time). Each outcome goes through the ``Delivery`` state
/// machine, which decides ack, nak with backoff, or dead letter.
public struct ConsumerLoop: Service {
    /// A handler of a group of messages; returns one outcome per message, in order.
    public typealias Handler = @Sendable ([NATSMessage]) async -> [HandlingOutcome]

    let jetStream: JetStreamContext
    let stream: String
    let consumer: String
    let slots: Int
    let fetchBatch: Int
    let handlerBatch: Int
    let store: RunStore
    let logger: Logger
    let handler: Handler
    /// Messages fetched and not yet settled (readable by others, e.g. the worker's presence).
    let inFlight: SharedCounter

    /// Creates a loop; `inFlight` counts the messages it holds.
    public init(jetStream: JetStreamContext, stream: String, consumer: String, slots: Int, fetchBatch: Int, handlerBatch: Int, store: RunStore, logger: Logger,
                inFlight: SharedCounter = SharedCounter(), handler: @escaping Handler) {
        self.jetStream = jetStream
        self.stream = stream
        self.consumer = consumer
        self.slots = max(1, slots)
        self.fetchBatch = max(1, fetchBatch)
        self.handlerBatch = max(1, handlerBatch)
        self.store = store
        self.logger = logger
        self.handler = handler
        self.inFlight = inFlight
    }

    /// Pulls and handles until graceful shutdown; then lets in-flight work finish (or nak on cancellation).
    public func run() async throws {
        let subscription = try await bind()
        let inFlight = inFlight
        let (slotFreed, signalSlot) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        var slotIterator = slotFreed.makeAsyncIterator()
        let stopping = SharedFlag()
        // While messages are in flight, fetch only once a quarter of the batch is free (or `refill` has
        // passed): slots freed one at a time would otherwise become fetches, and transactions, of one.
        let lowWater = max(1, min(fetchBatch, slots) / 4)
        let refill = Duration.milliseconds(5)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                var failures = 0
                var lastFetch = ContinuousClock.now
                while !stopping.isSet && !Task.isCancelled {
                    let held = inFlight.value
                    let free = slots - held
                    if free <= 0 {
                        _ = await slotIterator.next()
                        continue
                    }
                    let sinceFetch = ContinuousClock.now - lastFetch
                    if held > 0 && free < lowWater && sinceFetch < refill {
                        // Wait for more slots, but fetch what is free once `refill` has passed.
                        let wake = Task {
                            try await Task.sleep(for: refill - sinceFetch)
                            signalSlot.yield()
                        }
                        _ = await slotIterator.next()
                        wake.cancel()
                        continue
                    }
                    lastFetch = ContinuousClock.now
                    let messages: [NATSMessage]
                    do {
                        messages = try await subscription.fetch(max: min(free, fetchBatch), timeout: .milliseconds(500))
                        failures = 0
                    } catch {
                        failures += 1
                        if failures == 1 || failures % 20 == 0 {
                            logger.warning("fetch failed; retrying", metadata: ["consumer": "\(consumer)", "error": "\(error)"])
                        }
                        try? await Task.sleep(for: .milliseconds(min(50 * failures, 1000) + Int.random(in: 0...100)))
                        continue
                    }
                    if messages.isEmpty { continue }
                    if stopping.isSet {
                        // Fetched while shutting down (e.g. a message this process just nak'ed): hand it back.
                        for message in messages { await settle(message, .shutdown) }
                        break
                    }
                    inFlight.add(messages.count)
                    for start in stride(from: 0, to: messages.count, by: handlerBatch) {
                        let chunk = Array(messages[start..<min(start + handlerBatch, messages.count)])
                        group.addTask {
                            await self.handle(chunk)
                            inFlight.add(-chunk.count)
                            signalSlot.yield()
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            stopping.set()
            signalSlot.yield()
        }
        signalSlot.finish()
    }

    private func bind() async throws -> PullSubscription {
        var attempt = 0
        while true {
            do {
                return try await jetStream.pullSubscribe(stream: stream, consumer: consumer)
            } catch {
                attempt += 1
                if attempt == 1 || attempt % 20 == 0 {
                    logger.warning("cannot bind consumer yet; retrying", metadata: ["consumer": "\(consumer)", "error": "\(error)"])
                }
                try await Task.sleep(for: .milliseconds(min(100 * attempt, 2000)))
            }
        }
    }

    /// Runs the handler on a group and settles every message.
    func handle(_ messages: [NATSMessage]) async {
        var outcomes = await handler(messages)
        if outcomes.count != messages.count {
            logger.error("handler returned \(outcomes.count) outcomes for \(messages.count) messages")
            outcomes = Array(repeating: .transient(AriaError(.internal, "handler outcome mismatch")), count: messages.count)
        }
        for (message, outcome) in zip(messages, outcomes) {
            await settle(message, outcome)
        }
    }

    func settle(_ message: NATSMessage, _ outcome: HandlingOutcome) async {
        var delivery = Delivery(deliveryCount: Int(message.metadata?.numDelivered ?? 1))
        var actions: [Delivery.Action] = []
        switch outcome {
        case .undecodable(let error):
            actions = delivery.handle(.undecodable(error))
        case .committed:
            _ = delivery.handle(.decoded)
            actions = delivery.handle(.committed)
        case .transient(let error):
            _ = delivery.handle(.decoded)
            actions = delivery.handle(.failedTransiently(error))
        case .shutdown:
            actions = delivery.handle(.shutdown)
        case .early(let error):
            _ = delivery.handle(.decoded)
            actions = delivery.handle(.early(error))
            if actions == [.ack] {
                logger.notice("dropped a message whose transaction never committed", metadata: [
                    "subject": "\(message.subject)", "message_id": "\(message.header(AriaHeader.messageID) ?? "-")",
                    "reason": "\(error.message)", "deliveries": "\(delivery.deliveryCount)"])
            }
        }
        for action in actions {
            do {
                switch action {
                case .ack:
                    try message.ack()
                case .nak(let delay):
                    try message.nak(delay: delay > 0 ? .milliseconds(delay) : nil)
                case .deadLetter(let error):
                    let tenant = (try? Wire.peek(message.payload))?.tenant ?? Subjects.tenant(of: message.subject)
                    let id = try await store.recordDeadLetter(DeadLetter(
                        tenant: tenant, stream: stream, consumer: consumer, subject: message.subject,
                        deliveries: delivery.deliveryCount, error: error, payload: message.payload))
                    logger.error("message dead-lettered", metadata: ["consumer": "\(consumer)", "subject": "\(message.subject)", "code": "\(error.code)", "reason": "\(error.message)", "dead_letter": "\(id)"])
                    try message.term()
                case .ignore(let reason):
                    logger.debug("delivery event ignored", metadata: ["reason": "\(reason)"])
                }
            } catch {
                logger.warning("cannot settle message; it will be redelivered", metadata: ["subject": "\(message.subject)", "error": "\(error)"])
            }
        }
    }
}

/// Decodes an internal message, turning failure into the `undecodable_message` error.
public func decodeInternal<Body: Codable & Sendable>(_ type: Body.Type, _ message: NATSMessage, expecting messageType: MessageType) -> Result<Envelope<Body>, AriaError> {
    do {
        let envelope = try Wire.decode(Envelope<Body>.self, from: message.payload)
        guard envelope.type == messageType else {
            return .failure(AriaError(.undecodableMessage, "expected \(messageType) on \(message.subject), got \(envelope.type)"))
        }
        guard envelope.version <= WireVersion.current else {
            return .failure(AriaError(.unsupportedVersion, "\(envelope.type) version \(envelope.version) is newer than this service knows (\(WireVersion.current))"))
        }
        return .success(envelope)
    } catch {
        return .failure(AriaError(.undecodableMessage, "cannot decode \(messageType) on \(message.subject): \(String(describing: error).prefix(300))"))
    }
}

/// Classifies an error thrown while handling: typed domain errors keep their code; infrastructure errors are transient.
public func transientError(_ error: any Error) -> AriaError {
    if let aria = error as? AriaError { return aria }
    return AriaError(.internal, String(describing: error).prefix(500).description, category: .transient)
}

/// A counter shared between tasks.
public final class SharedCounter: Sendable {
    private let storage = Atomic<Int>(0)
    /// Creates a counter at zero.
    public init() {}
    /// The current value.
    public var value: Int { storage.load(ordering: .acquiring) }
    /// Adds `delta` and returns the new value.
    @discardableResult
    public func add(_ delta: Int) -> Int { storage.add(delta, ordering: .acquiringAndReleasing).newValue }
}

/// A flag shared between tasks, set once.
public final class SharedFlag: Sendable {
    private let storage = Atomic<Bool>(false)
    /// Creates an unset flag.
    public init() {}
    /// Whether the flag is set.
    public var isSet: Bool { storage.load(ordering: .acquiring) }
    /// Sets the flag.
    public func set() { storage.store(true, ordering: .releasing) }
}
