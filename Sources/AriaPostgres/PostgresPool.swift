public import Logging
import Dispatch
import Synchronization

/// The isolation level a pooled transaction runs at.
public enum PostgresIsolation: String, Sendable {
    /// Each statement sees data committed before it began (Postgres's default).
    case readCommitted = "READ COMMITTED"
    /// The whole transaction sees one snapshot; concurrent updates of the same row fail with 40001.
    case repeatableRead = "REPEATABLE READ"
    /// As if transactions ran one after another; conflicting ones fail with 40001 and must be retried.
    case serializable = "SERIALIZABLE"
}

/// A snapshot of a pool's connections.
public struct PostgresPoolStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Connections currently open.
    public var open: Int
    /// Open connections that nobody has checked out.
    public var idle: Int
    /// Checkouts in progress (a checkout may still be opening its connection).
    public var inUse: Int
    /// Callers waiting for a connection to become free.
    public var waiting: Int
    /// Broken connections closed so far, to be replaced by fresh ones on their next checkout.
    public var replaced: Int

    /// Creates a snapshot.
    public init(open: Int, idle: Int, inUse: Int, waiting: Int, replaced: Int) {
        self.open = open
        self.idle = idle
        self.inUse = inUse
        self.waiting = waiting
        self.replaced = replaced
    }

    /// All counters on one line.
    public var description: String {
        "open=\(open) idle=\(idle) inUse=\(inUse) waiting=\(waiting) replaced=\(replaced)"
    }
}

/// A bounded set of Postgres connections, each driven by its own serial dispatch queue so that libpq's
/// blocking calls never occupy Swift's cooperative thread pool.
///
/// Connections are opened lazily. Waiting for a free connection suspends the task without holding a
/// thread. A connection found broken (by a cheap non-blocking probe at checkout, or because it is
/// unhealthy after use) is closed and replaced by a fresh one, with an empty prepared-statement cache.
public final class PostgresPool: Sendable {
    private let config: PostgresConfig
    private let checkoutTimeout: Duration
    private let logger: Logger
    private let slots: [ConnectionSlot]
    private let state: Mutex<PoolState>
    /// Fires checkout and close timeouts. Its own queue: the global queues may be busy with other
    /// code's blocking work, which would make timeouts late.
    private let timerQueue: DispatchQueue

    /// Creates a pool; no connection is opened until the first checkout.
    /// - Parameters:
    ///   - maxConnections: the most connections open at once (at least 1).
    ///   - checkoutTimeout: how long a caller waits for a free connection before `.poolTimeout`.
    public init(config: PostgresConfig, maxConnections: Int = 8, checkoutTimeout: Duration = .seconds(5), logger: Logger) {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.config = config
        self.checkoutTimeout = checkoutTimeout
        var logger = logger
        logger[metadataKey: "postgres.application"] = "\(config.applicationName)"
        self.logger = logger
        self.slots = (0..<maxConnections).map {
            ConnectionSlot(index: $0, queue: DispatchQueue(label: "aria.postgres.\(config.applicationName).\($0)"))
        }
        self.state = Mutex(PoolState(slotCount: maxConnections))
        self.timerQueue = DispatchQueue(label: "aria.postgres.\(config.applicationName).timers")
    }

