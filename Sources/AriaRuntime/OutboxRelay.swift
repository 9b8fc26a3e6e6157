import AriaCore
import AriaNATS
import AriaStore
import Logging
import ServiceLifecycle
import Synchronization

/// Publishes committed outbox messages on the bus, then deletes them.
///
/// The writing service hands its freshly committed messages over with ``publish(_:)`` (the fast path, no
/// polling). A sweeper republishes this service's rows that were left behind (a crash between commit and
/// publish, a bus outage); duplicates are dropped by JetStream's `Nats-Msg-Id` window and by idempotent
/// handlers.
public final class OutboxRelay: Service, Sendable {
    private let store: RunStore
    private let jetStream: JetStreamContext
    private let logger: Logger
    private let sweepInterval: AriaDuration
    private let retryAfter: AriaDuration
    private let queue = Mutex<[OutboxMessage]>([])
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let published = Atomic<Int>(0)
    /// Messages published ahead of their commit (``publishAhead(_:)``), by id, with when they went.
    private let sentAhead = Mutex<[String: ContinuousClock.Instant]>([:])
    /// Rows whose every message was acknowledged, deleted together once `deleteDelay` has passed.
    private let acknowledgedRows = Mutex<[Int64]>([])
    private let deleteDelay: AriaDuration
    private let deleteWakeups: AsyncStream<Void>
    private let deleteWake: AsyncStream<Void>.Continuation

