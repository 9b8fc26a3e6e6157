import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How to run a local Postgres cluster.
public struct PostgresServerOptions: Sendable {
    /// The folder holding the cluster: `data/`, `socket/`, `postgres.log` and `port` (the last port used).
    public var stateDirectory: URL
    /// The TCP port on 127.0.0.1; nil reuses the cluster's previous port if it is free, else picks a free one.
    public var port: Int?
    /// A password for the `postgres` superuser over TCP; nil leaves it without one (it can still use the socket).
    public var superuserPassword: String?
    /// The application database, owned by `user`.
    public var databaseName: String
    /// The application role (LOGIN, not superuser).
    public var user: String
    /// The application role's password (scram-sha-256 over TCP).
    public var password: String
    /// Further `postgresql.conf` settings (`-c name=value`), e.g. `["fsync": "off"]` for throwaway test clusters.
    /// Production durability (fsync, synchronous_commit, full_page_writes on) is kept unless overridden here.
    public var extraSettings: [String: String]

    /// Creates options.
    public init(
        stateDirectory: URL, port: Int? = nil, superuserPassword: String? = nil, databaseName: String = "aria",
        user: String = "aria", password: String, extraSettings: [String: String] = [:]
    ) {
        self.stateDirectory = stateDirectory
        self.port = port
        self.superuserPassword = superuserPassword
        self.databaseName = databaseName
        self.user = user
        self.password = password
        self.extraSettings = extraSettings
    }
}

/// A local Postgres cluster run from the PostgreSQL server binaries, for `aria dev` and for tests.
///
/// The server listens on 127.0.0.1 only (scram-sha-256 password authentication) and on a unix socket in
/// `<state>/socket` that only the server's OS user can reach (trust). When this process runs as root the
/// server runs as the `postgres` system user, because initdb and postgres refuse to run as root. The
/// server is a separate process: it keeps running when this process exits until `stop()`, `kill()` or
/// `stopRunning(stateDirectory:)`.
public final class PostgresServer: Sendable {
    /// The options the server was started with.
    public let options: PostgresServerOptions
    /// The TCP port on 127.0.0.1 (kept across `restart()`).
    public let port: Int
    /// The cluster's data directory.
    public let dataDirectory: URL
    /// The folder holding the server's unix socket.
    public let socketDirectory: URL
    /// The server's log.
    public let logFile: URL

    private let tools: PostgresTools
    private let state: Mutex<RunState>

    private struct RunState: Sendable {
        var pid: Int32
        /// The launched process, when this process started the server (nil when it adopted a running one).
        var process: ManagedProcess?
    }

    private init(options: PostgresServerOptions, port: Int, tools: PostgresTools, pid: Int32, process: ManagedProcess?) {
        self.options = options
        self.port = port
        self.tools = tools
        self.dataDirectory = Self.dataDirectory(options.stateDirectory)
        self.socketDirectory = options.stateDirectory.appendingPathComponent("socket", isDirectory: true)
        self.logFile = options.stateDirectory.appendingPathComponent("postgres.log")
        self.state = Mutex(RunState(pid: pid, process: process))
    }

    /// The postmaster's process id (changes on `restart()`).
    public var pid: Int32 { state.withLock { $0.pid } }

    /// Whether the postmaster is running.
    public var isRunning: Bool { processIsAlive(pid) }

    /// `postgres://user:password@127.0.0.1:port/database` for the application role.
    public var url: String {
        "postgres://\(Self.percentEncode(options.user)):\(Self.percentEncode(options.password))@127.0.0.1:\(port)/\(Self.percentEncode(options.databaseName))"
    }

