internal import CNATS
import Logging
import Foundation
import Synchronization

/// Something that happened to a connection, reported by nats.c on its own threads.
public enum NATSConnectionEvent: Sendable {
    /// The connection to the server was lost; nats.c is reconnecting and buffers publishes meanwhile.
    case disconnected
    /// The connection is (re-)established and subscriptions are restored. Also sent once when a
    /// connection made with `retryOnFailedConnect` connects for the first time.
    case reconnected
    /// The connection is closed for good; no event follows.
    case closed
    /// An asynchronous error: a permissions violation (`.notPermitted`, with the subject), a slow
    /// consumer (`.slowConsumer`), or another protocol error.
    case error(NATSError)
}

/// Fans connection events out to every listener; the context object of nats.c's connection callbacks.
///
/// nats.c holds it (retained through `Unmanaged`) from connect until the closed callback, which is the
/// last callback nats.c makes for a connection.
final class ConnectionEvents: Sendable {
    private struct State {
        var listeners: [UInt64: AsyncStream<NATSConnectionEvent>.Continuation] = [:]
        var nextID: UInt64 = 0
        var closed = false
        var closeWaiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var expiredWaits: Set<UInt64> = []
    }

    private let state = Mutex(State())
    private let logger: Logger
    private let connectionName: String

    /// Creates a hub that logs events with `logger`.
    init(logger: Logger, connectionName: String) {
        self.logger = logger
        self.connectionName = connectionName
    }

    /// A new stream of the events that happen from now on.
    func stream() -> AsyncStream<NATSConnectionEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: NATSConnectionEvent.self, bufferingPolicy: .bufferingNewest(1024))
        let id: UInt64? = state.withLock { state in
            if state.closed { return nil }
            state.nextID += 1
            state.listeners[state.nextID] = continuation
            return state.nextID
        }
        guard let id else {
            continuation.yield(.closed)
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.listeners.removeValue(forKey: id) }
        }
        return stream
    }

    /// Whether the closed callback has run.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Sends `event` to every listener; `closing` marks the disconnect of a deliberate close (logged quietly).
    func emit(_ event: NATSConnectionEvent, closing: Bool = false) {
        switch event {
        case .disconnected:
            if closing {
                logger.debug("NATS disconnected (closing)", metadata: ["nats.connection": "\(connectionName)"])
            } else {
                logger.warning("NATS disconnected", metadata: ["nats.connection": "\(connectionName)"])
            }
        case .reconnected: logger.info("NATS connected", metadata: ["nats.connection": "\(connectionName)"])
        case .closed: logger.info("NATS connection closed", metadata: ["nats.connection": "\(connectionName)"])
        case .error(let error):
            logger.error("NATS asynchronous error", metadata: [
                "nats.connection": "\(connectionName)", "nats.error": "\(error)",
            ])
        }
        let listeners = state.withLock { Array($0.listeners.values) }
        for listener in listeners { listener.yield(event) }
    }

    /// Sends `.closed`, ends every stream and wakes `waitUntilClosed` callers.
    func markClosed() {
        emit(.closed)
        let (listeners, waiters) = state.withLock { state in
            state.closed = true
            let result = (Array(state.listeners.values), Array(state.closeWaiters.values))
            state.listeners = [:]
            state.closeWaiters = [:]
            return result
        }
        for listener in listeners { listener.finish() }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Returns true once the connection is closed, false if it is still open after `timeout`.
    func waitUntilClosed(timeout: Duration) async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.resumeCloseWaiter(id, closed: false)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let immediate: Bool? = state.withLock { state in
                if state.closed { return true }
                if state.expiredWaits.remove(id) != nil { return false }
                state.closeWaiters[id] = continuation
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    private func resumeCloseWaiter(_ id: UInt64, closed: Bool) {
        let waiter = state.withLock { state in
            guard let waiter = state.closeWaiters.removeValue(forKey: id) else {
                state.expiredWaits.insert(id)
                return nil as CheckedContinuation<Bool, Never>?
            }
            return waiter
        }
        waiter?.resume(returning: closed)
    }
}

// MARK: - nats.c connection callbacks
// Plain global functions: nats.c calls them on its own threads, so they must capture nothing and be
// nonisolated; the context arrives through `closure`.

/// nats.c's disconnected callback.
func ariaNATSDisconnected(_ connection: OpaquePointer?, _ closure: UnsafeMutableRawPointer?) {
    guard let closure else { return }
    let closing = connection.map { natsConnection_IsClosed($0) } ?? false
    Unmanaged<ConnectionEvents>.fromOpaque(closure).takeUnretainedValue().emit(.disconnected, closing: closing)
}

/// nats.c's reconnected callback, also used as the delayed-connect callback.
func ariaNATSReconnected(_ connection: OpaquePointer?, _ closure: UnsafeMutableRawPointer?) {
    guard let closure else { return }
    Unmanaged<ConnectionEvents>.fromOpaque(closure).takeUnretainedValue().emit(.reconnected)
}

/// nats.c's closed callback: the last one for a connection, so it releases the context.
func ariaNATSClosed(_ connection: OpaquePointer?, _ closure: UnsafeMutableRawPointer?) {
    guard let closure else { return }
    let unmanaged = Unmanaged<ConnectionEvents>.fromOpaque(closure)
    unmanaged.takeUnretainedValue().markClosed()
    unmanaged.release()
}

/// nats.c's asynchronous error handler: permission violations, slow consumers, protocol errors.
func ariaNATSAsyncError(
    _ connection: OpaquePointer?, _ subscription: OpaquePointer?, _ status: natsStatus, _ closure: UnsafeMutableRawPointer?
) {
    guard let closure else { return }
    var text: String?
    if let connection {
        var lastError: UnsafePointer<CChar>?
        _ = natsConnection_GetLastError(connection, &lastError)
        text = swiftString(lastError)
    }
    var subject = subscription.flatMap { swiftString(natsSubscription_GetSubject($0)) }
    if subject == nil, status == NATS_NOT_PERMITTED, let text { subject = permissionViolationSubject(text) }
    let error = NATSError(status: status, jetStreamErrorCode: nil, operation: "asynchronous error", detail: text, subject: subject)
    Unmanaged<ConnectionEvents>.fromOpaque(closure).takeUnretainedValue().emit(.error(error))
}

/// The subject named in a server's `Permissions Violation for Publish to "x.y"` text.
func permissionViolationSubject(_ text: String) -> String? {
    if let first = text.firstIndex(of: "\""), let last = text.lastIndex(of: "\""), first < last {
        return String(text[text.index(after: first)..<last])
    }
    if let range = text.range(of: " to ", options: .backwards) {
        let rest = text[range.upperBound...].trimmingCharacters(in: .whitespaces)
        return rest.split(separator: " ").first.map(String.init)
    }
    return nil
}