    /// Creates a relay for `store`'s origin. Published rows are deleted in batches, `deleteDelay` after the
    /// first of them was acknowledged: one delete transaction for many publications (a row left by a crash
    /// meanwhile is republished by a sweeper and dropped as a duplicate).
    public init(store: RunStore, jetStream: JetStreamContext, sweepInterval: AriaDuration, retryAfter: AriaDuration = AriaDuration(milliseconds: 5_000),
                deleteDelay: AriaDuration = AriaDuration(milliseconds: 50), logger: Logger) {
        self.store = store
        self.jetStream = jetStream
        self.sweepInterval = sweepInterval
        self.retryAfter = retryAfter
        self.deleteDelay = deleteDelay
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (deleteWakeups, deleteWake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Messages published since start (for tests and benchmarks).
    public var publishedCount: Int { published.load(ordering: .relaxed) }

    /// Queues committed messages for publication (returns at once).
    public func publish(_ messages: [OutboxMessage]) {
        guard !messages.isEmpty else { return }
        queue.withLock { $0.append(contentsOf: messages) }
        wake.yield()
    }

    /// Publishes messages of a transaction whose COMMIT is still on its way (``DispatchAhead``), at once, on
    /// the calling thread, without waiting for the bus. When the committed rows come to ``publish(_:)``,
    /// such a message is not published again: its acknowledgement is awaited with the rest of the batch,
    /// and its row deleted, or kept for the sweeper if the bus refused it. One that could not be sent here
    /// goes out then as usual, so a failure here only costs the head start.
    public func publishAhead(_ messages: [OutboxMessage]) {
        send(ahead: messages)
    }

    /// Publishes `messages` without waiting for the bus and remembers which went out.
    private func send(ahead messages: [OutboxMessage]) {
        guard !messages.isEmpty else { return }
        var sent: [String] = []
        for message in messages {
            do {
                try publishAsync(message)
                sent.append(message.messageID)
            } catch {
                logger.debug("publishing ahead of the commit failed; it goes out after the commit", metadata: ["subject": "\(message.subject)", "error": "\(error)"])
            }
        }
        let now = ContinuousClock.now
        sentAhead.withLock { ahead in
            for id in sent { ahead[id] = now }
            // The messages of transactions that rolled back never come to `publish(_:)`: forget them.
            if ahead.count > 1_000 { ahead = ahead.filter { now - $0.value < .seconds(120) } }
        }
    }

    /// Publishes committed messages at once, on the calling thread (the committing connection's: no hop to
    /// the relay's task), then queues them like ``publish(_:)``, so their acknowledgements are awaited and
    /// their rows deleted; the relay's task does not publish them again. One already sent ahead of the
    /// commit (``publishAhead(_:)``) is not sent again; one that could not be sent here is published by the
    /// relay's task as usual.
    ///
    /// When none went ahead, nothing waits for the acknowledgements: each comes back to a callback
    /// (``JetStreamContext/publishAsync(_:_:headers:messageID:onOutcome:)``), and a row is queued for
    /// deletion once every message it carries was acknowledged. The relay's task never sees them, so a
    /// transaction's publication costs no wake-up of a task or of a thread waiting for the bus.
    public func publishCommitted(_ messages: [OutboxMessage]) {
        guard !messages.isEmpty else { return }
        let notYetSent = sentAhead.withLock { ahead in messages.filter { ahead[$0.messageID] == nil } }
        guard notYetSent.count == messages.count else {
            send(ahead: notYetSent)
            publish(messages)
            return
        }
        let rows = RowAcknowledgements(messages)
        var unsent = Set<Int64>()
        for message in messages {
            do {
                try publishAsync(message) { [self] outcome in settle(message, outcome, rows: rows) }
            } catch {
                unsent.insert(message.id)
                logger.debug("publishing after the commit failed; the relay's task publishes it", metadata: ["subject": "\(message.subject)", "error": "\(error)"])
            }
        }
        guard !unsent.isEmpty else { return }
        // A row with a message that could not be sent is the relay's task's: it publishes all of the row's
        // messages (those sent here again: the stream drops them by id) and deletes the row once all are acknowledged.
        rows.abandon(unsent)
        publish(messages.filter { unsent.contains($0.id) })
    }

    /// Publishes one outbox message without waiting for the bus; its outcome goes to `onOutcome` if given,
    /// else it is awaited with ``JetStreamContext/publishAsyncComplete(timeout:messageIDs:)``.
    private func publishAsync(_ message: OutboxMessage, onOutcome: (@Sendable (PublishOutcome) -> Void)? = nil) throws {
        let headers = message.headers.map { ($0.name, $0.value) }
        if let onOutcome {
            try jetStream.publishAsync(message.subject, message.payload, headers: headers, messageID: message.messageID, onOutcome: onOutcome)
        } else {
            try jetStream.publishAsync(message.subject, message.payload, headers: headers, messageID: message.messageID)
        }
    }

    /// Takes the bus's answer to a message published by ``publishCommitted(_:)``.
    private func settle(_ message: OutboxMessage, _ outcome: PublishOutcome, rows: RowAcknowledgements) {
        switch outcome {
        case .acknowledged:
            published.add(1, ordering: .relaxed)
            guard rows.acknowledged(message.id) else { return }
            acknowledgedRows.withLock { $0.append(message.id) }
            deleteWake.yield()
        case .failed(let error):
            rows.abandon([message.id])
            logger.warning("outbox publish not acknowledged; the sweeper will retry", metadata: ["subject": "\(message.subject)", "error": "\(error)"])
        }
    }

    /// Runs the publisher and the sweeper until graceful shutdown, then publishes what is still queued.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.publishLoop() }
                group.addTask { await self.sweepLoop() }
                group.addTask { await self.deleteLoop() }
            }
        } onGracefulShutdown: {
            self.wake.finish()
            self.deleteWake.finish()
        }
        await drainQueue()
        await deleteAcknowledged()
    }

    /// Deletes acknowledged rows `deleteDelay` after the first of a batch, until shutdown.
    private func deleteLoop() async {
        for await _ in deleteWakeups {
            try? await Task.sleep(for: deleteDelay.duration)
            await deleteAcknowledged()
        }
    }

    /// Deletes every acknowledged row now.
    private func deleteAcknowledged() async {
        let ids = acknowledgedRows.withLock { rows -> [Int64] in
            defer { rows.removeAll() }
            return rows
        }
        guard !ids.isEmpty else { return }
        do {
            try await store.deleteOutbox(ids: Array(Set(ids)).sorted())
        } catch {
            logger.warning("outbox delete failed; rows will be republished (deduplicated)", metadata: ["error": "\(error)"])
        }
    }

    private func publishLoop() async {
        for await _ in wakeups {
            await drainQueue()
        }
    }

    private func drainQueue() async {
        while true {
            let batch = queue.withLock { pending -> [OutboxMessage] in
                let taken = Array(pending.prefix(2048))
                pending.removeFirst(taken.count)
                return taken
            }
            if batch.isEmpty { return }
            await send(batch)
        }
    }

    private func sweepLoop() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: sweepInterval.duration)
            } catch { return }
            if Task.isShuttingDownGracefully { return }
            do {
                while true {
                    let stale = try await store.claimStaleOutbox(limit: 1000, retryAfter: retryAfter)
                    if stale.isEmpty { break }
                    logger.info("republishing outbox rows left behind", metadata: ["count": "\(stale.count)"])
                    await send(stale)
                    if stale.count < 1000 { break }
                }
            } catch {
                logger.warning("outbox sweep failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Publishes `batch` and deletes the rows the bus acknowledged; the rest stay for the sweeper.
    private func send(_ batch: [OutboxMessage]) async {
        var failedIDs = Set<String>()
        var sent: [OutboxMessage] = []
        let sentAhead = sentAhead.withLock { ahead in Set(batch.compactMap { ahead.removeValue(forKey: $0.messageID) == nil ? nil : $0.messageID }) }
        for message in batch {
            if sentAhead.contains(message.messageID) {
                // Already on the bus: only its acknowledgement (or failure) is awaited below.
                sent.append(message)
                continue
            }
            do {
                try publishAsync(message)
                sent.append(message)
            } catch {
                failedIDs.insert(message.messageID)
                logger.warning("outbox publish failed; the sweeper will retry", metadata: ["subject": "\(message.subject)", "error": "\(error)"])
            }
        }
        do {
            // Only this batch's failures: the sweeper's and the publisher's batches run concurrently.
            let failures = try await jetStream.publishAsyncComplete(timeout: .seconds(5), messageIDs: Set(batch.map(\.messageID)))
            for failure in failures {
                if let id = failure.messageID { failedIDs.insert(id) }
                logger.warning("outbox publish not acknowledged; the sweeper will retry", metadata: ["subject": "\(failure.subject)", "error": "\(failure.error)"])
            }
        } catch {
            logger.warning("outbox publish confirmation failed; the sweeper will retry", metadata: ["error": "\(error)"])
            return
        }
        // A row is done when every message it carries was acknowledged (an event marker carries several).
        let failedRows = Set(batch.filter { failedIDs.contains($0.messageID) }.map(\.id))
        let acknowledged = sent.filter { !failedIDs.contains($0.messageID) }
        published.add(acknowledged.count, ordering: .relaxed)
        let done = Set(acknowledged.map(\.id)).subtracting(failedRows).subtracting([0])
        guard !done.isEmpty else { return }
        acknowledgedRows.withLock { $0.append(contentsOf: done) }
        deleteWake.yield()
    }
}

/// The messages of one committed batch still waiting for their acknowledgement, by outbox row: a row is
/// done when all of its messages were acknowledged (an event marker row carries several).
final class RowAcknowledgements: Sendable {
    /// Messages not yet acknowledged, by row; a row taken out (a failure) is never done here.
    private let waiting: Mutex<[Int64: Int]>

    /// Tracks `messages` (those without a row, id 0, are not tracked).
    init(_ messages: [OutboxMessage]) {
        var waiting: [Int64: Int] = [:]
        for message in messages where message.id != 0 { waiting[message.id, default: 0] += 1 }
        self.waiting = Mutex(waiting)
    }

    /// Notes an acknowledgement of a message of `row`; true when it was the row's last.
    func acknowledged(_ row: Int64) -> Bool {
        waiting.withLock { waiting in
            guard let left = waiting[row] else { return false }
            if left > 1 {
                waiting[row] = left - 1
                return false
            }
            waiting[row] = nil
            return true
        }
    }

    /// Takes `rows` out: they are not deleted from here.
    func abandon(_ rows: Set<Int64>) {
        waiting.withLock { waiting in
            for row in rows { waiting[row] = nil }
        }
    }
}
