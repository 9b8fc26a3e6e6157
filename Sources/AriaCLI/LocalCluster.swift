import AriaBus
import AriaCore
import AriaLocalCluster
import AriaNATS
import AriaPostgres
import Foundation
import Logging

/// What a local cluster runs: replicas per service, tenants, and extra settings.
public struct LocalClusterOptions: Sendable {
    /// Where the servers keep their data, logs, pid and ready files, and `cluster.env`.
    public var stateDirectory: URL
    /// Where the `aria-*` executables are.
    public var binDirectory: URL
    /// The plan templates directory.
    public var plansDirectory: URL
    /// Tenants with a NATS user and a tenants row.
    public var tenants: [TenantID]
    /// Tenants with a NATS user but no tenants row (to test `unknown_tenant`).
    public var natsOnlyTenants: [TenantID] = []
    /// Replicas per service (`gateway`, `planner`, `scheduler`, `worker`); the `worker` replicas serve
    /// `ARIA_WORKER_POOL` from `environment` (default `default`).
    public var replicas: [String: Int]
    /// Worker replicas of further skill pools, by pool (`worker-<pool>-<n>`, with `ARIA_WORKER_POOL=<pool>`).
    /// Every pool gets its consumer and NATS permissions (added to `ARIA_BUS_WORKER_POOLS`).
    public var poolWorkers: [String: Int] = [:]
    /// Extra `ARIA_*` settings for every service and for `aria migrate` (bus settings).
    public var environment: [String: String]
    /// Whether the cluster outlives this process (`aria dev up`, stopped later by `aria dev down`), rather
    /// than being stopped with it (tests, benchmarks).
    public var detached: Bool
    /// Postgres settings beyond the production defaults (none by default).
    public var postgresSettings: [String: String]

    /// The services in start order.
    public static let services = ["gateway", "planner", "scheduler", "worker"]

    /// Creates options with one replica of each service and two workers.
    public init(stateDirectory: URL, binDirectory: URL = LocalCluster.executableDirectory, plansDirectory: URL = URL(fileURLWithPath: "config/plans"),
                tenants: [TenantID] = [TenantID(trusted: "demo")], replicas: [String: Int] = ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 2],
                environment: [String: String] = [:], detached: Bool = false, postgresSettings: [String: String] = [:]) {
        self.stateDirectory = stateDirectory
        self.binDirectory = binDirectory
        self.plansDirectory = plansDirectory
        self.tenants = tenants
        self.replicas = replicas
        self.environment = environment
        self.detached = detached
        self.postgresSettings = postgresSettings
    }
}

/// A whole Aria cluster on this machine: nats-server with JetStream and auth, a Postgres cluster, and every
/// service as its own process. `aria dev up`, `aria bench` and the end-to-end tests all use it.
public final class LocalCluster: @unchecked Sendable {
    /// The options it was started with.
    public let options: LocalClusterOptions
    /// The NATS server.
    public let nats: NATSServer
    /// The Postgres server.
    public let postgres: PostgresServer
    /// Generated passwords by variable name (`ARIA_NATS_<USER>_PASSWORD`).
    public let secrets: [String: String]
    private let lock = NSLock()
    private var processes: [String: ManagedProcess] = [:]

    /// The directory holding the running executable (where `swift build` puts the `aria-*` binaries).
    public static var executableDirectory: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    private init(options: LocalClusterOptions, nats: NATSServer, postgres: PostgresServer, secrets: [String: String]) {
        self.options = options
        self.nats = nats
        self.postgres = postgres
        self.secrets = secrets
    }

