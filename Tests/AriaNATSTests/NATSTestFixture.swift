import AriaLocalCluster
import AriaNATS
import AriaTestSupport
import Foundation
import Logging
import Testing

/// A JetStream server with an admin user, a least-privilege worker bound to one pull consumer, and a
/// restricted client, as Aria's deployments configure them.
struct NATSFixture {
    /// The admin's password (given to the server as `$ADMIN_PASS`).
    static let adminPassword = "admin-secret"
    /// The worker's password (given to the server as `$WORKER_PASS`).
    static let workerPassword = "worker-secret"
    /// The worker's inbox prefix: its only subscribe permission is `<prefix>.>`.
    static let workerInbox = "aria.t.demo.inbox"

    /// The configuration: passwords come from the environment (`$ADMIN_PASS`, `$WORKER_PASS`).
    static let config = """
        accounts {
          APP {
            jetstream: enabled
            users: [
              { user: admin, password: $ADMIN_PASS }
              {
                user: worker, password: $WORKER_PASS
                permissions: {
                  publish: {
                    allow: [
                      "$JS.API.CONSUMER.INFO.JOBS.workers",
                      "$JS.API.CONSUMER.MSG.NEXT.JOBS.workers",
                      "$JS.ACK.JOBS.workers.>",
                      "results.>",
                      "svc.>"
                    ]
                  }
                  subscribe: { allow: ["aria.t.demo.inbox.>"] }
                }
              }
            ]
          }
        }
        """

    /// The running server.
    let server: NATSServer
    /// The logger connections use (warnings and errors only).
    let logger: Logger

    /// Starts a server with the configuration above.
    static func start(port: Int? = nil) async throws -> NATSFixture {
        let server = try await TestNATS.start(
            config: config, environment: ["ADMIN_PASS": adminPassword, "WORKER_PASS": workerPassword], port: port)
        var logger = Logger(label: "aria.nats.tests")
        logger.logLevel = .warning
        return NATSFixture(server: server, logger: logger)
    }

    /// Connects as the admin (all permissions, default inbox).
    func admin(name: String = "admin", configure: (inout NATSConnectOptions) -> Void = { _ in }) async throws -> NATSConnection {
        var options = NATSConnectOptions(urls: [server.url], user: "admin", password: Self.adminPassword, name: name)
        configure(&options)
        return try await NATSConnection.connect(options, logger: logger)
    }

    /// Connects as the restricted worker with its own inbox prefix.
    func worker(name: String = "worker") async throws -> NATSConnection {
        let options = NATSConnectOptions(
            urls: [server.url], user: "worker", password: Self.workerPassword, name: name, inboxPrefix: Self.workerInbox)
        return try await NATSConnection.connect(options, logger: logger)
    }

    /// Stops the server.
    func shutdown() async { await server.stop() }
}

/// Runs `body` with a fresh fixture and stops its server afterwards.
func withNATS(_ body: (NATSFixture) async throws -> Void) async throws {
    let fixture = try await NATSFixture.start()
    do {
        try await body(fixture)
    } catch {
        await fixture.shutdown()
        throw error
    }
    await fixture.shutdown()
}

/// Thrown by `withDeadline` when `duration` passes first.
struct DeadlineExceeded: Error, CustomStringConvertible {
    /// What was being waited for.
    let what: String
    /// The message.
    var description: String { "deadline exceeded: \(what)" }
}

/// Runs `body`, failing with `DeadlineExceeded` if it takes longer than `duration` (a guard against
/// hangs, not a synchronisation).
func withDeadline<T: Sendable>(_ duration: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: duration)
            throw DeadlineExceeded(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Waits for the first event in `events` that `matches` returns a value for.
func firstEvent<T: Sendable>(
    _ events: AsyncStream<NATSConnectionEvent>, within duration: Duration, _ what: String,
    _ matches: @escaping @Sendable (NATSConnectionEvent) -> T?
) async throws -> T {
    try await withDeadline(duration, what) {
        for await event in events {
            if let value = matches(event) { return value }
        }
        throw DeadlineExceeded(what: "\(what) (event stream ended)")
    }
}

extension String {
    /// The UTF-8 bytes.
    var bytes: [UInt8] { Array(utf8) }
}

extension Array where Element == UInt8 {
    /// The bytes as UTF-8 text.
    var text: String { String(decoding: self, as: UTF8.self) }
}
