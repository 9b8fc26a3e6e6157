import AriaBus
import AriaCore
import AriaStore
import ServiceLifecycle

/// Runs `pass` every `interval` until graceful shutdown; a failed pass is logged with `failure` and the
/// next one runs on time. The loop of the reconcilers, the retry timer and the watchdog.
public func everyInterval(_ interval: AriaDuration, context: ServiceContext, failure: String, _ pass: () async throws -> Void) async {
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
        do { try await Task.sleep(for: interval.duration) } catch { return }
        if Task.isShuttingDownGracefully { return }
        do { try await pass() } catch {
            context.logger.warning("\(failure)", metadata: ["error": "\(error)"])
        }
    }
}

extension ServiceContext {
    /// Tells workers to stop the attempts that committed transitions cancelled (`aria.int.cancel`, core NATS,
    /// after the commit). Best effort: a worker that misses a notice learns it at its next lease renewal.
    public func sendCancelNotices(_ results: [SchedulingResult]) {
        for notice in results.flatMap(\.cancelNotices) {
            do { try nats.publish(Subjects.cancelNotice, try Wire.encode(notice)) } catch {
                logger.warning("cannot send a cancel notice; the worker will learn it from its lease",
                               metadata: ["run": "\(notice.run)", "step": "\(notice.step)", "error": "\(error)"])
            }
        }
    }
}
