import AriaNATS
import AriaTestSupport
import Foundation
import Testing

extension NATSIntegrationTests {
    /// Streams and durable consumers are created, read, updated and deleted; `Nats-Msg-Id` deduplicates; absent ones are `.notFound`.
    @Test func streamsConsumersAndDeduplication() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let js = try connection.jetStream()

            let stream = try await js.addOrUpdateStream(StreamConfig(
                name: "ORDERS", subjects: ["orders.>"], retention: .workQueue, maxAge: .seconds(3600),
                duplicateWindow: .seconds(60)))
            #expect(stream.config.retention == .workQueue)
            #expect(stream.config.maxAge == .seconds(3600))
            #expect(stream.config.duplicateWindow == .seconds(60))

            let consumer = try await js.addOrUpdateConsumer(stream: "ORDERS", ConsumerConfig(
                durable: "processor", filterSubject: "orders.>", ackWait: .seconds(5), maxDeliver: 4, maxAckPending: 100,
                backoff: [.seconds(1), .seconds(2)], description: "order processing"))
            #expect(consumer.name == "processor")
            #expect(consumer.stream == "ORDERS")
            #expect(consumer.config.ackWait == .seconds(1))  // the server takes the first backoff step as ack wait
            #expect(consumer.config.backoff == [.seconds(1), .seconds(2)])
            #expect(consumer.config.maxDeliver == 4)
            #expect(consumer.config.maxAckPending == 100)
            #expect(consumer.config.filterSubject == "orders.>")
            #expect(consumer.config.description == "order processing")

            let first = try await js.publish("orders.new", "o1".bytes, headers: [("X-Tenant", "demo")], messageID: "order-1")
            let repeated = try await js.publish("orders.new", "o1".bytes, messageID: "order-1")
            #expect(first.stream == "ORDERS" && !first.duplicate)
            #expect(repeated.duplicate && repeated.sequence == first.sequence)
            #expect(try await js.streamInfo("ORDERS").messages == 1)
            #expect(try await js.consumerInfo(stream: "ORDERS", consumer: "processor").numPending == 1)

            // Updating an existing stream and consumer.
            let updated = try await js.addOrUpdateStream(StreamConfig(
                name: "ORDERS", subjects: ["orders.>"], retention: .workQueue, maxMessages: 100, maxAge: .seconds(3600),
                duplicateWindow: .seconds(60)))
            #expect(updated.config.maxMessages == 100)
            let updatedConsumer = try await js.addOrUpdateConsumer(stream: "ORDERS", ConsumerConfig(
                durable: "processor", filterSubject: "orders.>", ackWait: .seconds(5), maxDeliver: 4, maxAckPending: 50,
                backoff: [.seconds(1), .seconds(2)], description: "order processing"))
            #expect(updatedConsumer.config.maxAckPending == 50)

