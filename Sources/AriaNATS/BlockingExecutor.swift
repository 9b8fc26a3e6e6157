import Foundation

/// Runs blocking nats.c calls on threads of their own, never on Swift's cooperative pool.
///
/// The cooperative pool has one thread per core (two here); a single blocking `js_Publish` or
/// `natsConnection_Flush` on it stalls every task in the process. A global concurrent dispatch queue
/// does not help (it is width-limited too), so this pool starts a new thread whenever no idle one is
/// waiting and lets idle threads end after a while.
final class BlockingPool: @unchecked Sendable {
    /// The pool every connection shares.
    static let shared = BlockingPool(name: "aria.nats.blocking")

    private let name: String
    private let idleTimeout: TimeInterval
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var jobs = FIFO<@Sendable () -> Void>()
    private var idle = 0
    private var threads = 0

    /// Creates a pool whose idle threads end after `idleTimeout` seconds.
    init(name: String, idleTimeout: TimeInterval = 30) {
        self.name = name
        self.idleTimeout = idleTimeout
    }

    /// Queues `job`; it runs on a pool thread as soon as one is free (a new one is started if none is).
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        let spawn = jobs.count > idle
        if spawn { threads += 1 } else { condition.signal() }
        condition.unlock()
        if spawn {
            let thread = Thread { [self] in workerLoop() }
            thread.name = name
            thread.start()
        }
    }

    /// Runs `body` on a pool thread and returns its result to the calling task.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            submit { continuation.resume(with: Result { try body() }) }
        }
    }

    private func workerLoop() {
        condition.lock()
        while true {
            // The job closure is released before relocking: its captures may hold the last references
            // to objects whose deinit submits to this pool.
            var job = jobs.popFirst()
            if job != nil {
                condition.unlock()
                job?()
                job = nil
                condition.lock()
                continue
            }
            idle += 1
            let signalled = condition.wait(until: Date(timeIntervalSinceNow: idleTimeout))
            idle -= 1
            if !signalled && jobs.isEmpty {
                threads -= 1
                condition.unlock()
                return
            }
        }
    }
}

/// One thread that runs jobs one after another: a pull subscription fetches on its own thread so a
/// long fetch never waits behind another subscription's.
final class DedicatedThread: @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var jobs = FIFO<@Sendable () -> Void>()
    private var stopped = false

    /// Starts the thread.
    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on this thread after the jobs queued before it.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            condition.lock()
            if stopped {
                condition.unlock()
                continuation.resume(throwing: NATSError(code: .connectionClosed, status: "Invalid Subscription", message: "the subscription was closed"))
                return
            }
            jobs.append { continuation.resume(with: Result { try body() }) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Lets the thread end once the queued jobs have run.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while true {
            var job = jobs.popFirst()
            if job != nil {
                // Released before relocking, as in `BlockingPool`.
                condition.unlock()
                job?()
                job = nil
                condition.lock()
                continue
            }
            if stopped {
                condition.unlock()
                return
            } else {
                condition.wait()
            }
        }
    }
}

/// A first-in first-out queue with amortised O(1) removal from the front.
struct FIFO<Element> {
    private var storage: [Element?] = []
    private var head = 0

    /// The number of queued elements.
    var count: Int { storage.count - head }
    /// Whether nothing is queued.
    var isEmpty: Bool { count == 0 }

    /// Adds `element` at the back.
    mutating func append(_ element: Element) { storage.append(element) }

    /// Removes and returns the front element, if any.
    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        storage[head] = nil
        head += 1
        if head >= 64 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

    /// Removes every element and returns them in order.
    mutating func removeAll() -> [Element] {
        let all = storage[head...].compactMap { $0 }
        storage = []
        head = 0
        return all
    }
}

extension FIFO: Sendable where Element: Sendable {}
