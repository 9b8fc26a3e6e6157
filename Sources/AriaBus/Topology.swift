import AriaCore
import AriaNATS
import Foundation
import Logging

/// The JetStream streams and durable consumers of the cluster. Names carry a version suffix: a change that
/// cannot be applied in place creates `_V2` streams beside the old ones.
public enum Streams {
    /// Submitted jobs (`aria.t.*.submit`), work queue, consumed by gateways.
    public static let submit = "ARIA_SUBMIT_V1"
    /// Planning requests, work queue, consumed by planners.
    public static let plan = "ARIA_PLAN_V1"
    /// Scheduler intake, work queue, consumed by schedulers.
    public static let schedule = "ARIA_SCHED_V1"
    /// Step dispatches, work queue, one consumer per worker pool.
    public static let work = "ARIA_WORK_V1"
    /// Run events (`aria.t.*.events.>`), limits retention, read by tenants.
    public static let events = "ARIA_EVENTS_V1"
}

/// JetStream key-value buckets.
public enum Buckets {
    /// Worker presence: `<worker id>` → ``WorkerPresence`` JSON, put by every worker every TTL/3 and
    /// deleted on graceful drain; a killed worker's key expires after the TTL (`ARIA_BUS_WORKERS_TTL`).
    public static let workers = "ARIA_WORKERS"
}

/// Durable consumer names.
public enum Consumers {
    /// The gateways' consumer on ``Streams/submit``.
    public static let gateway = "gateway"
    /// The planners' consumer on ``Streams/plan``.
    public static let planner = "planner"
    /// The schedulers' consumer on ``Streams/schedule``.
    public static let scheduler = "scheduler"
    /// A worker pool's consumer on ``Streams/work``.
    public static func worker(pool: String) -> String { "worker_\(pool)" }
}

/// The tunable limits of the bus, read by `aria migrate` from `ARIA_BUS_*` variables.
public struct BusSettings: Sendable {
    /// `ARIA_BUS_SUBMIT_DEDUPE_WINDOW`: the `Nats-Msg-Id` window of the submit stream. Default 2m.
    public var submitDuplicateWindow: AriaDuration
    /// `ARIA_BUS_SUBMIT_MAX_MSGS`: queued submissions before publishers get `overloaded`. Default 1,000,000.
    public var submitMaxMessages: Int64
    /// `ARIA_BUS_INTERNAL_MAX_MSGS`: queued internal messages per stream before the relay backs off. Default 5,000,000.
    public var internalMaxMessages: Int64
    /// `ARIA_BUS_ACK_WAIT`: redelivery delay for unacknowledged control messages (gateway, planner, scheduler). Default 30s.
    public var controlAckWait: AriaDuration
    /// `ARIA_BUS_WORK_ACK_WAIT`: redelivery delay for a step dispatch whose worker stopped extending its lease
    /// (workers send in-progress acks three times per ack wait while a step runs). Default 60s.
    public var workAckWait: AriaDuration
    /// `ARIA_BUS_MAX_ACK_PENDING`: unacknowledged messages per consumer, all replicas together. Default 4096.
    public var maxAckPending: Int
    /// `ARIA_BUS_EVENTS_MAX_AGE`: how long run events stay in the stream for late readers. Default 24h.
    public var eventsMaxAge: AriaDuration
    /// `ARIA_BUS_WORKER_POOLS`: comma-separated worker pools to create consumers for. Default `default`.
    public var workerPools: [String]
    /// `ARIA_BUS_WORKERS_TTL`: how long a worker's presence outlives its last heartbeat (workers announce
    /// themselves every third of it). Default 15s.
    public var workersTTL: AriaDuration

    /// Reads the settings.
    public init(reader: ConfigReader = ConfigReader()) throws(AriaError) {
        submitDuplicateWindow = try reader.duration("ARIA_BUS_SUBMIT_DEDUPE_WINDOW", default: AriaDuration(milliseconds: 120_000))
        submitMaxMessages = Int64(try reader.int("ARIA_BUS_SUBMIT_MAX_MSGS", default: 1_000_000, range: 1...Int.max))
        internalMaxMessages = Int64(try reader.int("ARIA_BUS_INTERNAL_MAX_MSGS", default: 5_000_000, range: 1...Int.max))
        controlAckWait = try reader.duration("ARIA_BUS_ACK_WAIT", default: AriaDuration(milliseconds: 30_000))
        workAckWait = try reader.duration("ARIA_BUS_WORK_ACK_WAIT", default: AriaDuration(milliseconds: 60_000))
        maxAckPending = try reader.int("ARIA_BUS_MAX_ACK_PENDING", default: 4096, range: 1...1_000_000)
        eventsMaxAge = try reader.duration("ARIA_BUS_EVENTS_MAX_AGE", default: AriaDuration(milliseconds: 86_400_000))
        workerPools = reader.string("ARIA_BUS_WORKER_POOLS", default: "default").split(separator: ",").map { String($0) }
        for pool in workerPools where !SubjectSafeName.isValid(pool) {
            throw AriaError(.invalidConfiguration, "ARIA_BUS_WORKER_POOLS: '\(pool)' must match [a-z0-9_-]{1,64}")
        }
        workersTTL = try reader.duration("ARIA_BUS_WORKERS_TTL", default: .seconds(15))
        guard workersTTL.milliseconds >= 300 else {
            throw AriaError(.invalidConfiguration, "ARIA_BUS_WORKERS_TTL must be at least 300ms")
        }
    }

