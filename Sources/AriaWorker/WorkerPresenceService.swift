import AriaBus
import AriaCore
import AriaNATS
import AriaRuntime
import Foundation
import Logging
import ServiceLifecycle

/// Announces a worker in the ``Buckets/workers`` bucket: puts its ``WorkerPresence`` under its id at
/// start and every third of the bucket's TTL, and deletes it when the worker drains. A killed worker
/// stops refreshing and its key expires with the TTL.
///
/// Listed before the consumer in the worker's services, so it is stopped after the consumer has drained:
/// the record shows in-flight steps going down while the worker drains, then disappears.
public struct WorkerPresenceService: Service {
    /// The bucket.
    let bucket: KeyValueStore
    /// The worker's key.
    let key: String
    /// How often the record is refreshed.
    let interval: Duration
    /// The record without its changing fields.
    let template: WorkerPresence
    /// The consumer's in-flight step count.
    let inFlight: SharedCounter
    /// Where failures to announce are logged.
    let logger: Logger

    /// Creates the service for `bucket` (already bound), refreshing every `interval`.
    public init(bucket: KeyValueStore, interval: Duration, template: WorkerPresence, inFlight: SharedCounter, logger: Logger) {
        self.bucket = bucket
        self.key = WorkerPresence.key(worker: template.worker)
        self.interval = interval
        self.template = template
        self.inFlight = inFlight
        self.logger = logger
    }

    /// Binds the bucket (`bus_not_provisioned` when it is missing) and derives the refresh interval from
    /// its TTL.
    public static func make(context: ServiceContext, skills: SkillSet, inFlight: SharedCounter) async throws -> WorkerPresenceService {
        let bucket = try await BusProvisioner(jetStream: context.jetStream, logger: context.logger).requireBucket(Buckets.workers)
        let ttl = try await bucket.status().ttl ?? .seconds(15)
        let interval = max(ttl / 3, .milliseconds(100))
        let now = Date()
        let template = WorkerPresence(
            worker: context.configuration.instance, pool: context.configuration.workerPool, skills: skills.names,
            slots: context.configuration.workerSlots, inFlight: 0, host: ProcessInfo.processInfo.hostName,
            pid: Int(ProcessInfo.processInfo.processIdentifier), startedAt: now, updatedAt: now, version: AriaVersion.current)
        context.logger.info("presence", metadata: ["bucket": "\(Buckets.workers)", "ttl": "\(ttl)", "interval": "\(interval)"])
        return WorkerPresenceService(bucket: bucket, interval: interval, template: template, inFlight: inFlight, logger: context.logger)
    }

    /// The record as of now.
    func record() -> WorkerPresence {
        var record = template
        record.inFlight = inFlight.value
        record.updatedAt = Date()
        return record
    }

    /// Announces until graceful shutdown or cancellation, then deletes the key.
    public func run() async throws {
        var failures = 0
        while true {
            do {
                try await bucket.put(key, try Wire.encode(record()))
                if failures > 0 { logger.info("presence restored", metadata: ["failures": "\(failures)"]) }
                failures = 0
            } catch {
                failures += 1
                if failures == 1 || failures % 10 == 0 {
                    logger.warning("cannot announce presence; will retry", metadata: ["error": "\(error)", "failures": "\(failures)"])
                }
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                break
            }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
        }
        do {
            try await bucket.delete(key)
            logger.info("presence removed")
        } catch {
            logger.warning("cannot remove presence; it expires with the bucket's TTL", metadata: ["error": "\(error)"])
        }
    }
}
