import AriaRuntime
import Synchronization
import Testing

/// How `GroupCommitter` forms batches: no I/O, a commit closure that records its batches and can be held.
@Suite struct GroupCommitterTests {
    /// A commit closure's record, with a gate that holds the first commit until opened.
    final class Recorder: Sendable {
        private let state = Mutex<(batches: [[Int]], held: CheckedContinuation<Void, Never>?, holdFirst: Bool, started: [CheckedContinuation<Void, Never>])>(([], nil, true, []))

        /// The batches committed so far, in order of their start.
        var batches: [[Int]] { state.withLock { $0.batches } }

        /// Records `batch`; the first batch waits until ``release()``.
        func commit(_ batch: [Int]) async -> [Int] {
            let hold = state.withLock { state -> Bool in
                state.batches.append(batch)
                for waiter in state.started { waiter.resume() }
                state.started.removeAll()
                defer { state.holdFirst = false }
                return state.holdFirst
            }
            if hold {
                await withCheckedContinuation { continuation in
                    state.withLock { $0.held = continuation }
                }
            }
            return batch.map { $0 * 10 }
        }

        /// Waits until `count` batches have started.
        func waitForBatches(_ count: Int) async {
            while state.withLock({ $0.batches.count }) < count {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { state -> Bool in
                        if state.batches.count >= count { return true }
                        state.started.append(continuation)
                        return false
                    }
                    if ready { continuation.resume() }
                }
            }
        }

        /// Lets the held first commit finish (it is held once its batch has started and it suspended).
        func release() async {
            await waitForBatches(1)
            while true {
                let held = state.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.held = nil }
                    return state.held
                }
                if let held {
                    held.resume()
                    return
                }
                // The first commit recorded its batch and is about to suspend.
                await Task.yield()
            }
        }
    }

    /// While the first commit is in flight, a few more requests wait for it and then go together.
    @Test func aFewRequestsWaitForTheFirstLaneAndGoTogether() async throws {
        let recorder = Recorder()
        let committer = GroupCommitter<Int, Int>(lanes: 2, maxBatch: 64) { await recorder.commit($0) }
        async let first = committer.submit(1)
        await recorder.waitForBatches(1)
        async let second = committer.submit(2)
        async let third = committer.submit(3)
        async let fourth = committer.submit(4)
        // The three queue behind the first commit (they cannot start a lane: fewer than 8 wait).
        while await committer.waiting < 3 { await Task.yield() }
        #expect(recorder.batches == [[1]])
        await recorder.release()
        let results = try await [first, second, third, fourth]
        #expect(results == [10, 20, 30, 40])
        #expect(recorder.batches.count == 2)
        #expect(recorder.batches.last?.sorted() == [2, 3, 4])
    }

    /// A deep queue starts the second lane while the first is still in flight.
    @Test func aDeepQueueStartsTheSecondLane() async throws {
        let recorder = Recorder()
        let committer = GroupCommitter<Int, Int>(lanes: 2, maxBatch: 64, spill: 4) { await recorder.commit($0) }
        let first = Task { try await committer.submit(0) }
        await recorder.waitForBatches(1)
        let others = (1...4).map { value in Task { try await committer.submit(value) } }
        // The second lane commits the four while the first commit is still held.
        for task in others { _ = try await task.value }
        #expect(recorder.batches.count == 2)
        #expect(recorder.batches[1].sorted() == [1, 2, 3, 4])
        await recorder.release()
        #expect(try await first.value == 0)
    }
}

/// The unloaded path: a lone request commits on its caller's task, and its failure reaches the caller.
@Suite struct GroupCommitterAloneTests {
    /// The task a commit ran on, seen from inside the commit closure.
    final class TaskRecorder: Sendable {
        let tasks = Mutex<[Int]>([])
        func record() { tasks.withLock { $0.append(withUnsafeCurrentTask { $0?.hashValue ?? 0 }) } }
    }

    @Test func aLoneRequestCommitsOnItsCallersTask() async throws {
        let recorder = TaskRecorder()
        let committer = GroupCommitter<Int, Int>(lanes: 2, maxBatch: 64) { batch in
            recorder.record()
            return batch.map { $0 + 1 }
        }
        let caller = withUnsafeCurrentTask { $0?.hashValue ?? -1 }
        #expect(try await committer.submit(1) == 2)
        #expect(try await committer.submit(5) == 6)
        #expect(recorder.tasks.withLock { $0 } == [caller, caller])
    }

    struct Refused: Error, Equatable {}

    @Test func aLoneRequestsFailureReachesItsCaller() async throws {
        let committer = GroupCommitter<Int, Int>(lanes: 2, maxBatch: 64) { _ in throw Refused() }
        await #expect(throws: Refused.self) { try await committer.submit(1) }
        let short = GroupCommitter<Int, Int>(lanes: 2, maxBatch: 64) { _ in [] }
        await #expect(throws: GroupCommitError.self) { try await short.submit(1) }
    }
}