    /// Starts the cluster in `options.stateDirectory`, creating it with initdb the first time, and waits until
    /// it accepts connections; then makes sure the application role (LOGIN PASSWORD) and database exist.
    ///
    /// If a server from an earlier process is still running on that directory, it is adopted (with the port
    /// it listens on) instead of started twice.
    /// - Throws: `LocalClusterError`.
    public static func start(_ options: PostgresServerOptions) async throws -> PostgresServer {
        let (tools, adopted) = try await offCooperativePool { () throws -> (PostgresTools, PostgresServer?) in
            let tools = try PostgresTools.locate()
            try prepareDirectories(options, tools: tools)
            let data = dataDirectory(options.stateDirectory)
            if let running = PostmasterLock.read(data), processIsAlive(running.pid), isPostgres(running.pid), let port = running.port {
                return (tools, PostgresServer(options: options, port: port, tools: tools, pid: running.pid, process: nil))
            }
            PostmasterLock.removeIfStale(data)
            if !FileManager.default.fileExists(atPath: data.appendingPathComponent("PG_VERSION").path) {
                try initializeCluster(options, tools: tools)
            }
            return (tools, nil)
        }
        if let server = adopted {
            try await server.waitUntilReady(process: nil)
            try await server.ensureRoleAndDatabase()
            return server
        }

        // Without a configured port, a cluster started before comes back on the port it had, if still free.
        let portFile = options.stateDirectory.appendingPathComponent("port")
        let rememberedPort = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        var attempt = 0
        while true {
            attempt += 1
            let port = try options.port ?? (attempt == 1 ? rememberedPort : nil) ?? FreePort.find()
            let server = PostgresServer(options: options, port: port, tools: tools, pid: 0, process: nil)
            do {
                try await server.launch()
                try await server.ensureRoleAndDatabase()
                try? Data("\(port)\n".utf8).write(to: portFile)
                return server
            } catch {
                await server.stop()
                // A free port picked by us may be taken by someone else before the server binds it.
                let portRace = options.port == nil && attempt < 3
                    && (error as? LocalClusterError)?.message.contains("could not bind") == true
                if !portRace { throw error }
            }
        }
    }

    /// Stops the server with a fast shutdown (SIGINT: running transactions are rolled back) and waits for it
    /// to exit; escalates to an immediate shutdown, then SIGKILL, if it takes more than a minute.
    public func stop() async {
        let pid = pid
        guard pid > 0, processIsAlive(pid) else { return }
        sendSignal(pid, SIGINT)
        if await Self.waitUntilGone(pid, timeout: .seconds(60)) { return }
        sendSignal(pid, SIGQUIT)
        if await Self.waitUntilGone(pid, timeout: .seconds(5)) { return }
        kill()
        _ = await Self.waitUntilGone(pid, timeout: .seconds(5))
    }

    /// Simulates a crash: SIGKILLs the postmaster and all its children at once. Committed work survives
    /// (the operating system keeps what was written), and crash recovery runs on `restart()`.
    public func kill() {
        let pid = pid
        guard pid > 0, processIsAlive(pid) else { return }
        // Frozen, the postmaster cannot fork new children while they are collected and killed.
        sendSignal(pid, SIGSTOP)
        for child in childProcesses(of: pid) { sendSignal(child, SIGKILL) }
        sendSignal(pid, SIGKILL)
    }

    /// Starts the server again on the same port and data directory after `stop()` or `kill()` (stopping it
    /// first if it still runs), and waits until it accepts connections.
    /// - Throws: `LocalClusterError`.
    public func restart() async throws {
        let pid = pid
        if pid > 0, processIsAlive(pid) { await stop() }
        guard await Self.waitUntilGone(pid, timeout: .seconds(10)) else {
            throw LocalClusterError(code: .timeout, message: "postgres (pid \(pid)) did not exit")
        }
        try await launch()
    }

    /// Shuts the server down immediately (SIGQUIT, no checkpoint) and blocks until it has exited, SIGKILLing
    /// it after `timeout`. Synchronous, for `atexit` handlers.
    public func shutdownImmediately(timeout: Duration = .seconds(5)) {
        let pid = pid
        guard pid > 0, processIsAlive(pid) else { return }
        sendSignal(pid, SIGQUIT)
        let deadline = ContinuousClock.now + timeout
        while processIsAlive(pid), ContinuousClock.now < deadline { usleep(10_000) }
        if processIsAlive(pid) { kill() }
    }

