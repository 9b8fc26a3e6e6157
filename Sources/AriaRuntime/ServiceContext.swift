import AriaBus
import AriaCore
import AriaNATS
import AriaPostgres
import AriaStore
import Foundation
import Logging
import ServiceLifecycle

/// Everything a service needs, connected and checked: configuration, logger, NATS, JetStream, the
/// Postgres pool, the run store and its outbox relay.
public struct ServiceContext: Sendable {
    /// The service's name (`gateway`, `planner`, `scheduler`, `worker`).
    public let service: String
    /// The settings.
    public let configuration: ServiceConfiguration
    /// The root logger, with `service` and `instance` metadata.
    public let logger: Logger
    /// The NATS connection (its own user, its own inbox prefix).
    public let nats: NATSConnection
    /// The JetStream context.
    public let jetStream: JetStreamContext
    /// The Postgres pool.
    public let pool: PostgresPool
    /// The run store, writing outbox rows under this service's name.
    public let store: RunStore
    /// Publishes the store's outbox rows.
    public let relay: OutboxRelay
    /// Readiness tracking.
    public let readiness: Readiness

    /// Connects to NATS and Postgres, checks the schema version, and builds the shared parts.
    public static func connect(service: String, configuration: ServiceConfiguration, logger: Logger) async throws -> ServiceContext {
        var options = NATSConnectOptions(urls: configuration.natsURLs, user: configuration.natsUser,
                                         password: configuration.natsPassword?.value, name: "aria-\(service)-\(configuration.instance)",
                                         inboxPrefix: Subjects.serviceInboxPrefix(service))
        options.retryOnFailedConnect = false
        // Latency over syscall batching: each hop is one small publish or fetch that someone waits for.
        options.sendAsap = true
        let nats = try await connectWithRetry(options, logger: logger)
        let jetStream = try nats.jetStream()
        var database = try PostgresConfig(url: configuration.databaseURL.value)
        database.sessionSettings = RunStore.sessionSettings
        let pool = PostgresPool(config: database, maxConnections: configuration.databasePoolSize, logger: logger)
        try await Migrator(pool: pool, logger: logger).checkSchema()
        let store = RunStore(pool: pool, origin: service, subjects: Subjects(), outboxGrace: configuration.outboxGrace, breakers: configuration.breaker)
        let relay = OutboxRelay(store: store, jetStream: jetStream, sweepInterval: configuration.outboxSweepInterval, logger: logger)
        let readiness = Readiness(nats: nats, pool: pool, file: configuration.readyFile, logger: logger)
        return ServiceContext(service: service, configuration: configuration, logger: logger, nats: nats, jetStream: jetStream,
                              pool: pool, store: store, relay: relay, readiness: readiness)
    }

    /// Connects, retrying with jitter while the server is not reachable yet (start order does not matter).
    static func connectWithRetry(_ options: NATSConnectOptions, logger: Logger) async throws -> NATSConnection {
        var attempt = 0
        while true {
            do {
                return try await NATSConnection.connect(options, logger: logger)
            } catch let error as NATSError where error.code != .notPermitted && error.code != .invalidArgument {
                attempt += 1
                if attempt >= 60 { throw error }
                if attempt == 1 || attempt % 10 == 0 {
                    logger.warning("NATS not reachable yet; retrying", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .milliseconds(200 + Int.random(in: 0...300)))
            }
        }
    }

    /// Stops the shared parts after the services ended: flushes acks, drains NATS, closes the pool.
    public func close() async {
        try? await nats.flush(timeout: .seconds(2))
        try? await nats.drain(timeout: .seconds(5))
        await pool.close()
    }
}

/// The entry point of every service executable.
public enum ServiceMain {
    /// Reads configuration, connects, builds the service's components with `build`, runs them with the
    /// relay and readiness in a `ServiceGroup` that drains gracefully on SIGTERM/SIGINT, then closes.
    public static func run(service: String, build: @Sendable (ServiceContext) async throws -> [any Service]) async {
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration(service: service)
        } catch {
            FileHandle.standardError.write(Data("aria-\(service): \(error)\n".utf8))
            exit(2)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: configuration.logLevel) ?? .info
            return handler
        }
        var logger = Logger(label: "aria.\(service)")
        logger[metadataKey: "instance"] = "\(configuration.instance)"
        logger.info("starting", metadata: ["configuration": "\(configuration)"])
        do {
            let context = try await ServiceContext.connect(service: service, configuration: configuration, logger: logger)
            let components = try await build(context)
            // Shutdown runs in reverse order: consumers stop first, then the relay flushes, then readiness goes.
            var groupConfiguration = ServiceGroupConfiguration(
                services: [.init(service: context.readiness), .init(service: context.relay)] + components.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger)
            // In-flight work gets ARIA_DRAIN_GRACE to finish; then it is cancelled, which naks its messages.
            groupConfiguration.maximumGracefulShutdownDuration = configuration.drainGrace.duration
            groupConfiguration.maximumCancellationDuration = .seconds(5)
            let group = ServiceGroup(configuration: groupConfiguration)
            try await group.run()
            await context.close()
            logger.info("stopped")
        } catch {
            logger.critical("cannot run", metadata: ["error": "\(error)"])
            // A setting that turns out invalid once connected (a worker's pool and skills) is a
            // configuration error like one found while reading: status 2.
            exit((error as? AriaError)?.code == .invalidConfiguration ? 2 : 1)
        }
    }
}
