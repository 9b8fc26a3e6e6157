import Foundation

/// The threads a client's transfers block on, each owning one curl easy handle.
///
/// `curl_easy_perform` blocks for the whole exchange, so it must never run on Swift's cooperative pool
/// (one thread per core: two blocked transfers would stall every task in the process). Threads start
/// on demand up to `limit`, keep their handle (and so its open connections) between requests, and end
/// after `idleTimeout` without work. Handles belong to one client, so a connection opened under one
/// client's policy is never reused under another's.
final class TransferThreads: @unchecked Sendable {
    /// What a queued job is given: the thread's handle, or why there is none.
    enum Slot {
        /// The handle of the thread running the job.
        case handle(EasyHandle)
        /// The job cannot run (the client shut down, or curl could not create a handle).
        case unavailable(HTTPError)
    }

    /// A queued unit of work.
    typealias Job = @Sendable (Slot) -> Void

    private let name: String
    private let limit: Int
    private let idleTimeout: TimeInterval
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var head = 0
    private var idle = 0
    private var threads = 0
    private var stopped = false

    /// Creates a pool of at most `limit` threads named `name`.
    init(name: String, limit: Int, idleTimeout: TimeInterval = 60) {
        self.name = name
        self.limit = max(1, limit)
        self.idleTimeout = idleTimeout
    }

    /// The number of threads currently alive.
    var threadCount: Int { condition.withLock { threads } }

    /// Queues `job`; it runs on a pool thread as soon as one is free. After `shutdown` it runs at once
    /// with `.unavailable`.
    func submit(_ job: @escaping Job) {
        condition.lock()
        guard !stopped else {
            condition.unlock()
            job(.unavailable(HTTPError(code: .shutdown, message: "the HTTP client was shut down")))
            return
        }
        jobs.append(job)
        let waiting = jobs.count - head
        let spawn = waiting > idle && threads < limit
        if spawn { threads += 1 } else { condition.signal() }
        condition.unlock()
        if spawn {
            let thread = Thread { [self] in workerLoop() }
            thread.name = name
            thread.start()
        }
    }

    /// Stops taking jobs, fails the queued ones with `.shutdown`, and lets the threads end once their
    /// current transfer finishes (closing their connections).
    func shutdown() {
        condition.lock()
        stopped = true
        let pending = Array(jobs[head...])
        jobs = []
        head = 0
        condition.broadcast()
        condition.unlock()
        for job in pending {
            job(.unavailable(HTTPError(code: .shutdown, message: "the HTTP client was shut down before the request ran")))
        }
    }

    private func popJob() -> Job? {
        guard head < jobs.count else { return nil }
        let job = jobs[head]
        head += 1
        if head >= 64 && head * 2 >= jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }

    private func workerLoop() {
        // Created on this thread and destroyed when it ends: the handle never changes hands.
        let handle = EasyHandle()
        condition.lock()
        while true {
            if var job = popJob() {
                condition.unlock()
                if let handle {
                    job(.handle(handle))
                } else {
                    job(.unavailable(HTTPError(code: .other, message: "libcurl could not create an easy handle")))
                }
                // Released before relocking: its captures may be the last references to the caller's state.
                job = { _ in }
                condition.lock()
                continue
            }
            if stopped { break }
            idle += 1
            let signalled = condition.wait(until: Date(timeIntervalSinceNow: idleTimeout))
            idle -= 1
            if !signalled && head >= jobs.count { break }
        }
        threads -= 1
        condition.unlock()
    }
}