    /// Creates database `name` owned by the application role (for test isolation). Blocks while `psql` runs.
    /// - Throws: `LocalClusterError`.
    public func createDatabase(_ name: String) throws {
        try runSQL("CREATE DATABASE \(Self.quoteIdentifier(name)) OWNER \(Self.quoteIdentifier(options.user));")
    }

    /// Stops a server that a previous process left running on `stateDirectory` (found through its
    /// `postmaster.pid`), with a fast shutdown; does nothing if none runs.
    public static func stopRunning(stateDirectory: URL) async {
        guard let lock = PostmasterLock.read(dataDirectory(stateDirectory)), lock.pid > 0,
            processIsAlive(lock.pid), isPostgres(lock.pid)
        else { return }
        sendSignal(lock.pid, SIGINT)
        if await waitUntilGone(lock.pid, timeout: .seconds(60)) { return }
        sendSignal(lock.pid, SIGQUIT)
        if await waitUntilGone(lock.pid, timeout: .seconds(5)) { return }
        sendSignal(lock.pid, SIGKILL)
        _ = await waitUntilGone(lock.pid, timeout: .seconds(5))
    }

    // MARK: - Starting

    /// Runs the postmaster and waits until it is ready.
    private func launch() async throws {
        let data = dataDirectory
        try await Self.offCooperativePool { PostmasterLock.removeIfStale(data) }
        var settings: [(String, String)] = [
            ("port", String(port)),
            ("listen_addresses", "127.0.0.1"),
            ("unix_socket_directories", socketDirectory.path),
            ("unix_socket_permissions", "0700"),
            ("logging_collector", "off"),
            ("log_line_prefix", "%m [%p] %q%u@%d "),
            // Aria's tables churn (every job updates its run and steps): look for vacuum and analyze work
            // every second instead of every minute (docs/configuration.md).
            ("autovacuum_naptime", "1s"),
        ]
        settings += options.extraSettings.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let arguments = ["-D", data.path] + settings.flatMap { ["-c", "\($0.0)=\($0.1)"] }
        let command = tools.asServerUser(tools.binary("postgres"), arguments)
        let (logFile, workingDirectory) = (logFile, options.stateDirectory)
        let process = try await Self.offCooperativePool {
            try ManagedProcess(
                name: "postgres", executable: command.executable, arguments: command.arguments,
                logFile: logFile, workingDirectory: workingDirectory)
        }
        state.withLock { $0 = RunState(pid: process.pid, process: process) }
        try await waitUntilReady(process: process)
    }