    /// Checks out a connection (waiting up to the checkout timeout, else `.poolTimeout`), runs `body` on
    /// that connection's own serial queue, and returns the connection to the pool.
    ///
    /// A connection that is broken afterwards, or whose `body` threw a connection-loss error, is closed and
    /// replaced on its next checkout; one left inside a transaction is rolled back. Cancelling the calling
    /// task cancels the wait for a connection, not a statement already running.
    /// - Throws: `PostgresError` (`.poolTimeout`, `.poolClosed`, `.connectionFailed`, …), `CancellationError`,
    ///   or whatever `body` throws.
    ///
    /// Statements `body` queued (``PostgresConnection/queue(_:_:)``) and left unsent are sent before the
    /// connection goes back to the pool.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await perform { connection in
            let value = try body(connection)
            if connection.hasQueuedStatements { _ = try connection.pipeline([]) }
            return value
        }
    }

    /// Runs `body` inside `BEGIN ISOLATION LEVEL …` / `COMMIT` on one connection, in one hop to its queue,
    /// rolling back when anything throws.
    ///
    /// The whole transaction is repeated, up to `maxAttempts` times in all with a short randomized backoff,
    /// when it fails with a serialization failure or a deadlock (`isRetryableTransaction`), or with a
    /// connection loss before COMMIT was sent (then on a fresh connection). `body` may therefore run more
    /// than once: keep side effects other than SQL out of it. BEGIN is sent with the first statement, and
    /// writes `body` queued (``PostgresConnection/queue(_:_:)``) with the COMMIT, each in one round trip;
    /// a connection lost while those writes and the COMMIT are in flight counts as lost during COMMIT.
    /// A connection lost during COMMIT throws
    /// `.commitOutcomeUnknown` and is never retried. If `body` swallows an SQL error, COMMIT is not attempted:
    /// the transaction is rolled back and SQLSTATE 25P02 (in_failed_sql_transaction) is thrown.
    public func transaction<T: Sendable>(
        isolation: PostgresIsolation = .readCommitted, maxAttempts: Int = 5,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            let failure: PostgresError
            do {
                return try await perform { connection in try Self.runTransaction(on: connection, isolation, body) }
            } catch let error as TransactionFailure {
                guard error.retryable, attempt < maxAttempts else { throw error.underlying }
                failure = error.underlying
            } catch let error as PostgresError where error.isConnectionLoss && attempt < maxAttempts {
                // Checking out or connecting failed: nothing of the transaction was sent yet.
                failure = error
            }
            let delay = Self.backoff(attempt: attempt, connectionLoss: failure.isConnectionLoss)
            logger.debug(
                "retrying Postgres transaction",
                metadata: [
                    "attempt": "\(attempt)", "postgres.sqlstate": "\(failure.sqlState ?? "-")",
                    "postgres.error": "\(failure.code)", "delay": "\(delay)",
                ])
            try await Task.sleep(for: delay)
            attempt += 1
        }
    }

    /// Closes the pool: pending and later checkouts throw `.poolClosed`; waits up to 10 seconds for
    /// checked-out connections to come back, then closes the idle ones (stragglers close when they return).
    public func close() async {
        let waiters = state.withLock { state -> [Waiter] in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(throwing: Self.closedError) }

        let drainID = state.withLock { $0.makeID() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let drained = state.withLock { state -> Bool in
                if state.inUse == 0 { return true }
                state.drainWaiters.append(DrainWaiter(id: drainID, continuation: continuation))
                return false
            }
            if drained {
                continuation.resume()
                return
            }
            timerQueue.asyncAfter(deadline: .now() + .seconds(10)) {
                let waiter = self.state.withLock { state -> DrainWaiter? in
                    guard let index = state.drainWaiters.firstIndex(where: { $0.id == drainID }) else { return nil }
                    return state.drainWaiters.remove(at: index)
                }
                waiter?.continuation.resume()
            }
        }

        let idle = state.withLock { $0.idle }
        for index in idle {
            let slot = slots[index]
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                slot.queue.async {
                    self.closeConnection(of: slot, broken: false)
                    continuation.resume()
                }
            }
        }
        logger.debug("closed Postgres pool")
    }

    /// Current counts of open, idle, in-use and replaced connections and of waiting callers.
    public var statistics: PostgresPoolStatistics {
        state.withLock { state in
            PostgresPoolStatistics(
                open: state.isOpen.count(where: { $0 }),
                idle: state.idle.count(where: { state.isOpen[$0] }),
                inUse: state.inUse,
                waiting: state.waiters.count,
                replaced: state.replaced)
        }
    }

    // MARK: - Checkout and return

    private static let closedError = PostgresError(code: .poolClosed, message: "the connection pool is closed")

    /// Checks out a slot, runs `work` on its queue with a ready connection, settles and returns the slot.
    private func perform<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let slot = try await checkout()
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async {
                let result: Result<T, any Error>
                do {
                    let connection = try self.readyConnection(of: slot)
                    result = Result { try work(connection) }
                    self.settle(slot, connection, after: result)
                } catch {
                    result = .failure(error)
                }
                self.checkin(slot)
                continuation.resume(with: result)
            }
        }
    }

    private func checkout() async throws -> ConnectionSlot {
        let id = state.withLock { $0.makeID() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ConnectionSlot, any Error>) in
                let outcome = state.withLock { state -> CheckoutOutcome in
                    if state.closed { return .failed(Self.closedError) }
                    // Checked under the lock: a cancellation either shows here or finds the waiter below.
                    if Task.isCancelled { return .failed(CancellationError()) }
                    if let index = state.takeIdleSlot() {
                        state.inUse += 1
                        return .ready(index)
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return .waiting
                }
                switch outcome {
                case .ready(let index):
                    continuation.resume(returning: slots[index])
                case .failed(let error):
                    continuation.resume(throwing: error)
                case .waiting:
                    scheduleCheckoutTimeout(for: id)
                }
            }
        } onCancel: {
            removeWaiter(id)?.continuation.resume(throwing: CancellationError())
        }
    }

    private func scheduleCheckoutTimeout(for id: UInt64) {
        let (seconds, attoseconds) = checkoutTimeout.components
        let nanoseconds = max(0, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        timerQueue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak self] in
            guard let self, let waiter = self.removeWaiter(id) else { return }
            self.logger.debug("Postgres checkout timed out", metadata: ["timeout": "\(self.checkoutTimeout)"])
            waiter.continuation.resume(
                throwing: PostgresError(
                    code: .poolTimeout, message: "no pooled connection became free within \(self.checkoutTimeout)"))
        }
    }

    private func removeWaiter(_ id: UInt64) -> Waiter? {
        state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
    }

    /// Hands the slot to the longest waiter, or makes it idle. Runs on the slot's queue.
    private func checkin(_ slot: ConnectionSlot) {
        let (waiter, drained) = state.withLock { state -> (Waiter?, [DrainWaiter]) in
            if !state.closed, !state.waiters.isEmpty {
                return (state.waiters.removeFirst(), [])
            }
            state.inUse -= 1
            state.idle.append(slot.index)
            guard state.inUse == 0 else { return (nil, []) }
            defer { state.drainWaiters.removeAll() }
            return (nil, state.drainWaiters)
        }
        waiter?.continuation.resume(returning: slot)
        for drain in drained { drain.continuation.resume() }
    }

    // MARK: - Connection lifecycle (on the slot's queue)

    /// The slot's connection, probed for liveness, or a newly opened one.
    private func readyConnection(of slot: ConnectionSlot) throws -> PostgresConnection {
        if let connection = slot.connection {
            if connection.probeAlive() { return connection }
            logger.notice("replacing a Postgres connection that broke while idle", metadata: ["postgres.backend_pid": "\(connection.backendPID)"])
            closeConnection(of: slot, broken: true)
        }
        let connection = try PostgresConnection.connect(config)
        slot.connection = connection
        state.withLock { $0.isOpen[slot.index] = true }
        logger.debug("opened Postgres connection", metadata: ["postgres.backend_pid": "\(connection.backendPID)"])
        return connection
    }

    /// After use: rolls back a transaction left open, closes a broken connection, or one of a closed pool.
    private func settle<T>(_ slot: ConnectionSlot, _ connection: PostgresConnection, after result: Result<T, any Error>) {
        // Statements queued by a body that then threw belong to nobody now.
        connection.discardQueued()
        var broken = false
        if case .failure(let error) = result {
            let postgresError = (error as? TransactionFailure)?.underlying ?? (error as? PostgresError)
            if let postgresError, postgresError.isConnectionLoss || postgresError.code == .commitOutcomeUnknown {
                broken = true
            }
        }
        if !broken {
            switch connection.transactionState {
            case .idle:
                break
            case .inTransaction, .failed:
                logger.warning("a pooled connection came back inside a transaction; rolling it back")
                do { try connection.execute("ROLLBACK") } catch { broken = true }
            case .unknown:
                broken = true
            }
            if !connection.isHealthy { broken = true }
        }
        if broken {
            logger.notice("replacing a broken Postgres connection", metadata: ["postgres.backend_pid": "\(connection.backendPID)"])
            closeConnection(of: slot, broken: true)
        } else if state.withLock({ $0.closed }) {
            closeConnection(of: slot, broken: false)
        }
    }

    private func closeConnection(of slot: ConnectionSlot, broken: Bool) {
        guard let connection = slot.connection else { return }
        connection.close()
        slot.connection = nil
        state.withLock { state in
            state.isOpen[slot.index] = false
            if broken { state.replaced += 1 }
        }
    }

    // MARK: - Transactions

    /// A transaction attempt's failure, with whether repeating the transaction is safe and may help.
    private struct TransactionFailure: Error {
        let underlying: PostgresError
        let retryable: Bool
    }

    /// BEGIN, body, COMMIT on the connection's queue; classifies failures for `transaction`.
    private static func runTransaction<T>(
        on connection: PostgresConnection, _ isolation: PostgresIsolation,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        // BEGIN goes out with the transaction's first statement, in the same round trip.
        connection.queue("BEGIN ISOLATION LEVEL \(isolation.rawValue)")

        let value: T
        do {
            value = try body(connection)
        } catch {
            rollback(connection)
            if let error = error as? PostgresError, error.isRetryableTransaction || error.isConnectionLoss {
                throw TransactionFailure(underlying: error, retryable: true)
            }
            throw error
        }

        if connection.transactionState == .failed {
            rollback(connection)
            throw PostgresError(
                code: .queryFailed,
                message: "a statement failed inside the transaction and the error was not propagated; rolled back",
                sqlState: "25P02")
        }

        let tag: String
        do {
            // Statements still queued (writes) go out with the COMMIT, in one round trip.
            tag = try connection.commit()
        } catch let error as PostgresError {
            // A queued write failed: the server skipped the COMMIT and holds a failed transaction.
            rollback(connection)
            if error.isConnectionLoss {
                throw PostgresError(
                    code: .commitOutcomeUnknown,
                    message: "the connection broke during COMMIT; the transaction may or may not have committed (\(error.message))",
                    sqlState: error.sqlState, query: "COMMIT")
            }
            // The server answered: the transaction is over and did not commit.
            throw TransactionFailure(underlying: error, retryable: error.isRetryableTransaction)
        }
        let committed = connection.afterCommit
        connection.afterCommit = nil
        guard tag == "COMMIT" else {
            throw PostgresError(code: .queryFailed, message: "COMMIT answered \(tag): the transaction was rolled back", sqlState: "25P02")
        }
        committed?()
        return value
    }

    private static func rollback(_ connection: PostgresConnection) {
        connection.discardQueued()
        let state = connection.transactionState
        guard state == .inTransaction || state == .failed else { return }
        try? connection.execute("ROLLBACK")
    }

    /// Full-jitter exponential backoff: short for conflicts, longer when the server may be restarting.
    private static func backoff(attempt: Int, connectionLoss: Bool) -> Duration {
        let base = connectionLoss ? 0.05 : 0.005
        let cap = connectionLoss ? 1.0 : 0.1
        let ceiling = min(cap, base * Double(1 << min(attempt - 1, 20)))
        return .milliseconds(Int(Double.random(in: ceiling / 2...ceiling) * 1000) + 1)
    }
}

