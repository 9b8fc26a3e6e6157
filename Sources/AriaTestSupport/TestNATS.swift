import AriaLocalCluster
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Real `nats-server` processes for tests: each on a free port with its own temporary directory
/// (config, JetStream store, log), all killed when the test process exits.
public enum TestNATS {
    /// Starts a JetStream server; `config` (nats-server configuration text, e.g. accounts and
    /// permissions) is written to a file in the server's temporary directory, and `environment` serves
    /// its `$VAR` references. The log is `<directory>/nats-server.log` (`server.options.logFile`). `port`
    /// nil picks a free one.
    public static func start(config: String? = nil, environment: [String: String] = [:], port: Int? = nil) async throws -> NATSServer {
        let directory = try makeTemporaryDirectory(prefix: "aria-nats")
        var configFile: URL?
        if let config {
            let file = directory.appendingPathComponent("nats-server.conf")
            try config.write(to: file, atomically: true, encoding: .utf8)
            configFile = file
        }
        let options = NATSServerOptions(
            configFile: configFile, port: port, storeDirectory: directory.appendingPathComponent("jetstream"),
            logFile: directory.appendingPathComponent("nats-server.log"), environment: environment)
        let server = try await NATSServer.start(options)
        TestProcessRegistry.shared.register(server: server, directory: directory)
        return server
    }

    /// Kills every server this process started and removes their directories (set
    /// `ARIA_KEEP_TEST_DIRS=1` to keep them). Runs by itself at exit.
    public static func killAll() {
        TestProcessRegistry.shared.killAll()
    }

    /// A new empty directory under the system's temporary directory.
    public static func makeTemporaryDirectory(prefix: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}

/// The servers started by this process, killed at exit.
final class TestProcessRegistry: @unchecked Sendable {
    /// The process-wide registry; creating it installs the exit handler.
    static let shared: TestProcessRegistry = {
        let registry = TestProcessRegistry()
        atexit { TestProcessRegistry.shared.killAll() }
        return registry
    }()

    private let lock = NSLock()
    private var servers: [NATSServer] = []
    private var directories: [URL] = []

    /// Remembers a server and its directory.
    func register(server: NATSServer, directory: URL) {
        lock.withLock {
            servers.append(server)
            directories.append(directory)
        }
    }

    /// Kills every remembered server (its current process) and removes the directories.
    func killAll() {
        let (servers, directories) = lock.withLock {
            let result = (self.servers, self.directories)
            self.servers = []
            self.directories = []
            return result
        }
        for server in servers where server.isRunning { kill(server.pid, SIGKILL) }
        guard ProcessInfo.processInfo.environment["ARIA_KEEP_TEST_DIRS"] == nil else { return }
        for directory in directories { try? FileManager.default.removeItem(at: directory) }
    }
}
