import AriaPostgres
import Dispatch
import Foundation

/// Connections of a pool checked out and held by tasks until ``release()``: a pool with none idle.
public final class HeldConnections: Sendable {
    private let release: DispatchSemaphore
    private let holders: [Task<Void, any Error>]

    /// Checks out `count` connections of `pool` and returns once all are held.
    public init(_ pool: PostgresPool, count: Int = 1) async {
        let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
        let release = DispatchSemaphore(value: 0)
        self.release = release
        holders = (0..<count).map { _ in
            Task {
                try await pool.withConnection { _ in
                    enteredContinuation.yield()
                    _ = release.wait(timeout: .now() + .seconds(30))
                }
            }
        }
        var iterator = entered.makeAsyncIterator()
        for _ in 0..<count { _ = await iterator.next() }
    }

    /// Gives the connections back and waits until every holder returned.
    public func release() async throws {
        for _ in holders { release.signal() }
        for holder in holders { try await holder.value }
    }
}

/// Runs `body` on a new thread of its own (not Swift's cooperative pool), as a pull subscription's fetch
/// thread runs blocking work, and returns its result.
public func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