            // Absent streams and consumers are `.notFound`.
            let missingStream = await #expect(throws: NATSError.self) { _ = try await js.streamInfo("NOPE") }
            #expect(missingStream?.code == .notFound)
            #expect(missingStream?.jetStreamErrorCode == 10059)
            let missingConsumer = await #expect(throws: NATSError.self) {
                _ = try await js.consumerInfo(stream: "ORDERS", consumer: "nope")
            }
            #expect(missingConsumer?.code == .notFound)
            #expect(missingConsumer?.jetStreamErrorCode == 10014)

            // No stream listens: no responders.
            let unrouted = await #expect(throws: NATSError.self) { _ = try await js.publish("nowhere.at.all", [], timeout: .seconds(2)) }
            #expect(unrouted?.code == .noResponders, "\(String(describing: unrouted)) status=\(unrouted?.status ?? "")")

            // Deleting a message, purging, deleting the stream.
            try await js.deleteMessage(stream: "ORDERS", sequence: first.sequence)
            #expect(try await js.streamInfo("ORDERS").messages == 0)
            _ = try await js.publish("orders.new", "o2".bytes)
            try await js.purgeStream("ORDERS")
            #expect(try await js.streamInfo("ORDERS").messages == 0)
            try await js.deleteStream("ORDERS")
            let deleted = await #expect(throws: NATSError.self) { _ = try await js.streamInfo("ORDERS") }
            #expect(deleted?.code == .notFound)
        }
    }

    /// Publishing to a full discard-new stream fails with JetStream code 10077.
    @Test func discardNewLimitIsAJetStreamError() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let js = try connection.jetStream()
            _ = try await js.addOrUpdateStream(StreamConfig(name: "LIMITED", subjects: ["limited"], maxMessages: 2, discard: .new))
            _ = try await js.publish("limited", "1".bytes)
            _ = try await js.publish("limited", "2".bytes)
            let error = await #expect(throws: NATSError.self) { _ = try await js.publish("limited", "3".bytes) }
            #expect(error?.code == .jetStream)
            #expect(error?.jetStreamErrorCode == 10077)
            #expect(error?.subject == "limited")
            #expect(error?.message.contains("maximum messages exceeded") == true)
        }
    }

    /// A fetch returns as soon as some messages are there, fewer than `max`, also when they arrive during the fetch.
    @Test func fetchReturnsPromptlyWithFewerThanMax() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let js = try connection.jetStream()
            _ = try await js.addOrUpdateStream(StreamConfig(name: "JOBS", subjects: ["jobs.>"], retention: .workQueue))
            _ = try await js.addOrUpdateConsumer(stream: "JOBS", ConsumerConfig(durable: "workers", ackWait: .seconds(30)))
            let subscription = try await js.pullSubscribe(stream: "JOBS", consumer: "workers")

            // Messages already there.
            for index in 0..<3 { _ = try await js.publish("jobs.a", "m\(index)".bytes) }
            var started = ContinuousClock.now
            let available = try await subscription.fetch(max: 10, timeout: .seconds(5))
            #expect(available.map(\.payload.text) == ["m0", "m1", "m2"])
            #expect(ContinuousClock.now - started < .seconds(1))
            for message in available { try message.ack() }

            // A message arriving while the fetch waits on an empty consumer.
            let fetching = Task { try await subscription.fetch(max: 10, timeout: .seconds(5)) }
            while try await js.consumerInfo(stream: "JOBS", consumer: "workers").numWaiting == 0 {
                await Task.yield()
            }
            started = ContinuousClock.now
            _ = try await js.publish("jobs.a", "late".bytes)
            let late = try await fetching.value
            #expect(late.map(\.payload.text) == ["late"])
            #expect(ContinuousClock.now - started < .seconds(1))
            for message in late { try message.ack() }

            // Nothing at all: [] after the timeout.
            started = ContinuousClock.now
            let none = try await subscription.fetch(max: 10, timeout: .milliseconds(300))
            #expect(none.isEmpty)
            #expect(ContinuousClock.now - started >= .milliseconds(250))
        }
    }

    /// Ack removes, nak (with and without delay) redelivers with a higher delivery count, term removes, as the metadata shows.
    @Test func ackNakAndTermSemantics() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let js = try connection.jetStream()
            _ = try await js.addOrUpdateStream(StreamConfig(name: "SEM", subjects: ["sem.>"], retention: .workQueue))
            _ = try await js.addOrUpdateConsumer(stream: "SEM", ConsumerConfig(durable: "c", ackWait: .seconds(30)))
            let subscription = try await js.pullSubscribe(stream: "SEM", consumer: "c")
            for name in ["a", "b", "c"] { _ = try await js.publish("sem.\(name)", name.bytes) }

            let batch = try await subscription.fetch(max: 3, timeout: .seconds(5))
            #expect(batch.map(\.payload.text) == ["a", "b", "c"])
            let metadata = try #require(batch.first?.metadata)
            #expect(metadata.stream == "SEM" && metadata.consumer == "c")
            #expect(metadata.streamSequence == 1 && metadata.consumerSequence == 1)
            #expect(metadata.numDelivered == 1 && metadata.numPending == 2)
            #expect(abs(metadata.timestamp.timeIntervalSinceNow) < 60)

            try await batch[0].ackSync()
            try batch[1].inProgress()
            let nakAt = ContinuousClock.now
            try batch[1].nak(delay: .milliseconds(500))
            try batch[2].term()

            // The nak'ed message is not redelivered before its delay.
            #expect(try await subscription.fetch(max: 3, timeout: .milliseconds(200)).isEmpty)
            // A fetch may end early, empty, on the expiry notice of the previous pull request: fetch until
            // the message comes (or five seconds pass).
            let redelivered = try await fetchSome(subscription, max: 3)
            #expect(redelivered.map(\.payload.text) == ["b"])
            #expect(ContinuousClock.now - nakAt >= .milliseconds(450))
            #expect(redelivered.first?.metadata?.numDelivered == 2)
            try await #require(redelivered.first).ackSync()

            // A nak without delay redelivers at once.
            _ = try await js.publish("sem.d", "d".bytes)
            let fresh = try await fetchSome(subscription, max: 1)
            try #require(fresh.first).nak()
            let again = try await fetchSome(subscription, max: 1)
            #expect(again.first?.payload.text == "d")
            #expect(again.first?.metadata?.numDelivered == 2)
            try #require(again.first).term()

            // A WorkQueue stream drops acknowledged and terminated messages. The flush only says the server has
            // the `term`; its consumer applies it to the stream afterwards, so the count is awaited.
            try await connection.flush(timeout: .seconds(2))
            let deadline = ContinuousClock.now + .seconds(5)
            var remaining = try await js.streamInfo("SEM").messages
            while remaining != 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
                remaining = try await js.streamInfo("SEM").messages
            }
            #expect(remaining == 0)
            let info = try await js.consumerInfo(stream: "SEM", consumer: "c")
            #expect(info.numAckPending == 0 && info.numPending == 0)
        }
    }

    /// A worker allowed only CONSUMER.INFO/MSG.NEXT/ACK on one consumer and subscribe on its own inbox prefix can bind, fetch, ack and publish.
    @Test func restrictedWorkerFetchesAndAcksWithMinimalPermissions() async throws {
        try await withNATS { nats in
            let admin = try await nats.admin()
            defer { admin.close() }
            let adminJS = try admin.jetStream()
            _ = try await adminJS.addOrUpdateStream(StreamConfig(name: "JOBS", subjects: ["jobs.>"], retention: .workQueue))
            _ = try await adminJS.addOrUpdateStream(StreamConfig(name: "RESULTS", subjects: ["results.>"]))
            _ = try await adminJS.addOrUpdateConsumer(stream: "JOBS", ConsumerConfig(durable: "workers", ackWait: .seconds(30)))
            for index in 0..<5 { _ = try await adminJS.publish("jobs.work", "job\(index)".bytes) }

            // The worker may subscribe only under its inbox prefix: everything below (API requests, pull
            // requests, ack confirmations, publish acks) must use that prefix.
            let worker = try await nats.worker()
            defer { worker.close() }
            let events = worker.events
            let errors = Task {
                var errors: [NATSError] = []
                for await event in events { if case .error(let error) = event { errors.append(error) } }
                return errors
            }
            let js = try worker.jetStream(apiTimeout: .seconds(2))
            #expect(try await js.consumerInfo(stream: "JOBS", consumer: "workers").numPending == 5)
            let subscription = try await js.pullSubscribe(stream: "JOBS", consumer: "workers")
            let messages = try await subscription.fetch(max: 10, timeout: .seconds(2))
            #expect(messages.count == 5)
            for message in messages.dropLast() { try message.ack() }
            try await messages.last?.ackSync()
            _ = try await js.publish("results.job", "done".bytes)
            try js.publishAsync("results.job", "done again".bytes)
            #expect(try await js.publishAsyncComplete(timeout: .seconds(2)).isEmpty)
            try await worker.flush(timeout: .seconds(2))

            let info = try await adminJS.consumerInfo(stream: "JOBS", consumer: "workers")
            #expect(info.numAckPending == 0 && info.numPending == 0)
            #expect(try await adminJS.streamInfo("RESULTS").messages == 2)

            // Not allowed: creating streams (no permission on $JS.API.STREAM.CREATE).
            let refused = await #expect(throws: NATSError.self) {
                _ = try await js.addOrUpdateStream(StreamConfig(name: "ROGUE", subjects: ["rogue"]))
            }
            #expect(refused?.code == .timeout)

            worker.close()
            let reported = await errors.value
            #expect(reported.map(\.code) == [.notPermitted])
            #expect(reported.first?.subject?.hasPrefix("$JS.API.STREAM.") == true)
        }
    }

    /// Eight concurrent 500 ms fetches on an empty consumer run in parallel and leave `Task.sleep` on time.
    @Test func concurrentFetchesLeaveTheCooperativePoolResponsive() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let js = try connection.jetStream()
            _ = try await js.addOrUpdateStream(StreamConfig(name: "IDLE", subjects: ["idle.>"], retention: .workQueue))
            _ = try await js.addOrUpdateConsumer(stream: "IDLE", ConsumerConfig(durable: "idle", ackWait: .seconds(30)))
            let fetchedTotal = SharedTotal()
            let (maxLateness, elapsed) = try await CooperativeLatency.bestWorstLateness {
                // Fresh subscriptions for every attempt: a late "request timeout" status of an earlier
                // attempt's pull request (a loaded machine) would end a later fetch on the same
                // subscription at once.
                var subscriptions: [PullSubscription] = []
                for _ in 0..<8 { subscriptions.append(try await js.pullSubscribe(stream: "IDLE", consumer: "idle")) }
                let pulls = subscriptions
                let fetched = try await withThrowingTaskGroup(of: Int.self) { group in
                    for subscription in pulls {
                        group.addTask { try await subscription.fetch(max: 10, timeout: .milliseconds(500)).count }
                    }
                    return try await group.reduce(0, +)
                }
                for subscription in pulls { subscription.unsubscribe() }
                fetchedTotal.add(fetched)
            }
            let fetched = fetchedTotal.value

            #expect(fetched == 0)
            #expect(elapsed >= .milliseconds(450))
            #expect(elapsed < .milliseconds(1_500))  // in parallel, not 8 × 500 ms
            // Starved, a sleep would wake only after a blocking call (≥ 500 ms); 150 ms leaves room for a loaded machine.
            #expect(maxLateness < .milliseconds(150), "max Task.sleep lateness \(maxLateness)")
        }
    }

    /// A thousand asynchronous publishes complete with no failure and are all stored.
    @Test func asyncPublishOfAThousandMessages() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let js = try connection.jetStream()
            _ = try await js.addOrUpdateStream(StreamConfig(name: "BULK", subjects: ["bulk.>"]))
            for index in 0..<1_000 {
                if index.isMultiple(of: 2) {
                    try js.publishAsync("bulk.item", "item \(index)".bytes, messageID: "item-\(index)")
                } else {
                    try js.publishAsync("bulk.item", "item \(index)".bytes, headers: [("X-Index", "\(index)")], messageID: "item-\(index)")
                }
            }
            let failures = try await js.publishAsyncComplete(timeout: .seconds(10))
            #expect(failures.isEmpty)
            #expect(try await js.streamInfo("BULK").messages == 1_000)
        }
    }

    /// Asynchronous publishes refused by a full discard-new stream are reported once, with subject, message ID and JetStream code.
    @Test func asyncPublishFailuresAreReported() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let js = try connection.jetStream()
            _ = try await js.addOrUpdateStream(StreamConfig(name: "TINY", subjects: ["tiny"], maxMessages: 5, discard: .new))
            for index in 0..<10 { try js.publishAsync("tiny", "\(index)".bytes, messageID: "tiny-\(index)") }
            let failures = try await js.publishAsyncComplete(timeout: .seconds(10))
            #expect(failures.count == 5)
            #expect(Set(failures.compactMap(\.messageID)) == Set((5..<10).map { "tiny-\($0)" }))
            #expect(failures.allSatisfy { $0.subject == "tiny" && $0.error.jetStreamErrorCode == 10077 })
            // Reported once.
            #expect(try await js.publishAsyncComplete(timeout: .seconds(1)).isEmpty)
        }
    }

    /// Publishers sharing a context take only their own messages' failures; the others wait for theirs.
    @Test func asyncPublishFailuresGoToTheirPublisher() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let js = try connection.jetStream()
            _ = try await js.addOrUpdateStream(StreamConfig(name: "SMALL", subjects: ["small"], maxMessages: 1, discard: .new))
            try js.publishAsync("small", "kept".bytes, messageID: "first")
            _ = try await js.publishAsyncComplete(timeout: .seconds(10), messageIDs: ["first"])
            // The stream is full: both fail, one published for each of two publishers.
            try js.publishAsync("small", "a".bytes, messageID: "mine")
            try js.publishAsync("small", "b".bytes, messageID: "theirs")
            let mine = try await js.publishAsyncComplete(timeout: .seconds(10), messageIDs: ["mine"])
            #expect(mine.map(\.messageID) == ["mine"])
            let theirs = try await js.publishAsyncComplete(timeout: .seconds(10), messageIDs: ["theirs", "other"])
            #expect(theirs.map(\.messageID) == ["theirs"])
            #expect(try await js.publishAsyncComplete(timeout: .seconds(1)).isEmpty)
        }
    }

    /// A publish with a callback gets its own outcome there: stored, a duplicate of an id, or refused (a
    /// full discard-new stream); a refusal is not left for `publishAsyncComplete`.
    @Test func asyncPublishOutcomesComeToTheirCallbacks() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let js = try connection.jetStream()
            _ = try await js.addOrUpdateStream(StreamConfig(name: "PAIR", subjects: ["pair"], maxMessages: 2, discard: .new))
            let (outcomes, report) = AsyncStream.makeStream(of: (String, String).self)
            @Sendable func describe(_ outcome: PublishOutcome) -> String {
                switch outcome {
                case .acknowledged(let duplicate): duplicate ? "duplicate" : "stored"
                case .failed(let error): "failed \(error.jetStreamErrorCode ?? 0)"
                }
            }
            for (id, payload) in [("one", "1"), ("one", "1 again"), ("two", "2"), ("three", "3")] {
                try js.publishAsync("pair", payload.bytes, messageID: id) { report.yield((id, describe($0))) }
            }
            var received: [String] = []
            for await (id, outcome) in outcomes {
                received.append("\(id): \(outcome)")
                if received.count == 4 { break }
            }
            // Outcomes come in publication order; the stream holds two messages and refuses the third (10077).
            #expect(received == ["one: stored", "one: duplicate", "two: stored", "three: failed 10077"])
            #expect(try await js.publishAsyncComplete(timeout: .seconds(5)).isEmpty)
            // A publish without a callback still reports its failure there.
            try js.publishAsync("pair", "4".bytes, messageID: "four")
            #expect(try await js.publishAsyncComplete(timeout: .seconds(5)).map(\.messageID) == ["four"])
        }
    }

/// A sum shared between tasks.
final class SharedTotal: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    func add(_ value: Int) { lock.withLock { total += value } }
    var value: Int { lock.withLock { total } }
}

/// Fetches until at least one message comes or `within` passes: a fetch may end early, empty, on the expiry
/// notice of the previous pull request.
func fetchSome(_ subscription: PullSubscription, max: Int, within: Duration = .seconds(5)) async throws -> [NATSMessage] {
    let deadline = ContinuousClock.now + within
    var messages: [NATSMessage] = []
    while messages.isEmpty && ContinuousClock.now < deadline {
        messages = try await subscription.fetch(max: max, timeout: deadline - ContinuousClock.now)
    }
    return messages

    }
}
