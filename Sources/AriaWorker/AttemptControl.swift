import AriaBus
import AriaCore
import AriaNATS
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle

/// The attempts this worker is executing, so a cancel notice can reach the right one.
actor RunningAttempts {
    private var stops: [String: AsyncStream<String>.Continuation] = [:]

    /// The key of a step's attempt.
    static func key(run: RunID, step: StepID) -> String { "\(run):\(step)" }

    /// Registers a running attempt and how to stop it.
    func register(_ key: String, stop: AsyncStream<String>.Continuation) { stops[key] = stop }

    /// Forgets an attempt that ended.
    func remove(_ key: String) { stops[key] = nil }

    /// Tells the attempt to stop; false if this worker does not run it.
    func stop(_ key: String, reason: String) -> Bool {
        guard let stop = stops[key] else { return false }
        stop.yield(reason)
        return true
    }
}

/// Listens on `aria.int.cancel` and stops the attempts the notices name (if this worker runs them).
/// Best effort by design: a worker that misses a notice learns it at its next lease renewal, and its result
/// is discarded either way.
struct CancelListener: Service {
    let connection: NATSConnection
    let attempts: RunningAttempts
    let logger: Logger

    func run() async throws {
        let subscription = try connection.subscribe(Subjects.cancelNotice)
        await withGracefulShutdownHandler {
            for await message in subscription {
                guard let notice = try? Wire.decode(CancelNotice.self, from: message.payload) else {
                    logger.warning("undecodable cancel notice", metadata: ["bytes": "\(message.payload.count)"])
                    continue
                }
                if await attempts.stop(RunningAttempts.key(run: notice.run, step: notice.step), reason: notice.reason) {
                    logger.notice("stopping a cancelled attempt", metadata: ["run": "\(notice.run)", "step": "\(notice.step)", "reason": "\(notice.reason)"])
                }
            }
        } onGracefulShutdown: {
            subscription.unsubscribe()
        }
    }
}

/// Test-only fault injection, off unless the environment asks for it: `ARIA_FAULT_EXIT_AFTER_LEDGER=<skill>`
/// makes the worker exit (status 86) right after it recorded an execution of that skill in the ledger and
/// before it records the attempt's result and acknowledges the message — the crash the ledger exists for.
enum FaultInjection {
    static let exitAfterLedger = ProcessInfo.processInfo.environment["ARIA_FAULT_EXIT_AFTER_LEDGER"]

    static func afterLedgerRecord(skill: String) {
        // `_exit`, not `exit`: a crash runs no exit handlers, and running them while the service's other
        // threads (nats.c, connection queues) carry on sometimes ended in a segmentation fault instead.
        if let target = exitAfterLedger, target == skill { _exit(86) }
    }
}
