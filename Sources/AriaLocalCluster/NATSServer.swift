import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How to run a local `nats-server` with JetStream.
public struct NATSServerOptions: Sendable {
    /// A configuration file (users, permissions, limits), or nil for an open server.
    public var configFile: URL?
    /// The client port on 127.0.0.1; nil picks a free one (kept across restarts).
    public var port: Int?
    /// Where JetStream stores its data (kept across restarts).
    public var storeDirectory: URL
    /// The file that receives the server's output (appended to across restarts).
    public var logFile: URL
    /// Extra environment variables, for `$VAR` references in the configuration file.
    public var environment: [String: String]
    /// The `nats-server` binary; nil looks it up in `PATH`, then `/usr/sbin` and `/usr/local/bin`.
    public var executable: String?
    /// How long to wait for "Server is ready". Default 15 s.
    public var startTimeout: Duration

    /// Creates options.
    public init(
        configFile: URL? = nil, port: Int? = nil, storeDirectory: URL, logFile: URL, environment: [String: String] = [:],
        executable: String? = nil, startTimeout: Duration = .seconds(15)
    ) {
        self.configFile = configFile
        self.port = port
        self.storeDirectory = storeDirectory
        self.logFile = logFile
        self.environment = environment
        self.executable = executable
        self.startTimeout = startTimeout
    }
}

/// A `nats-server` child process with JetStream, listening on 127.0.0.1.
public final class NATSServer: Sendable {
    /// The options it was started with (with the port filled in).
    public let options: NATSServerOptions
    /// The client port.
    public let port: Int
    private let executable: String
    private let process: LockedProcess

    /// The client URL, `nats://127.0.0.1:<port>`.
    public var url: String { "nats://127.0.0.1:\(port)" }

    /// The current server process id (changes on restart).
    public var pid: Int32 { process.current.pid }

    /// Whether the server process is running.
    public var isRunning: Bool { process.current.isRunning }

    private init(options: NATSServerOptions, port: Int, executable: String, process: ManagedProcess) {
        self.options = options
        self.port = port
        self.executable = executable
        self.process = LockedProcess(process)
    }

    /// Starts `nats-server -a 127.0.0.1 -p <port> -js --store_dir <dir> [-c <config>]` and waits until
    /// it logs "Server is ready". With no port given, a free one is picked (and another tried if it was
    /// taken meanwhile).
    public static func start(_ options: NATSServerOptions) async throws -> NATSServer {
        let executable = try options.executable ?? findExecutable()
        try FileManager.default.createDirectory(at: options.storeDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: options.logFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        var attempt = 0
        while true {
            attempt += 1
            let port = try options.port ?? FreePort.find()
            do {
                let process = try await launch(executable: executable, options: options, port: port)
                var resolved = options
                resolved.port = port
                return NATSServer(options: resolved, port: port, executable: executable, process: process)
            } catch let error as LocalClusterError where options.port == nil && attempt < 3 && error.message.contains("address already in use") {
                continue
            }
        }
    }

    /// Stops the server gracefully (SIGTERM, then SIGKILL after 10 s).
    public func stop() async {
        await process.current.stop(grace: .seconds(10))
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    public func kill() {
        process.current.signal(SIGKILL)
    }

    /// Stops the server (if running) and starts it again on the same port with the same store
    /// directory, so JetStream data survives.
    public func restart() async throws {
        let old = process.current
        if old.isRunning { await old.stop(grace: .seconds(10)) } else { _ = await old.waitForExit(timeout: .seconds(5)) }
        let new = try await Self.launch(executable: executable, options: options, port: port)
        process.replace(with: new)
    }

    /// Checks a configuration file with `nats-server -c <file> -t`; throws `LocalClusterError` with the
    /// server's explanation when it is invalid.
    public static func validateConfig(_ file: URL, environment: [String: String] = [:], executable: String? = nil) throws {
        let binary = try executable ?? findExecutable()
        try runCommand(binary, ["-c", file.path, "-t"], environment: environment)
    }

    /// The path of `nats-server`, or `LocalClusterError.missingTool`.
    public static func findExecutable() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/nats-server" } + ["/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/usr/bin/nats-server"]
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        throw LocalClusterError(code: .missingTool, message: "nats-server not found in PATH (apt-get install nats-server)")
    }

    private static func launch(executable: String, options: NATSServerOptions, port: Int) async throws -> ManagedProcess {
        var arguments = ["-a", "127.0.0.1", "-p", String(port), "-js", "--store_dir", options.storeDirectory.path]
        if let configFile = options.configFile { arguments = ["-c", configFile.path] + arguments }
        // The log file is appended to across restarts: only output after this point counts.
        let offset = (try? FileManager.default.attributesOfItem(atPath: options.logFile.path)[.size] as? NSNumber)?.intValue ?? 0
        let process = try ManagedProcess(
            name: "nats-server:\(port)", executable: executable, arguments: arguments, environment: options.environment,
            logFile: options.logFile)
        do {
            try await waitForReady(process, logFile: options.logFile, after: offset, timeout: options.startTimeout)
        } catch {
            await process.stop(grace: .seconds(2))
            throw error
        }
        return process
    }

    private static func waitForReady(_ process: ManagedProcess, logFile: URL, after offset: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let output = newOutput(logFile, after: offset)
            if output.contains("Server is ready") { return }
            if !process.isRunning {
                throw LocalClusterError(
                    code: .exitedEarly, message: "nats-server exited (\(process.exitStatus ?? -1)) before it was ready: \(output.suffix(2000))")
            }
            if ContinuousClock.now >= deadline {
                throw LocalClusterError(code: .timeout, message: "nats-server was not ready within \(timeout): \(output.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    private static func newOutput(_ logFile: URL, after offset: Int) -> String {
        guard let handle = try? FileHandle(forReadingFrom: logFile) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(offset))
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// The server's current process, replaced on restart.
private final class LockedProcess: @unchecked Sendable {
    private let lock = NSLock()
    private var process: ManagedProcess

    init(_ process: ManagedProcess) { self.process = process }

    var current: ManagedProcess { lock.withLock { process } }

    func replace(with new: ManagedProcess) { lock.withLock { process = new } }
}