    /// Starts servers, migrates, seeds tenants and starts every service; waits until all are ready.
    public static func up(_ requested: LocalClusterOptions, logger: Logger) async throws -> LocalCluster {
        var options = requested
        options.environment["ARIA_BUS_WORKER_POOLS"] = workerPools(requested).joined(separator: ",")
        let fm = FileManager.default
        let state = options.stateDirectory
        for sub in ["", "logs", "run", "nats"] {
            try fm.createDirectory(at: state.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: state.path)
        let previous = ClusterEnvironment.parse(file: state.appendingPathComponent("cluster.env"))
        let auth = NATSAuthConfig(tenants: options.tenants + options.natsOnlyTenants, workerPools: workerPools(options))
        var secrets: [String: String] = [:]
        for user in auth.users { secrets[user.passwordVariable] = previous[user.passwordVariable] ?? randomSecret() }
        let databasePassword = previous["ARIA_DATABASE_PASSWORD"] ?? randomSecret()
        secrets["ARIA_DATABASE_PASSWORD"] = databasePassword

        let configFile = state.appendingPathComponent("nats-server.conf")
        try auth.render().write(to: configFile, atomically: true, encoding: .utf8)
        let nats = try await NATSServer.start(NATSServerOptions(
            configFile: configFile, port: Int(previous["ARIA_NATS_PORT"] ?? ""), storeDirectory: state.appendingPathComponent("nats"),
            logFile: state.appendingPathComponent("logs/nats-server.log"), environment: secrets))
        let postgres: PostgresServer
        do {
            var pgOptions = PostgresServerOptions(stateDirectory: state.appendingPathComponent("postgres"), password: databasePassword)
            pgOptions.port = Int(previous["ARIA_POSTGRES_PORT"] ?? "")
            pgOptions.extraSettings = options.postgresSettings
            postgres = try await PostgresServer.start(pgOptions)
        } catch {
            await nats.stop()
            throw error
        }
        let cluster = LocalCluster(options: options, nats: nats, postgres: postgres, secrets: secrets)
        do {
            try "\(nats.pid)\n".write(to: state.appendingPathComponent("run/nats-server.pidfile"), atomically: true, encoding: .utf8)
            try cluster.writeClusterFile()
            let environment = ClusterEnvironment(stateDirectory: state, environment: options.environment)
            try await Provisioning.migrate(environment: environment, logger: logger)
            try await Provisioning.addTenants(options.tenants, environment: environment, logger: logger)
            for service in LocalClusterOptions.services {
                for index in 1...max(1, options.replicas[service] ?? 1) where (options.replicas[service] ?? 1) > 0 {
                    _ = try cluster.startService(service, index: index)
                }
            }
            for (pool, count) in options.poolWorkers.sorted(by: { $0.key < $1.key }) where count > 0 {
                for index in 1...count { _ = try cluster.startWorker(pool: pool, index: index) }
            }
            try await cluster.waitUntilReady(timeout: .seconds(60))
        } catch {
            await cluster.down()
            throw error
        }
        return cluster
    }

    /// The pools that need a consumer: `ARIA_BUS_WORKER_POOLS` (default `default`), the regular workers'
    /// pool and every pool of `poolWorkers`, in that order without repeats.
    static func workerPools(_ options: LocalClusterOptions) -> [String] {
        var pools = (options.environment["ARIA_BUS_WORKER_POOLS"] ?? "default").split(separator: ",").map { String($0) }
        let extra = [options.environment["ARIA_WORKER_POOL"] ?? "default"] + options.poolWorkers.keys.sorted()
        for pool in extra where !pools.contains(pool) { pools.append(pool) }
        return pools
    }

    static func randomSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        // nats-server parses a variable's value as a config value: start with a letter so it stays a string.
        return "s" + (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// The `ARIA_*` variables that reach this cluster (written to `cluster.env`).
    public var clusterEnvironment: [String: String] {
        var values = secrets
        values["ARIA_NATS_URL"] = nats.url
        values["ARIA_NATS_PORT"] = String(nats.port)
        values["ARIA_POSTGRES_PORT"] = String(postgres.port)
        values["ARIA_DATABASE_URL"] = postgres.url
        for (key, value) in options.environment { values[key] = value }
        return values
    }

    private func writeClusterFile() throws {
        let text = "# Written by aria dev up: how to reach this local cluster. Contains secrets; do not commit.\n"
            + clusterEnvironment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n") + "\n"
        let file = options.stateDirectory.appendingPathComponent("cluster.env")
        try text.write(to: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
    }

    /// The environment of one service replica.
    public func environment(service: String, index: Int) -> [String: String] {
        environment(service: service, name: "\(service)-\(index)")
    }

    /// The environment of the replica called `name` (its instance name) of `service`.
    func environment(service: String, name: String) -> [String: String] {
        var values = options.environment
        values["ARIA_NATS_URL"] = nats.url
        values["ARIA_NATS_USER"] = service
        values["ARIA_NATS_PASSWORD"] = secrets[NATSAuthConfig.passwordVariable(user: service)]
        values["ARIA_DATABASE_URL"] = postgres.url
        values["ARIA_INSTANCE"] = name
        values["ARIA_PLANS_DIR"] = options.plansDirectory.standardizedFileURL.path
        values["ARIA_READY_FILE"] = readyFile(name: name).path
        if values["ARIA_WORKSPACE_ROOT"] == nil {
            values["ARIA_WORKSPACE_ROOT"] = options.stateDirectory.appendingPathComponent("workspaces").path
        }
        // The skill configuration beside the plan templates (config/skills.yaml), whatever the services' folder.
        let skills = options.plansDirectory.deletingLastPathComponent().appendingPathComponent("skills.yaml")
        if values["ARIA_SKILLS_CONFIG"] == nil, FileManager.default.fileExists(atPath: skills.path) {
            values["ARIA_SKILLS_CONFIG"] = skills.standardizedFileURL.path
        }
        return values
    }

    /// The ready file of a replica.
    public func readyFile(service: String, index: Int) -> URL {
        readyFile(name: "\(service)-\(index)")
    }

    /// The ready file of the replica called `name`.
    public func readyFile(name: String) -> URL {
        options.stateDirectory.appendingPathComponent("run/\(name).ready")
    }

    /// Starts replica `index` of `service` (replacing a stopped one of that name).
    @discardableResult
    public func startService(_ service: String, index: Int, extraEnvironment: [String: String] = [:]) throws -> ManagedProcess {
        try launch(service: service, name: "\(service)-\(index)", extraEnvironment: extraEnvironment)
    }

    /// Starts worker `index` of skill pool `pool`, called `worker-<pool>-<index>` (replacing a stopped one of
    /// that name). The pool needs a consumer: start the cluster with it in ``LocalClusterOptions/poolWorkers``.
    @discardableResult
    public func startWorker(pool: String, index: Int, extraEnvironment: [String: String] = [:]) throws -> ManagedProcess {
        try launch(service: "worker", name: "worker-\(pool)-\(index)",
                   extraEnvironment: ["ARIA_WORKER_POOL": pool].merging(extraEnvironment) { _, new in new })
    }

    private func launch(service: String, name: String, extraEnvironment: [String: String]) throws -> ManagedProcess {
        let executable = options.binDirectory.appendingPathComponent("aria-\(service)").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw LocalClusterError(code: .missingTool, message: "\(executable) not found; run `swift build` first")
        }
        try? FileManager.default.removeItem(at: readyFile(name: name))
        let environment = environment(service: service, name: name).merging(extraEnvironment) { _, new in new }
        let process = try ManagedProcess(name: name, executable: executable, arguments: [], environment: environment,
                                         logFile: options.stateDirectory.appendingPathComponent("logs/\(name).log"))
        try "\(process.pid)\n".write(to: options.stateDirectory.appendingPathComponent("run/\(name).pid"), atomically: true, encoding: .utf8)
        lock.withLock { processes[name] = process }
        return process
    }

    /// The running replica called `name` (`worker-1`).
    public func process(_ name: String) -> ManagedProcess? { lock.withLock { processes[name] } }

    /// Every replica by name.
    public var allProcesses: [String: ManagedProcess] { lock.withLock { processes } }

    /// Waits until every started replica has its ready file.
    public func waitUntilReady(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let pending = allProcesses.keys.filter { name in
                !FileManager.default.fileExists(atPath: options.stateDirectory.appendingPathComponent("run/\(name).ready").path)
            }
            if pending.isEmpty { return }
            for name in pending {
                if let process = process(name), !process.isRunning {
                    throw LocalClusterError(code: .exitedEarly, message: "\(name) exited before it was ready; log:\n\(process.log().suffix(3000))")
                }
            }
            if ContinuousClock.now >= deadline {
                throw LocalClusterError(code: .timeout, message: "not ready within \(timeout): \(pending.sorted().joined(separator: ", "))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Opens a client for `tenant`.
    public func client(tenant: TenantID, logger: Logger) async throws -> AriaClient {
        let user = NATSAuthConfig.userName(tenant: tenant)
        return try await AriaClient(tenant: tenant, urls: [nats.url], user: user,
                                    password: secrets[NATSAuthConfig.passwordVariable(user: user)], logger: logger)
    }

    /// A connection as NATS user `user` (e.g. `admin`, `worker`).
    public func natsConnection(user: String, inboxPrefix: String? = nil, logger: Logger) async throws -> NATSConnection {
        try await NATSConnection.connect(
            NATSConnectOptions(urls: [nats.url], user: user, password: secrets[NATSAuthConfig.passwordVariable(user: user)],
                               name: "aria-test-\(user)", inboxPrefix: inboxPrefix ?? Subjects.serviceInboxPrefix(user)),
            logger: logger)
    }

    /// A Postgres pool on the cluster database (for inspection in tests and benchmarks).
    public func databasePool(logger: Logger, maxConnections: Int = 2) throws -> PostgresPool {
        PostgresPool(config: try PostgresConfig(url: postgres.url), maxConnections: maxConnections, logger: logger)
    }

    /// Stops every service (SIGTERM, then SIGKILL after the grace), then the servers.
    public func down() async {
        await stopServices()
        await nats.stop()
        await postgres.stop()
    }

    /// Stops every service replica.
    public func stopServices(grace: Duration = .seconds(15)) async {
        await withTaskGroup(of: Void.self) { group in
            for process in allProcesses.values {
                group.addTask { await process.stop(grace: grace) }
            }
        }
    }

    /// Stops what a previous `aria dev up` left running in `stateDirectory` (services by pid file, then servers).
    public static func downDetached(stateDirectory: URL) async {
        let run = stateDirectory.appendingPathComponent("run")
        let pidFiles = (try? FileManager.default.contentsOfDirectory(atPath: run.path))?.filter { $0.hasSuffix(".pid") } ?? []
        var pids: [Int32] = []
        for file in pidFiles {
            if let text = try? String(contentsOfFile: run.appendingPathComponent(file).path, encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                pids.append(pid)
                kill(pid, SIGTERM)
            }
            try? FileManager.default.removeItem(at: run.appendingPathComponent(file))
        }
        let deadline = ContinuousClock.now + .seconds(15)
        while pids.contains(where: { kill($0, 0) == 0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for pid in pids where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        let natsPidFile = run.appendingPathComponent("nats-server.pidfile")
        if let text = try? String(contentsOf: natsPidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGTERM)
            let natsDeadline = ContinuousClock.now + .seconds(10)
            while kill(pid, 0) == 0 && ContinuousClock.now < natsDeadline { try? await Task.sleep(for: .milliseconds(50)) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(at: natsPidFile)
        }
        await PostgresServer.stopRunning(stateDirectory: stateDirectory.appendingPathComponent("postgres"))
    }
}
