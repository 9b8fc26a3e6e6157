import AriaLocalCluster
import AriaPostgres
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Real Postgres servers for tests: started in fresh temporary folders, shut down when the test process exits.
public enum TestPostgres {
    /// Settings for throwaway test clusters: no fsync (the tests kill processes, never the machine, so
    /// committed data still survives a crash test), and room for many parallel pools.
    public static let testSettings: [String: String] = [
        "fsync": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    ]

    private static let sharedServer = Mutex<Task<PostgresServer, any Error>?>(nil)
    private static let startedServers = Mutex<[(server: PostgresServer, directory: URL)]>([])
    private static let exitHandlerInstalled = Mutex(false)

    /// The test process's shared server, started on first use.
    ///
    /// Shared by tests running in parallel: do not stop, kill or restart it (use `startDedicated()` for that).
    public static func shared() async throws -> PostgresServer {
        let task = sharedServer.withLock { current in
            if let current { return current }
            let task = Task { try await startDedicated() }
            current = task
            return task
        }
        return try await task.value
    }

    /// Starts a server of its own in a fresh temporary folder, for tests that stop, kill or restart it.
    /// It is shut down and its folder deleted when the test process exits.
    public static func startDedicated(extraSettings: [String: String] = [:]) async throws -> PostgresServer {
        installExitHandler()
        let directory = try makeTemporaryDirectory()
        let options = PostgresServerOptions(
            stateDirectory: directory, password: "test-\(randomHex())",
            extraSettings: testSettings.merging(extraSettings) { _, new in new })
        do {
            let server = try await PostgresServer.start(options)
            startedServers.withLock { $0.append((server, directory)) }
            return server
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// Creates a uniquely named database (`<prefix>_<random>`) on the shared server, owned by the
    /// application role, and returns a configuration that connects to it.
    public static func freshDatabase(prefix: String) async throws -> PostgresConfig {
        let server = try await shared()
        return try await freshDatabase(prefix: prefix, on: server)
    }

    /// Creates a uniquely named database (`<prefix>_<random>`) on `server` and returns its configuration.
    public static func freshDatabase(prefix: String, on server: PostgresServer) async throws -> PostgresConfig {
        let cleaned = prefix.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
        let name = String(String(cleaned).prefix(40)) + "_" + randomHex()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            // createDatabase runs psql and blocks: keep it off the cooperative pool and the global queues.
            DispatchQueue(label: "aria.test-postgres.create-database").async {
                continuation.resume(with: Result { try server.createDatabase(name) })
            }
        }
        var config = try PostgresConfig(url: server.url)
        config.database = name
        config.applicationName = "aria-test"
        return config
    }

    // MARK: - Process exit

    private static func installExitHandler() {
        let install = exitHandlerInstalled.withLock { installed in
            defer { installed = true }
            return !installed
        }
        if install { atexit { TestPostgres.shutdownAll() } }
    }

    /// Shuts down every server this process started and deletes their folders (runs at exit).
    private static func shutdownAll() {
        let servers = startedServers.withLock { servers in
            defer { servers.removeAll() }
            return servers
        }
        for (server, directory) in servers {
            server.shutdownImmediately(timeout: .seconds(5))
            try? FileManager.default.removeItem(at: directory)
        }
    }

    private static func makeTemporaryDirectory() throws -> URL {
        var template = Array("/tmp/aria-pg-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!) }
        guard created != nil else {
            throw LocalClusterError(code: .launchFailed, message: "mkdtemp failed (errno \(errno))")
        }
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return URL(fileURLWithPath: path, isDirectory: true)
    }

    private static func randomHex() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }
}