    /// Waits until `postmaster.pid` says the server accepts connections, and records the postmaster's pid.
    private func waitUntilReady(process: ManagedProcess?) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            if let lock = PostmasterLock.read(dataDirectory), lock.status == "ready", processIsAlive(lock.pid) {
                state.withLock { $0.pid = lock.pid }
                return
            }
            if let process, !process.isRunning {
                throw LocalClusterError(
                    code: .exitedEarly,
                    message: "postgres exited (\(process.exitStatus ?? -1)) before accepting connections; log:\n\(Self.tail(logFile))")
            }
            if ContinuousClock.now >= deadline {
                throw LocalClusterError(
                    code: .timeout, message: "postgres was not ready within 60 s; log:\n\(Self.tail(logFile))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Creates or updates the application role and creates its database, idempotently.
    private func ensureRoleAndDatabase() async throws {
        let user = options.user
        let database = options.databaseName
        var script = """
            SELECT format('CREATE ROLE %I LOGIN', \(Self.quoteLiteral(user)))
              WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = \(Self.quoteLiteral(user)))\\gexec
            ALTER ROLE \(Self.quoteIdentifier(user)) LOGIN PASSWORD \(Self.quoteLiteral(options.password));
            SELECT format('CREATE DATABASE %I OWNER %I', \(Self.quoteLiteral(database)), \(Self.quoteLiteral(user)))
              WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = \(Self.quoteLiteral(database)))\\gexec

            """
        if let superuserPassword = options.superuserPassword {
            script += "ALTER ROLE postgres PASSWORD \(Self.quoteLiteral(superuserPassword));\n"
        }
        if options.extraSettings["shared_preload_libraries"]?.contains("pg_stat_statements") == true {
            // Statement statistics (benchmarks): the view in the application database, readable by its role.
            script += """
                \\connect \(Self.quoteIdentifier(database))
                CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
                GRANT pg_read_all_stats TO \(Self.quoteIdentifier(user));

                """
        }
        let finalScript = script
        try await Self.offCooperativePool { try self.runSQL(finalScript) }
    }

    /// Runs a psql script as the superuser over the unix socket. The script goes through a private file,
    /// so passwords never appear in a process's arguments.
    private func runSQL(_ script: String) throws {
        let file = options.stateDirectory.appendingPathComponent("psql-\(UUID().uuidString).sql")
        guard FileManager.default.createFile(atPath: file.path, contents: Data(script.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw LocalClusterError(code: .commandFailed, message: "cannot write \(file.path)")
        }
        defer { try? FileManager.default.removeItem(at: file) }
        try tools.giveToServerUser(file)
        let command = tools.asServerUser(
            tools.binary("psql"),
            ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory.path, "-p", String(port), "-U", "postgres", "-d", "postgres", "-f", file.path])
        try Self.runTool(command, workingDirectory: options.stateDirectory)
    }

    // MARK: - Cluster creation

    private static func dataDirectory(_ stateDirectory: URL) -> URL {
        stateDirectory.appendingPathComponent("data", isDirectory: true)
    }

    /// Creates the state folders, owned by the server's user, and makes sure that user can reach them.
    private static func prepareDirectories(_ options: PostgresServerOptions, tools: PostgresTools) throws {
        let fileManager = FileManager.default
        let state = options.stateDirectory.standardizedFileURL
        let data = dataDirectory(state)
        let socket = state.appendingPathComponent("socket", isDirectory: true)
        let socketPath = socket.appendingPathComponent(".s.PGSQL.65535").path
        guard socketPath.utf8.count < 108 else {
            throw LocalClusterError(code: .launchFailed, message: "state directory path too long for a unix socket: \(state.path)")
        }
        do {
            try fileManager.createDirectory(at: state, withIntermediateDirectories: true)
            for directory in [data, socket] where !fileManager.fileExists(atPath: directory.path) {
                try fileManager.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            }
        } catch {
            throw LocalClusterError(code: .launchFailed, message: "cannot create \(state.path): \(error)")
        }
        try tools.giveToServerUser(data)
        try tools.giveToServerUser(socket)
        if tools.switchesUser {
            // The server's user must be able to traverse every folder down to the state directory.
            var directory = state
            while true {
                try ensureTraversableByOthers(directory)
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
    }

    private static func ensureTraversableByOthers(_ directory: URL) throws {
        var info = stat()
        guard stat(directory.path, &info) == 0 else {
            throw LocalClusterError(code: .launchFailed, message: "cannot stat \(directory.path)")
        }
        guard info.st_mode & S_IXOTH == 0 else { return }
        guard chmod(directory.path, info.st_mode & 0o7777 | S_IXOTH) == 0 else {
            throw LocalClusterError(code: .launchFailed, message: "cannot make \(directory.path) traversable for the postgres user")
        }
    }

    /// Runs initdb and writes Aria's authentication rules.
    private static func initializeCluster(_ options: PostgresServerOptions, tools: PostgresTools) throws {
        let data = dataDirectory(options.stateDirectory)
        let command = tools.asServerUser(
            tools.binary("initdb"), ["-D", data.path, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-instructions"])
        try runTool(command, workingDirectory: options.stateDirectory)
        let rules = """
            # Written by Aria. The socket folder and socket are reachable only by the server's OS user (and root).
            local   all   all                  trust
            host    all   all   127.0.0.1/32   scram-sha-256

            """
        let hba = data.appendingPathComponent("pg_hba.conf")
        do {
            try Data(rules.utf8).write(to: hba)
        } catch {
            throw LocalClusterError(code: .launchFailed, message: "cannot write \(hba.path): \(error)")
        }
        try tools.giveToServerUser(hba)
    }

    // MARK: - Processes

    /// Waits until `pid` no longer runs (a zombie counts as gone); false on timeout.
    private static func waitUntilGone(_ pid: Int32, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while processIsAlive(pid) {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Runs a short command to completion and returns its output; throws if it exits non-zero.
    @discardableResult
    private static func runTool(_ command: PostgresTools.Command, workingDirectory: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command.executable)
        process.arguments = command.arguments
        process.currentDirectoryURL = workingDirectory
        process.environment = ProcessInfo.processInfo.environment.merging(["LC_ALL": "C"]) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw LocalClusterError(code: .launchFailed, message: "cannot run \(command.executable): \(error)")
        }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw LocalClusterError(
                code: .commandFailed,
                message: "\(command.arguments.joined(separator: " ")) exited \(process.terminationStatus): \(output)")
        }
        return output
    }

    /// Runs blocking work (child processes, file system) on a queue of its own, neither on the cooperative
    /// pool nor on a global dispatch queue: blocking the few global-queue threads delays the timers behind
    /// every `Task.sleep` in the process.
    private static func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue(label: "aria.postgres-server.blocking").async { continuation.resume(with: Result { try work() }) }
        }
    }

    private static func tail(_ file: URL) -> String {
        String(((try? String(contentsOf: file, encoding: .utf8)) ?? "").suffix(2000))
    }

    // MARK: - Quoting

    private static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private static func quoteLiteral(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    private static func percentEncode(_ text: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// The PostgreSQL server binaries, and how to run them as the server's OS user.
private struct PostgresTools: Sendable {
    /// An executable with its arguments.
    struct Command {
        let executable: String
        let arguments: [String]
    }

    let binDirectory: String
    /// When running as root: the program that switches to the `postgres` user and its leading arguments.
    let userSwitch: Command?
    let serverUser: (uid: uid_t, gid: gid_t)?

    var switchesUser: Bool { userSwitch != nil }

    /// Finds the binaries (`$ARIA_PG_BINDIR`, `pg_config --bindir`, the newest `/usr/lib/postgresql/*/bin`,
    /// or `PATH`) and, as root, the `postgres` user and `setpriv` or `runuser`.
    static func locate() throws -> PostgresTools {
        let fileManager = FileManager.default
        func hasServer(_ directory: String) -> Bool { fileManager.isExecutableFile(atPath: directory + "/postgres") }

        var candidates: [String] = []
        if let override = ProcessInfo.processInfo.environment["ARIA_PG_BINDIR"] { candidates.append(override) }
        if let pgConfig = findInPath("pg_config"),
            let output = try? runCommand(pgConfig, ["--bindir"])
        {
            candidates.append(output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let versions = ((try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >)
        candidates += versions.map { "/usr/lib/postgresql/\($0)/bin" }
        if let postgres = findInPath("postgres") { candidates.append((postgres as NSString).deletingLastPathComponent) }
        guard let binDirectory = candidates.first(where: hasServer) else {
            throw LocalClusterError(
                code: .missingTool, message: "PostgreSQL server binaries not found (install postgresql, or set ARIA_PG_BINDIR)")
        }

        guard geteuid() == 0 else { return PostgresTools(binDirectory: binDirectory, userSwitch: nil, serverUser: nil) }
        guard let account = getpwnam("postgres") else {
            throw LocalClusterError(code: .missingTool, message: "running as root needs a 'postgres' system user to run the server")
        }
        let serverUser = (uid: account.pointee.pw_uid, gid: account.pointee.pw_gid)
        let userSwitch: Command
        if let setpriv = findInPath("setpriv") {
            // Executes in place, so the launched pid is the postmaster's own.
            userSwitch = Command(executable: setpriv, arguments: ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"])
        } else if let runuser = findInPath("runuser") {
            userSwitch = Command(executable: runuser, arguments: ["-u", "postgres", "--"])
        } else {
            throw LocalClusterError(code: .missingTool, message: "running as root needs setpriv or runuser to switch to the postgres user")
        }
        return PostgresTools(binDirectory: binDirectory, userSwitch: userSwitch, serverUser: serverUser)
    }

    func binary(_ name: String) -> String { binDirectory + "/" + name }

    /// `executable arguments`, run as the server's user.
    func asServerUser(_ executable: String, _ arguments: [String]) -> Command {
        guard let userSwitch else { return Command(executable: executable, arguments: arguments) }
        return Command(executable: userSwitch.executable, arguments: userSwitch.arguments + [executable] + arguments)
    }

    /// Hands a file or folder to the server's user (when running as root).
    func giveToServerUser(_ url: URL) throws {
        guard let serverUser else { return }
        guard chown(url.path, serverUser.uid, serverUser.gid) == 0 else {
            throw LocalClusterError(code: .launchFailed, message: "cannot chown \(url.path) to postgres")
        }
    }

    private static func findInPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        return directories.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// What `postmaster.pid` says: line 1 the pid, line 4 the port, line 8 the status (`ready`, `starting`, …).
private struct PostmasterLock {
    let pid: Int32
    let port: Int?
    let status: String?

    static func read(_ dataDirectory: URL) -> PostmasterLock? {
        guard let text = try? String(contentsOf: dataDirectory.appendingPathComponent("postmaster.pid"), encoding: .utf8) else {
            return nil
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard let first = lines.first, let pid = Int32(first) else { return nil }
        return PostmasterLock(
            pid: pid,
            port: lines.count > 3 ? Int(lines[3]) : nil,
            status: lines.count > 7 ? lines[7] : nil)
    }

    /// Removes a lock file left by a postmaster that no longer runs. Postgres itself would refuse to start
    /// while that pid is a zombie nobody reaps (a killed server whose parent has gone) or has been recycled.
    static func removeIfStale(_ dataDirectory: URL) {
        guard let lock = read(dataDirectory), !processIsAlive(lock.pid) || !isPostgres(lock.pid) else { return }
        try? FileManager.default.removeItem(at: dataDirectory.appendingPathComponent("postmaster.pid"))
    }
}

// MARK: - Process inspection (Linux /proc)

private func sendSignal(_ pid: Int32, _ signal: Int32) {
    guard pid > 0 else { return }
    _ = kill(pid, signal)
}

/// Whether `pid` runs (zombies, which hold no resources and only wait to be reaped, count as not running).
private func processIsAlive(_ pid: Int32) -> Bool {
    guard pid > 0 else { return false }
    if kill(pid, 0) != 0 && errno != EPERM { return false }
    return processStat(pid)?.state != "Z"
}

/// Whether `pid` is a postgres process (guards against signalling a recycled pid).
private func isPostgres(_ pid: Int32) -> Bool {
    #if os(Linux)
    guard let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return false }
    return comm.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("postgres")
    #else
    return true
    #endif
}

/// The state letter and parent pid from `/proc/<pid>/stat`.
private func processStat(_ pid: Int32) -> (state: Character, parent: Int32)? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return nil }
    // After "pid (comm)" come the state and the parent pid; comm itself may contain spaces and parentheses.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count >= 2, let state = fields[0].first, let parent = Int32(fields[1]) else { return nil }
    return (state, parent)
}

private func childProcesses(of parent: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { processStat($0)?.parent == parent }
}
