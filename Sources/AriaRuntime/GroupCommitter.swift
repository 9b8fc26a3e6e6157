/// Group commit: requests that arrive while a transaction is in flight are committed together in the next
/// one. Unloaded, every request commits at once (no added latency); under load, one transaction carries
/// many requests, cutting commits and round trips.
///
/// With nothing in flight, a request commits on its caller's task: no task is started for it, so an
/// unloaded commit costs no hop to another thread of the pool. Requests that arrive meanwhile queue, and a
/// lane starts for them once it ends.
///
/// At most `lanes` transactions run at once, each carrying at most `maxBatch` requests. The first lane
/// starts at once for any request; a further lane only once `spill` requests wait, so a burst does not
/// split into transactions of one request each while the first is in flight. When a batch of several
/// fails, each of its requests is retried alone, so one bad request cannot fail its neighbours.
public actor GroupCommitter<Request: Sendable, Response: Sendable> {
    private var queue: [(request: Request, continuation: CheckedContinuation<Response, any Error>)] = []
    private var running = 0
    private let lanes: Int
    private let maxBatch: Int
    private let spill: Int
    private let commit: @Sendable ([Request]) async throws -> [Response]

    /// Creates a committer; `commit` must return one response per request, in order. `spill` (default: an
    /// eighth of `maxBatch`) is how many requests must wait before a lane beyond the first starts.
    public init(lanes: Int = 2, maxBatch: Int = 64, spill: Int? = nil, commit: @escaping @Sendable ([Request]) async throws -> [Response]) {
        self.lanes = max(1, lanes)
        self.maxBatch = max(1, maxBatch)
        self.spill = max(1, spill ?? self.maxBatch / 8)
        self.commit = commit
    }

    /// Requests waiting for a lane (for metrics and tests).
    public var waiting: Int { queue.count }

    /// Commits `request` (with whatever else is waiting) and returns its response.
    public func submit(_ request: Request) async throws -> Response {
        if running == 0 && !Task.isCancelled {
            return try await commitAlone(request)
        }
        return try await withCheckedThrowingContinuation { continuation in
            queue.append((request, continuation))
            if running == 0 || (running < lanes && queue.count >= spill) {
                running += 1
                Task { await self.drain() }
            }
        }
    }

    /// Commits `request` on the caller's task as the only lane, then starts a lane for what queued meanwhile.
    private func commitAlone(_ request: Request) async throws -> Response {
        running += 1
        let result: Result<Response, any Error>
        do {
            let responses = try await commit([request])
            if responses.count == 1, let response = responses.first {
                result = .success(response)
            } else {
                result = .failure(GroupCommitError(message: "commit returned \(responses.count) responses for 1 request"))
            }
        } catch {
            result = .failure(error)
        }
        running -= 1
        if !queue.isEmpty && running == 0 {
            running += 1
            Task { await self.drain() }
        }
        return try result.get()
    }

    private func drain() async {
        while !queue.isEmpty {
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            await run(batch)
        }
        running -= 1
    }

    private func run(_ batch: [(request: Request, continuation: CheckedContinuation<Response, any Error>)]) async {
        do {
            let responses = try await commit(batch.map(\.request))
            guard responses.count == batch.count else {
                throw GroupCommitError(message: "commit returned \(responses.count) responses for \(batch.count) requests")
            }
            for (item, response) in zip(batch, responses) { item.continuation.resume(returning: response) }
        } catch {
            guard batch.count > 1 else {
                batch[0].continuation.resume(throwing: error)
                return
            }
            for item in batch {
                do {
                    let responses = try await commit([item.request])
                    guard let response = responses.first else { throw GroupCommitError(message: "commit returned no response") }
                    item.continuation.resume(returning: response)
                } catch {
                    item.continuation.resume(throwing: error)
                }
            }
        }
    }
}

/// A commit closure broke its contract.
public struct GroupCommitError: Error, CustomStringConvertible {
    /// What went wrong.
    public let message: String
    /// The message.
    public var description: String { message }
}
