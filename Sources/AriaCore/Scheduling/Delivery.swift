/// The acknowledgement state machine of one JetStream delivery: decides ack, nak (with backoff) or term
/// from what the handler reported. Pure; consumers apply the action to the message.
///
/// The rule that keeps work safe: a message is acknowledged only after its effects are committed (or after
/// it was recorded as a dead letter); an undecodable message is never retried (no crash loop).
public struct Delivery: Sendable, Equatable {
    /// The states of a delivery.
    public enum State: Sendable, Equatable {
        /// Fetched; nothing decided.
        case received
        /// The handler runs.
        case processing
        /// An action was taken; further events are illegal.
        case settled
    }

    /// What the handler reports.
    public enum Event: Sendable, Equatable {
        /// The message decoded; the handler starts.
        case decoded
        /// The message cannot be decoded or has an unsupported version.
        case undecodable(AriaError)
        /// The handler committed its effects (or found them already committed).
        case committed
        /// The handler failed in a way that may succeed later (database or bus down).
        case failedTransiently(AriaError)
        /// The message overtook the transaction that makes it valid (a dispatch sent ahead of its run's
        /// commit found no run): redeliver soon, a few times, then drop it (that transaction rolled back).
        case early(AriaError)
        /// The service is shutting down before or during handling.
        case shutdown
    }

    /// What to do with the message.
    public enum Action: Sendable, Equatable {
        /// Acknowledge.
        case ack
        /// Redeliver after `delayMilliseconds` (0: at once).
        case nak(delayMilliseconds: Int64)
        /// Record the payload in `dead_letters` with the error, then terminate the message.
        case deadLetter(AriaError)
        /// Illegal event for the state; nothing to do.
        case ignore(String)
    }

    /// After this many deliveries an ``Event/early`` message is dropped (acknowledged) instead of retried.
    public static let earlyDeliveries = 8
    /// Base of the short redelivery backoff of ``Event/early`` messages, in milliseconds.
    public static let earlyBackoffBaseMilliseconds: Int64 = 10

    /// The current state.
    public private(set) var state: State = .received
    /// How many times the message has been delivered (1 on the first delivery).
    public let deliveryCount: Int
    /// After this many deliveries a transient failure is dead-lettered instead of retried (0: never).
    public let maxDeliveries: Int
    /// Base of the exponential redelivery backoff, in milliseconds.
    public let backoffBaseMilliseconds: Int64
    /// Cap of the redelivery backoff, in milliseconds.
    public let backoffCapMilliseconds: Int64

    /// Creates the machine for one delivery.
    public init(deliveryCount: Int, maxDeliveries: Int = 0, backoffBaseMilliseconds: Int64 = 250, backoffCapMilliseconds: Int64 = 10_000) {
        self.deliveryCount = max(1, deliveryCount)
        self.maxDeliveries = maxDeliveries
        self.backoffBaseMilliseconds = backoffBaseMilliseconds
        self.backoffCapMilliseconds = backoffCapMilliseconds
    }

    /// The redelivery delay after `deliveryCount` deliveries: base * 2^(n-1), capped.
    public var backoffMilliseconds: Int64 {
        let exponent = min(deliveryCount - 1, 20)
        return min(backoffCapMilliseconds, backoffBaseMilliseconds << Int64(exponent))
    }

    /// Applies `event` and returns the action (if any).
    public mutating func handle(_ event: Event) -> [Action] {
        switch (state, event) {
        case (.received, .decoded):
            state = .processing
            return []
        case (.received, .undecodable(let error)):
            state = .settled
            return [.deadLetter(error)]
        case (.received, .shutdown), (.processing, .shutdown):
            state = .settled
            return [.nak(delayMilliseconds: 0)]
        case (.processing, .committed):
            state = .settled
            return [.ack]
        case (.processing, .failedTransiently(let error)):
            state = .settled
            if maxDeliveries > 0, deliveryCount >= maxDeliveries { return [.deadLetter(error)] }
            return [.nak(delayMilliseconds: backoffMilliseconds)]
        case (.processing, .early):
            state = .settled
            if deliveryCount >= Self.earlyDeliveries { return [.ack] }
            return [.nak(delayMilliseconds: Self.earlyBackoffBaseMilliseconds << Int64(min(deliveryCount - 1, 20)))]
        case (.settled, _):
            return [.ignore("delivery already settled")]
        case (.received, .committed), (.received, .failedTransiently), (.received, .early):
            return [.ignore("handler result before the message was decoded")]
        case (.processing, .decoded), (.processing, .undecodable):
            return [.ignore("message already decoded")]
        }
    }
}
