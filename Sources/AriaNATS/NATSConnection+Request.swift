internal import CNATS
import Synchronization

/// Request/reply without a blocked thread per request: one wildcard subscription on
/// `<inboxPrefix>.<unique>.*` receives every reply, and each request waits on a continuation keyed by
/// the last token of its reply subject.
///
/// nats.c's own `natsConnection_Request` would block a thread for the whole round trip.
final class RequestMux: SubscriptionContext {
    /// One request's rendezvous between the caller, the reply callback, the timer and cancellation:
    /// whichever comes first wins, even if it comes before the caller has registered its continuation.
    private final class Slot: Sendable {
        private enum Phase {
            case starting
            case waiting(CheckedContinuation<NATSMessage, any Error>)
            case early(Result<NATSMessage, any Error>)
            case done
        }

        let subject: String
        private let phase = Mutex(Phase.starting)

        init(subject: String) { self.subject = subject }

        /// Registers the caller's continuation, or completes it at once if the request is already complete.
        func wait(_ continuation: CheckedContinuation<NATSMessage, any Error>) {
            let early: Result<NATSMessage, any Error>? = phase.withLock { phase in
                if case .early(let result) = phase {
                    phase = .done
                    return result
                }
                phase = .waiting(continuation)
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        /// Completes the request with `result` unless it is already complete.
        func complete(_ result: Result<NATSMessage, any Error>) {
            let continuation: CheckedContinuation<NATSMessage, any Error>? = phase.withLock { phase in
                switch phase {
                case .starting:
                    phase = .early(result)
                    return nil
                case .waiting(let continuation):
                    phase = .done
                    return continuation
                case .early, .done:
                    return nil
                }
            }
            continuation?.resume(with: result)
        }
    }

    private struct State {
        var slots: [UInt64: Slot] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    /// The reply subject prefix, ending with a dot.
    let replyPrefix: String
    private let state = Mutex(State())
    // Set once after subscribing; keeps the reply subscription alive as long as the mux.
    private let subscription = Mutex<SubscriptionHandle?>(nil)

    init(connection: NATSConnection) throws {
        replyPrefix = connection.newInbox() + "."
        let handle = try connection.subscribeRaw(
            subject: replyPrefix + "*", queue: nil, callback: ariaNATSReply, completion: ariaNATSReplyComplete, context: self)
        subscription.withLock { $0 = handle }
    }

    /// Registers a request, lets `send` publish it with its reply subject, and waits for the reply.
    func request(subject: String, timeout: Duration, send: (String) throws -> Void) async throws -> NATSMessage {
        let slot = Slot(subject: subject)
        let id: UInt64? = state.withLock { state in
            if state.finished { return nil }
            state.nextID += 1
            state.slots[state.nextID] = slot
            return state.nextID
        }
        guard let id else {
            throw NATSError(code: .connectionClosed, status: "Connection Closed", message: "request on '\(subject)': the connection is closed", subject: subject)
        }
        defer { _ = state.withLock { $0.slots.removeValue(forKey: id) } }
        let timer = Task {
            try await Task.sleep(for: timeout)
            slot.complete(.failure(NATSError(
                code: .timeout, status: "Timeout", message: "request on '\(subject)' got no reply within \(timeout)", subject: subject)))
        }
        defer { timer.cancel() }
        do {
            try send(replyPrefix + String(id))
        } catch {
            slot.complete(.failure(error))
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<NATSMessage, any Error>) in
                slot.wait(continuation)
            }
        } onCancel: {
            slot.complete(.failure(CancellationError()))
        }
    }

    /// Delivers a reply to the request waiting for it; late replies are dropped.
    func deliver(_ message: NATSMessage) {
        guard message.subject.hasPrefix(replyPrefix), let id = UInt64(message.subject.dropFirst(replyPrefix.count)) else { return }
        guard let slot = state.withLock({ $0.slots.removeValue(forKey: id) }) else { return }
        if message.isNoResponders {
            slot.complete(.failure(NATSError(
                code: .noResponders, status: "No Responders Available For Request",
                message: "request on '\(slot.subject)': no responders", subject: slot.subject)))
        } else {
            slot.complete(.success(message))
        }
    }

    /// Fails every waiting request: the reply subscription has ended (connection closed).
    func finish() {
        let slots = state.withLock { state in
            state.finished = true
            let slots = Array(state.slots.values)
            state.slots = [:]
            return slots
        }
        for slot in slots {
            slot.complete(.failure(NATSError(
                code: .connectionClosed, status: "Connection Closed", message: "request on '\(slot.subject)': the connection closed",
                subject: slot.subject)))
        }
    }
}

/// nats.c's message callback for the reply subscription.
func ariaNATSReply(
    _ connection: OpaquePointer?, _ subscription: OpaquePointer?, _ message: OpaquePointer?, _ closure: UnsafeMutableRawPointer?
) {
    guard let message else { return }
    guard let closure else {
        natsMsg_Destroy(message)
        return
    }
    Unmanaged<RequestMux>.fromOpaque(closure).takeUnretainedValue().deliver(NATSMessage(taking: message, connection: nil))
}

/// nats.c's completion callback for the reply subscription: fails waiting requests, releases the mux.
func ariaNATSReplyComplete(_ closure: UnsafeMutableRawPointer?) {
    guard let closure else { return }
    let unmanaged = Unmanaged<RequestMux>.fromOpaque(closure)
    unmanaged.takeUnretainedValue().finish()
    unmanaged.release()
}
