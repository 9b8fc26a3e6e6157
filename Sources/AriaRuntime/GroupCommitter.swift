/// Group commit: requests that arrive while a transaction is in flight are committed together in the next
/// one. Unloaded, every request commits at once (no added latency); under load, one transaction carries
/// many requests, cutting commits and round trips.
///
/// At most `lanes` transactions run at once, each carrying at most `maxBatch` requests. When a batch of
/// several fails, each of its requests is retried alone, so one bad request cannot fail its neighbours.
public actor GroupCommitter<Request: Sendable, Response: Sendable> {
    private var queue: [(request: Request, continuation: CheckedContinuation<Response, any Error>)] = []
    private var running = 0
    private let lanes: Int
    private let maxBatch: Int
    private let commit: @Sendable ([Request]) async throws -> [Response]

    /// Creates a committer; `commit` must return one response per request, in order.
    public init(lanes: Int = 2, maxBatch: Int = 64, commit: @escaping @Sendable ([Request]) async throws -> [Response]) {
        self.lanes = max(1, lanes)
        self.maxBatch = max(1, maxBatch)
        self.commit = commit
    }

    /// Commits `request` (with whatever else is waiting) and returns its response.
    public func submit(_ request: Request) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            queue.append((request, continuation))
            if running < lanes {
                running += 1
                Task { await self.drain() }
            }
        }
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
