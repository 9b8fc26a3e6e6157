import AriaCore
import Testing

private let decodeError = AriaError(.undecodableMessage, "bad bytes")
private let dbDown = AriaError(.internal, "database unavailable")
private let noRunYet = AriaError(.notFound, "no run yet", category: .transient)

@Suite("Delivery")
struct DeliveryTests {
    // MARK: Every (state, event) pair

    /// Every state, in a form that can be iterated; `machine` reaches it through legal events.
    enum StateKind: String, CaseIterable, Sendable {
        case received, processing, settled

        /// Exhaustive on purpose: a new state does not compile until it is added here (and to the matrix).
        init(_ state: Delivery.State) {
            switch state {
            case .received: self = .received
            case .processing: self = .processing
            case .settled: self = .settled
            }
        }

        var state: Delivery.State {
            switch self {
            case .received: .received
            case .processing: .processing
            case .settled: .settled
            }
        }
    }

    enum EventKind: String, CaseIterable, Sendable {
        case decoded, undecodable, committed, failedTransiently, shutdown, early

        /// Exhaustive on purpose: a new event does not compile until it is added here (and to the matrix).
        init(_ event: Delivery.Event) {
            switch event {
            case .decoded: self = .decoded
            case .undecodable: self = .undecodable
            case .committed: self = .committed
            case .failedTransiently: self = .failedTransiently
            case .shutdown: self = .shutdown
            case .early: self = .early
            }
        }

        var event: Delivery.Event {
            switch self {
            case .decoded: .decoded
            case .undecodable: .undecodable(decodeError)
            case .committed: .committed
            case .failedTransiently: .failedTransiently(dbDown)
            case .shutdown: .shutdown
            case .early: .early(noRunYet)
            }
        }
    }

    static func machine(in state: Delivery.State, deliveryCount: Int = 3, maxDeliveries: Int = 0) -> Delivery {
        var delivery = Delivery(deliveryCount: deliveryCount, maxDeliveries: maxDeliveries)
        switch state {
        case .received:
            break
        case .processing:
            #expect(delivery.handle(.decoded).isEmpty)
        case .settled:
            _ = delivery.handle(.decoded)
            #expect(delivery.handle(.committed) == [.ack])
        }
        #expect(delivery.state == state)
        return delivery
    }

    /// The action (nil: an ignore) and the state afterwards, for the default machine (3rd delivery, no limit).
    static func expected(_ state: Delivery.State, _ event: Delivery.Event) -> (Delivery.Action?, Delivery.State) {
        switch state {
        case .received:
            switch event {
            case .decoded: return (nil, .processing)
            case .undecodable(let error): return (.deadLetter(error), .settled)
            case .committed, .failedTransiently, .early: return (nil, .received)
            case .shutdown: return (.nak(delayMilliseconds: 0), .settled)
            }
        case .processing:
            switch event {
            case .decoded, .undecodable: return (nil, .processing)
            case .committed: return (.ack, .settled)
            case .failedTransiently: return (.nak(delayMilliseconds: 1000), .settled)
            case .early: return (.nak(delayMilliseconds: 40), .settled)
            case .shutdown: return (.nak(delayMilliseconds: 0), .settled)
            }
        case .settled:
            return (nil, .settled)
        }
    }

    @Test("Every state x event pair has the specified outcome", arguments: StateKind.allCases, EventKind.allCases)
    func stateEventMatrix(stateKind: StateKind, eventKind: EventKind) {
        #expect(StateKind(stateKind.state) == stateKind)
        #expect(EventKind(eventKind.event) == eventKind)
        var delivery = Self.machine(in: stateKind.state)
        let (action, after) = Self.expected(stateKind.state, eventKind.event)
        let actions = delivery.handle(eventKind.event)
        if let action {
            #expect(actions == [action])
        } else if stateKind == .received && eventKind == .decoded {
            #expect(actions.isEmpty, "decoding only moves to processing")
        } else {
            #expect(actions.count == 1)
            if case .ignore? = actions.first {} else { Issue.record("expected ignore, got \(actions)") }
        }
        #expect(delivery.state == after)
    }

    @Test("A settled delivery ignores every later event, whatever settled it", arguments: EventKind.allCases)
    func settledIsFinal(settlingEvent: EventKind) {
        var delivery = Delivery(deliveryCount: 1)
        if settlingEvent != .undecodable && settlingEvent != .shutdown { _ = delivery.handle(.decoded) }
        let first = delivery.handle(settlingEvent.event)
        if settlingEvent == .decoded {
            #expect(delivery.state == .processing)
            return
        }
        #expect(first.count == 1)
        #expect(delivery.state == .settled)
        for event in EventKind.allCases {
            #expect(delivery.handle(event.event) == [.ignore("delivery already settled")])
            #expect(delivery.state == .settled)
        }
    }

    // MARK: Happy and sad paths

    @Test("Decoded then committed: acknowledged")
    func acked() {
        var delivery = Delivery(deliveryCount: 1)
        #expect(delivery.handle(.decoded).isEmpty)
        #expect(delivery.state == .processing)
        #expect(delivery.handle(.committed) == [.ack])
        #expect(delivery.state == .settled)
    }

    @Test("An undecodable message is dead-lettered at once, even on its first delivery and with no limit")
    func undecodableNeverRetried() {
        var delivery = Delivery(deliveryCount: 1, maxDeliveries: 0)
        #expect(delivery.handle(.undecodable(decodeError)) == [.deadLetter(decodeError)])
    }