/// A place for one connection: its serial queue and, while open, the connection.
private final class ConnectionSlot: @unchecked Sendable {
    let index: Int
    /// The only queue that touches `connection`.
    let queue: DispatchQueue
    /// The open connection, if any; read and written only on `queue`.
    var connection: PostgresConnection?

    init(index: Int, queue: DispatchQueue) {
        self.index = index
        self.queue = queue
    }
}

private struct Waiter {
    let id: UInt64
    let continuation: CheckedContinuation<ConnectionSlot, any Error>
}

private struct DrainWaiter {
    let id: UInt64
    let continuation: CheckedContinuation<Void, Never>
}

private enum CheckoutOutcome {
    case ready(Int)
    case failed(any Error)
    case waiting
}

/// The pool's bookkeeping, guarded by its mutex.
private struct PoolState {
    /// Slots nobody has checked out, by index.
    var idle: [Int]
    /// Which slots hold an open connection.
    var isOpen: [Bool]
    var inUse = 0
    /// Callers waiting for a slot, oldest first.
    var waiters: [Waiter] = []
    var drainWaiters: [DrainWaiter] = []
    var closed = false
    var replaced = 0
    private var lastID: UInt64 = 0

    init(slotCount: Int) {
        idle = Array((0..<slotCount).reversed())
        isOpen = Array(repeating: false, count: slotCount)
    }

    mutating func makeID() -> UInt64 {
        lastID &+= 1
        return lastID
    }

    /// Takes an idle slot, preferring the most recently used one with an open connection.
    mutating func takeIdleSlot() -> Int? {
        if let position = idle.lastIndex(where: { isOpen[$0] }) { return idle.remove(at: position) }
        return idle.popLast()
    }
}
