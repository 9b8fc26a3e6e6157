import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started by Aria's local tooling (`aria dev`, `aria bench`, tests), with its output in a log file.
public final class ManagedProcess: @unchecked Sendable {
    /// The operating system process id.
    public let pid: Int32
    /// A short name used in messages ("nats-server", "aria-worker-1").
    public let name: String
    /// The file that receives the process's standard output and standard error.
    public let logFile: URL
    private let process: Process

    /// Starts `executable` with `arguments` and `environment` (merged over this process's environment),
    /// appending its output to `logFile`.
    public init(
        name: String, executable: String, arguments: [String], environment: [String: String] = [:],
        logFile: URL, workingDirectory: URL? = nil
    ) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        if !FileManager.default.fileExists(atPath: logFile.path) { _ = FileManager.default.createFile(atPath: logFile.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: logFile)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw LocalClusterError(code: .launchFailed, message: "cannot start \(name) (\(executable)): \(error)")
        }
        try? handle.close()
        self.process = process
        self.pid = process.processIdentifier
        self.name = name
        self.logFile = logFile
    }

    /// Whether the process is still running.
    public var isRunning: Bool { process.isRunning }

    /// The process's exit status, once it has ended.
    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// Sends `signal` to the process.
    public func signal(_ signal: Int32) { if process.isRunning { kill(pid, signal) } }

    /// Sends SIGTERM and waits up to `grace` for the process to exit, then SIGKILLs it.
    public func stop(grace: Duration = .seconds(10)) async {
        signal(SIGTERM)
        if await waitForExit(timeout: grace) { return }
        signal(SIGKILL)
        _ = await waitForExit(timeout: .seconds(5))
    }

    /// Waits until the process has exited; returns false if it still runs after `timeout`.
    public func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// The current content of the log file.
    public func log() -> String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Waits until the log contains `text`; fails early if the process exits.
    public func waitForLog(_ text: String, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if log().contains(text) { return }
            if !process.isRunning {
                throw LocalClusterError(code: .exitedEarly, message: "\(name) exited (\(process.terminationStatus)) before '\(text)'; log:\n\(log().suffix(2000))")
            }
            if ContinuousClock.now >= deadline {
                throw LocalClusterError(code: .timeout, message: "\(name) did not log '\(text)' within \(timeout); log:\n\(log().suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Failures of the local tooling that starts servers and services.
public struct LocalClusterError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable {
        case launchFailed = "launch_failed"
        case exitedEarly = "exited_early"
        case timeout
        case missingTool = "missing_tool"
        case commandFailed = "command_failed"
    }
    /// The kind of failure.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// Creates an error.
    public init(code: Code, message: String) { self.code = code; self.message = message }
    /// The message with its code.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// Finds TCP ports on 127.0.0.1 that nothing listens on.
public enum FreePort {
    /// Returns a port that was free a moment ago (bind to port 0, read it back, close).
    public static func find() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LocalClusterError(code: .launchFailed, message: "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        guard bound == 0 else { throw LocalClusterError(code: .launchFailed, message: "bind() failed") }
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw LocalClusterError(code: .launchFailed, message: "getsockname() failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// Runs a command to completion and returns its combined output; throws if it exits non-zero.
@discardableResult
public func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    do { try process.run() } catch {
        throw LocalClusterError(code: .launchFailed, message: "cannot run \(executable): \(error)")
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let output = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw LocalClusterError(code: .commandFailed, message: "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(output)")
    }
    return output
}
