import AriaBus
import AriaCLI
import AriaCore
import AriaNATS
import AriaPostgres
import AriaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// Collects a tenant's events from a core subscription, by run and by idempotency key.
final class EventCollector: Sendable {
    final class Storage: Sendable {
        let state = Mutex<(byRun: [RunID: [Envelope<RunEventBody>]], byKey: [String: [Envelope<RunEventBody>]])>(([:], [:]))
    }
    private let storage = Storage()
    private let task: Task<Void, Never>

    init(_ subscription: NATSSubscription) {
        let storage = self.storage
        task = Task {
            let state = storage
            for await message in subscription {
                guard let event = try? Wire.decode(Envelope<RunEventBody>.self, from: message.payload), let run = event.run else { continue }
                state.state.withLock { state in
                    state.byRun[run, default: []].append(event)
                    if let key = event.body.idempotencyKey { state.byKey[key, default: []].append(event) }
                }
            }
        }
    }

    deinit { task.cancel() }

    func events(run: RunID) -> [Envelope<RunEventBody>] { storage.state.withLock { $0.byRun[run] ?? [] } }
    func events(key: String) -> [Envelope<RunEventBody>] { storage.state.withLock { $0.byKey[key] ?? [] } }

    /// The terminal event of each run in `runs`, waiting until all have one.
    func waitForTerminal(_ runs: [RunID], timeout: Duration = .seconds(60)) async throws -> [RunID: Envelope<RunEventBody>] {
        try await until(timeout: timeout, "terminal events of \(runs.count) runs") {
            let found = storage.state.withLock { state in runs.compactMap { run in state.byRun[run]?.first { $0.body.kind.isTerminal } } }
            return found.count == runs.count ? Dictionary(found.map { ($0.run!, $0) }, uniquingKeysWith: { first, _ in first }) : nil
        }
    }

    /// The first event carrying `key` whose kind is in `kinds`.
    func waitForKey(_ key: String, kinds: Set<RunEventKind>, timeout: Duration = .seconds(30)) async throws -> Envelope<RunEventBody> {
        try await until(timeout: timeout, "an event for key \(key)") {
            storage.state.withLock { $0.byKey[key]?.first { kinds.contains($0.body.kind) } }
        }
    }
}

/// Waits until `probe` returns a value (checked every 20 ms), failing after `timeout`.
func until<T>(timeout: Duration, _ what: String, _ probe: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await probe() { return value }
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out after \(timeout) waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()

func echoJob(_ message: String, tenant: String? = nil) -> [UInt8] {
    AriaClient.jobMessage(agent: "demo", plan: ["steps": [["step_id": "echo", "skill": "echo", "params": ["message": .string(message)]]]], tenant: tenant)
}

func planJob(_ steps: [JSONValue]) -> [UInt8] {
    AriaClient.jobMessage(agent: "demo", plan: ["steps": .array(steps)])
}

func query(_ cluster: LocalCluster, _ sql: String, _ params: [String?] = []) async throws -> [PostgresRow] {
    let pool = try cluster.databasePool(logger: quietLogger, maxConnections: 1)
    defer { Task { await pool.close() } }
    return try await pool.withConnection { try $0.query(sql, params).rows }
}

func scalar(_ cluster: LocalCluster, _ sql: String, _ params: [String?] = []) async throws -> String? {
    try await query(cluster, sql, params).first?[0]
}

/// Waits until a connection reports a permission violation.
func permissionViolation(on connection: NATSConnection, timeout: Duration = .seconds(5), _ action: () throws -> Void) async throws -> NATSError {
    let events = connection.events
    try action()
    return try await withThrowingTaskGroup(of: NATSError?.self) { group in
        group.addTask {
            for await event in events {
                if case .error(let error) = event, error.code == .notPermitted { return error }
            }
            return nil
        }
        group.addTask { try await Task.sleep(for: timeout); return nil }
        defer { group.cancelAll() }
        guard let error = try await group.next() ?? nil else { throw TestFailure("no permission violation reported") }
        return error
    }
}

/// Whether every regular replica (index below 90; higher ones are started by tests to fail) still runs.
func servicesRunning(_ cluster: LocalCluster) -> Bool {
    cluster.allProcesses.filter { name, _ in (Int(name.split(separator: "-").last ?? "") ?? 0) < 90 }.values.allSatisfy(\.isRunning)
}

/// The attempts of a step as `attempt:status:worker`, in order.
func attemptHistory(_ cluster: LocalCluster, run: String, step: String) async throws -> [String] {
    try await query(cluster, "SELECT attempt, status, worker FROM step_attempts WHERE run_id = $1 AND step_id = $2 ORDER BY attempt", [run, step])
        .map { "\($0["attempt"] ?? "?"):\($0["status"] ?? "?"):\($0["worker"] ?? "?")" }
}

/// Waits until the run's (single) step has an attempt running.
func waitUntilStepRuns(_ cluster: LocalCluster, run: RunID) async throws {
    _ = try await until(timeout: .seconds(20), "the step to start") { () -> Bool? in
        try await scalar(cluster, "SELECT status FROM step_attempts WHERE run_id = $1", [run.description]) == "running" ? true : nil
    }
}

/// A cluster started on first use and shared by the tests of one suite (stopped by the test process's exit handler).
final class SharedCluster: Sendable {
    private let task = Mutex<Task<LocalCluster, any Error>?>(nil)
    private let start: @Sendable () async throws -> LocalCluster

    init(_ start: @escaping @Sendable () async throws -> LocalCluster) { self.start = start }

    func cluster() async throws -> LocalCluster {
        let start = start
        let task = task.withLock { current in
            if let current { return current }
            let task = Task { try await start() }
            current = task
            return task
        }
        return try await task.value
    }
}