    @Test("Shutdown always redelivers at once, never dead-letters", arguments: [1, 5, 50])
    func shutdownRedeliversImmediately(deliveryCount: Int) {
        var received = Delivery(deliveryCount: deliveryCount, maxDeliveries: 5)
        #expect(received.handle(.shutdown) == [.nak(delayMilliseconds: 0)])
        var processing = Delivery(deliveryCount: deliveryCount, maxDeliveries: 5)
        _ = processing.handle(.decoded)
        #expect(processing.handle(.shutdown) == [.nak(delayMilliseconds: 0)])
    }

    // MARK: Backoff

    @Test("Backoff doubles from the base and stops at the cap (defaults 250 ms, 10 s)", arguments: [
        (1, 250), (2, 500), (3, 1000), (4, 2000), (5, 4000), (6, 8000), (7, 10_000), (8, 10_000), (100, 10_000),
        (Int.max, 10_000),
    ] as [(Int, Int64)])
    func defaultBackoff(deliveryCount: Int, milliseconds: Int64) {
        #expect(Delivery(deliveryCount: deliveryCount).backoffMilliseconds == milliseconds)
    }

    @Test("Backoff with a custom base and cap", arguments: [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (6, 1000)] as [(Int, Int64)])
    func customBackoff(deliveryCount: Int, milliseconds: Int64) {
        let delivery = Delivery(deliveryCount: deliveryCount, backoffBaseMilliseconds: 100, backoffCapMilliseconds: 1000)
        #expect(delivery.backoffMilliseconds == milliseconds)
    }

    @Test("The exponent stops growing after 20 doublings")
    func exponentIsBounded() {
        let delivery = { (count: Int) in
            Delivery(deliveryCount: count, backoffBaseMilliseconds: 1, backoffCapMilliseconds: .max).backoffMilliseconds
        }
        #expect(delivery(20) == 1 << 19)
        #expect(delivery(21) == 1 << 20)
        #expect(delivery(22) == 1 << 20)
        #expect(delivery(10_000) == 1 << 20)
    }

    @Test("A delivery count below 1 counts as the first delivery", arguments: [0, -1, Int.min])
    func deliveryCountClamped(count: Int) {
        let delivery = Delivery(deliveryCount: count)
        #expect(delivery.deliveryCount == 1)
        #expect(delivery.backoffMilliseconds == 250)
    }

    @Test("A transient failure is redelivered after the backoff of its delivery count", arguments: 1...8)
    func transientFailureUsesBackoff(deliveryCount: Int) {
        var delivery = Delivery(deliveryCount: deliveryCount)
        _ = delivery.handle(.decoded)
        #expect(delivery.handle(.failedTransiently(dbDown)) == [.nak(delayMilliseconds: delivery.backoffMilliseconds)])
        #expect(delivery.backoffMilliseconds == min(10_000, 250 << Int64(deliveryCount - 1)))
    }

    // MARK: maxDeliveries

    @Test("maxDeliveries turns a transient failure into a dead letter on the last allowed delivery", arguments: [
        (0, 1, false), (0, 1000, false),
        (1, 1, true),
        (5, 1, false), (5, 4, false), (5, 5, true), (5, 6, true), (5, 500, true),
    ] as [(Int, Int, Bool)])
    func maxDeliveries(maxDeliveries: Int, deliveryCount: Int, deadLetter: Bool) {
        var delivery = Delivery(deliveryCount: deliveryCount, maxDeliveries: maxDeliveries)
        _ = delivery.handle(.decoded)
        let actions = delivery.handle(.failedTransiently(dbDown))
        if deadLetter {
            #expect(actions == [.deadLetter(dbDown)])
        } else {
            #expect(actions == [.nak(delayMilliseconds: delivery.backoffMilliseconds)])
        }
        #expect(delivery.state == .settled)
    }

    @Test("maxDeliveries never affects a committed result")
    func maxDeliveriesDoesNotAffectCommit() {
        var delivery = Delivery(deliveryCount: 10, maxDeliveries: 2)
        _ = delivery.handle(.decoded)
        #expect(delivery.handle(.committed) == [.ack])
    }

    @Test("The initializer keeps its settings")
    func settings() {
        let delivery = Delivery(deliveryCount: 4, maxDeliveries: 7, backoffBaseMilliseconds: 10, backoffCapMilliseconds: 20)
        #expect(delivery.deliveryCount == 4)
        #expect(delivery.maxDeliveries == 7)
        #expect(delivery.backoffBaseMilliseconds == 10)
        #expect(delivery.backoffCapMilliseconds == 20)
        #expect(delivery.state == .received)
    }

    @Test("A message early for its transaction is redelivered soon, with a short doubling delay, and dropped (acknowledged) at the 8th delivery, never dead-lettered",
          arguments: 1...10)
    func earlyMessage(deliveryCount: Int) {
        var delivery = Delivery(deliveryCount: deliveryCount, maxDeliveries: 3)
        _ = delivery.handle(.decoded)
        let expected: Delivery.Action = deliveryCount >= 8 ? .ack : .nak(delayMilliseconds: 10 << Int64(deliveryCount - 1))
        #expect(delivery.handle(.early(noRunYet)) == [expected])
        #expect(delivery.state == .settled)
    }
}
