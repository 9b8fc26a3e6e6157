import AriaPostgres
import AriaTestSupport
import Dispatch
import Logging
import Synchronization

/// A pool on a fresh database of the shared test server.
func makePool(
    _ prefix: String, maxConnections: Int = 4, checkoutTimeout: Duration = .seconds(5)
) async throws -> PostgresPool {
    let config = try await TestPostgres.freshDatabase(prefix: prefix)
    return PostgresPool(config: config, maxConnections: maxConnections, checkoutTimeout: checkoutTimeout, logger: testLogger)
}

/// A logger that shows only warnings and worse.
let testLogger: Logger = {
    var logger = Logger(label: "aria.postgres.tests")
    logger.logLevel = .warning
    return logger
}()

/// Runs blocking work on a queue of its own, so tests never block the cooperative pool (nor the global
/// queues, whose blocked threads delay `Task.sleep` timers).
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue(label: "aria.postgres.tests.blocking").async { continuation.resume(with: Result { try work() }) }
    }
}

/// A meeting point for two blocking transaction bodies: each waits (bounded) until the other has arrived.
final class Rendezvous: Sendable {
    private let arrivals = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]

    /// Marks `party` (0 or 1) as arrived and waits up to 10 s for the other; false on timeout.
    @discardableResult
    func arrive(_ party: Int) -> Bool {
        arrivals[party].signal()
        return arrivals[1 - party].wait(timeout: .now() + .seconds(10)) == .success
    }
}

/// A meeting point for `parties` blocking closures: each waits (bounded) until all have arrived.
final class Barrier: Sendable {
    private let parties: Int
    private let arrived = Mutex(0)
    private let open = DispatchSemaphore(value: 0)

    /// Creates a barrier for `parties` closures.
    init(parties: Int) { self.parties = parties }

    /// Arrives and waits up to 10 s for the others; false on timeout.
    @discardableResult
    func arrive() -> Bool {
        let last = arrived.withLock { count in
            count += 1
            return count == parties
        }
        if last {
            for _ in 0..<parties { open.signal() }
        }
        return open.wait(timeout: .now() + .seconds(10)) == .success
    }
}

/// A thread-safe counter per key.
final class Counters: Sendable {
    private let values = Mutex<[Int: Int]>([:])

    /// Increments `key` and returns the new value.
    func increment(_ key: Int) -> Int {
        values.withLock { values in
            values[key, default: 0] += 1
            return values[key]!
        }
    }

    /// The sum over all keys.
    var total: Int { values.withLock { $0.values.reduce(0, +) } }
}

/// An error thrown on purpose by a test.
struct ExpectedFailure: Error {}

/// The `PostgresError` that `work` throws, nil if it succeeds (for use inside connection closures, where
/// `#expect` has no test to report to).
func postgresError(_ work: () throws -> Void) -> PostgresError? {
    do {
        try work()
        return nil
    } catch {
        return error as? PostgresError ?? PostgresError(code: .init(rawValue: "not_a_postgres_error"), message: "\(error)")
    }
}

/// Waits until `condition` holds, checking every millisecond; fails after `timeout`.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw ExpectedFailure() }
        try await Task.sleep(for: .milliseconds(1))
    }
}
