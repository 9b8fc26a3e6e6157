import AriaCLI
import AriaCore
import AriaLocalCluster
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Whole local clusters for end-to-end tests: the built executables as separate processes, a real
/// nats-server with JetStream and auth, a real Postgres; everything is killed when the test process exits.
public enum TestCluster {
    private static let running = Mutex<[LocalCluster]>([])
    private static let handlerInstalled = Mutex(false)

    /// The package's root folder (for `config/plans`).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Starts a cluster in a fresh temporary folder; `poolWorkers` adds workers of further skill pools
    /// (`worker-<pool>-<n>`).
    public static func start(
        name: String, replicas: [String: Int] = ["gateway": 2, "planner": 2, "scheduler": 2, "worker": 2],
        tenants: [String] = ["demo", "acme"], natsOnlyTenants: [String] = [], environment: [String: String] = [:],
        poolWorkers: [String: Int] = [:]
    ) async throws -> LocalCluster {
        installExitHandler()
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("aria-e2e-\(name)-\(UUID().uuidString.prefix(8))")
        var options = LocalClusterOptions(
            stateDirectory: directory, plansDirectory: packageRoot.appendingPathComponent("config/plans"),
            tenants: tenants.map { TenantID(trusted: $0) }, replicas: replicas,
            environment: ["ARIA_LOG_LEVEL": "info", "ARIA_OUTBOX_SWEEP": "500ms"].merging(environment) { _, new in new },
            postgresSettings: ["fsync": "off", "full_page_writes": "off"])
        options.natsOnlyTenants = natsOnlyTenants.map { TenantID(trusted: $0) }
        options.poolWorkers = poolWorkers
        var logger = Logger(label: "test.cluster")
        logger.logLevel = .warning
        let cluster = try await LocalCluster.up(options, logger: logger)
        running.withLock { $0.append(cluster) }
        return cluster
    }

    /// Stops a cluster and forgets it.
    public static func stop(_ cluster: LocalCluster) async {
        await cluster.down()
        running.withLock { $0.removeAll { $0 === cluster } }
        try? FileManager.default.removeItem(at: cluster.options.stateDirectory)
    }

    private static func installExitHandler() {
        let install = handlerInstalled.withLock { installed -> Bool in
            defer { installed = true }
            return !installed
        }
        guard install else { return }
        atexit {
            for cluster in TestCluster.running.withLock({ $0 }) {
                for process in cluster.allProcesses.values { kill(process.pid, SIGKILL) }
                kill(cluster.nats.pid, SIGKILL)
                cluster.postgres.kill()
            }
        }
    }
}