    /// The key-value bucket definitions.
    public var buckets: [KeyValueConfig] {
        [KeyValueConfig(bucket: Buckets.workers, summary: "Aria worker presence", ttl: workersTTL.duration, history: 1,
                        maxValueSize: 64 * 1024, storage: .file)]
    }

    /// The stream definitions.
    public var streams: [StreamConfig] {
        [
            StreamConfig(name: Streams.submit, subjects: ["aria.t.*.submit"], retention: .workQueue, storage: .file,
                         maxMessages: submitMaxMessages, discard: .new, duplicateWindow: submitDuplicateWindow.duration),
            StreamConfig(name: Streams.plan, subjects: [Subjects.planIntake], retention: .workQueue, storage: .file,
                         maxMessages: internalMaxMessages, discard: .new, duplicateWindow: .seconds(120)),
            StreamConfig(name: Streams.schedule, subjects: [Subjects.scheduleIntake], retention: .workQueue, storage: .file,
                         maxMessages: internalMaxMessages, discard: .new, duplicateWindow: .seconds(120)),
            StreamConfig(name: Streams.work, subjects: ["aria.int.work.*"], retention: .workQueue, storage: .file,
                         maxMessages: internalMaxMessages, discard: .new, duplicateWindow: .seconds(120)),
            StreamConfig(name: Streams.events, subjects: ["aria.t.*.events.>"], retention: .limits, storage: .file,
                         maxAge: eventsMaxAge.duration, discard: .old, duplicateWindow: .seconds(120)),
        ]
    }

    /// The durable consumer definitions, by stream.
    public var consumers: [(stream: String, config: ConsumerConfig)] {
        var list: [(String, ConsumerConfig)] = [
            (Streams.submit, ConsumerConfig(durable: Consumers.gateway, ackWait: controlAckWait.duration, maxAckPending: maxAckPending)),
            (Streams.plan, ConsumerConfig(durable: Consumers.planner, ackWait: controlAckWait.duration, maxAckPending: maxAckPending)),
            (Streams.schedule, ConsumerConfig(durable: Consumers.scheduler, ackWait: controlAckWait.duration, maxAckPending: maxAckPending)),
        ]
        for pool in workerPools {
            list.append((Streams.work, ConsumerConfig(durable: Consumers.worker(pool: pool), filterSubject: Subjects.workIntake(pool: pool),
                                                      ackWait: workAckWait.duration, maxAckPending: maxAckPending)))
        }
        return list
    }
}

/// Creates the streams and consumers (`aria migrate`, admin user) and checks them (every service at start).
public struct BusProvisioner: Sendable {
    /// The JetStream context to use.
    public let jetStream: JetStreamContext
    /// Where progress is logged.
    public let logger: Logger

    /// Creates a provisioner.
    public init(jetStream: JetStreamContext, logger: Logger) {
        self.jetStream = jetStream
        self.logger = logger
    }

    /// Creates or updates every stream and consumer in `settings` (idempotent).
    public func provision(_ settings: BusSettings) async throws {
        for stream in settings.streams {
            _ = try await jetStream.addOrUpdateStream(stream)
            logger.info("stream ready", metadata: ["stream": "\(stream.name)"])
        }
        for (stream, consumer) in settings.consumers {
            _ = try await jetStream.addOrUpdateConsumer(stream: stream, consumer)
            logger.info("consumer ready", metadata: ["stream": "\(stream)", "consumer": "\(consumer.durable)"])
        }
        for bucket in settings.buckets {
            _ = try await jetStream.createOrUpdateKeyValue(bucket)
            logger.info("bucket ready", metadata: ["bucket": "\(bucket.bucket)", "ttl": "\(bucket.ttl.map { "\($0)" } ?? "none")"])
        }
    }

    /// Binds to a key-value bucket; throws `bus_not_provisioned` unless it exists and this service's user may use it.
    public func requireBucket(_ bucket: String) async throws -> KeyValueStore {
        do {
            return try await jetStream.keyValue(bucket: bucket)
        } catch let error as NATSError where error.code == .notFound {
            throw AriaError(.busNotProvisioned, "key-value bucket \(bucket) does not exist; run `aria migrate`")
        } catch let error as NATSError where error.code == .timeout || error.code == .notPermitted {
            throw AriaError(.busNotProvisioned, "key-value bucket \(bucket) cannot be read: it does not exist or this service's NATS user may not use it (\(error.code)); check `aria migrate` and the NATS configuration")
        }
    }

    /// Throws `bus_not_provisioned` unless the consumer exists (the service's user may read only its own).
    public func requireConsumer(stream: String, consumer: String) async throws {
        do {
            _ = try await jetStream.consumerInfo(stream: stream, consumer: consumer)
        } catch let error as NATSError where error.code == .notFound {
            throw AriaError(.busNotProvisioned, "JetStream consumer \(stream)/\(consumer) does not exist; run `aria migrate`")
        } catch let error as NATSError where error.code == .timeout || error.code == .notPermitted {
            // A user without permission for a consumer gets no answer at all (a permissions violation).
            throw AriaError(.busNotProvisioned, "JetStream consumer \(stream)/\(consumer) cannot be read: it does not exist or this service's NATS user may not use it (\(error.code)); check `aria migrate` and the NATS configuration")
        }
    }

    /// Throws `bus_not_provisioned` unless the stream exists.
    public func requireStream(_ stream: String) async throws {
        do {
            _ = try await jetStream.streamInfo(stream)
        } catch let error as NATSError where error.code == .notFound {
            throw AriaError(.busNotProvisioned, "JetStream stream \(stream) does not exist; run `aria migrate`")
        }
    }
}
