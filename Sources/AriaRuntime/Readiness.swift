import AriaCore
import AriaNATS
import AriaPostgres
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Tracks whether the service can do its work (connected to NATS and Postgres) and shows it as a file
/// (`ARIA_READY_FILE`) that exists exactly while ready: the probe for compose and orchestrators.
public final class Readiness: Service, Sendable {
    private let nats: NATSConnection
    private let pool: PostgresPool
    private let file: String?
    private let logger: Logger
    private let state = Mutex<Bool?>(nil)

    /// Creates the tracker.
    public init(nats: NATSConnection, pool: PostgresPool, file: String?, logger: Logger) {
        self.nats = nats
        self.pool = pool
        self.file = file
        self.logger = logger
    }

    /// Whether the service was ready at the last check.
    public var isReady: Bool { state.withLock { $0 ?? false } }

    /// Checks every 500 ms until shutdown; removes the file on exit.
    public func run() async throws {
        defer { set(false) }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let natsUp = nats.isConnected
            var databaseUp = false
            if natsUp {
                databaseUp = (try? await pool.withConnection { connection in
                    try connection.query("SELECT 1").rows.count == 1
                }) ?? false
            }
            set(natsUp && databaseUp)
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    private func set(_ ready: Bool) {
        let changed = state.withLock { current -> Bool in
            defer { current = ready }
            return current != ready
        }
        guard changed else { return }
        logger.notice(ready ? "ready" : "not ready")
        guard let file else { return }
        if ready {
            _ = FileManager.default.createFile(atPath: file, contents: Array("ready\n".utf8).withUnsafeBytes { Data($0) })
        } else {
            try? FileManager.default.removeItem(atPath: file)
        }
    }
}
