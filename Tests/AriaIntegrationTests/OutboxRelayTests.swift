import AriaBus
import AriaCore
import AriaLocalCluster
import AriaNATS
import AriaPostgres
import AriaRuntime
import AriaStore
import AriaTestSupport
import Foundation
import Logging
import Testing

@Suite("Outbox relay")
struct OutboxRelayTests {
    @Test("rows published by separate transactions are deleted together, by one delete, once the delay has passed")
    func batchedDeletes() async throws {
        let (store, pool) = try await migratedStore("relay")
        // Record which transaction deletes each outbox row.
        _ = try await pool.withConnection { connection in
            try connection.execute("""
                CREATE TABLE outbox_deletes (txid bigint, id bigint);
                CREATE FUNCTION note_outbox_delete() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN INSERT INTO outbox_deletes VALUES (txid_current(), OLD.id); RETURN OLD; END $$;
                CREATE TRIGGER outbox_deletes AFTER DELETE ON outbox FOR EACH ROW EXECUTE FUNCTION note_outbox_delete();
                """)
        }
        let nats = try await TestNATS.start(config: "jetstream {}\n", environment: [:])
        let logger = Logger(label: "test")
        let connection = try await NATSConnection.connect(NATSConnectOptions(urls: [nats.url], name: "relay"), logger: logger)
        let jetStream = try connection.jetStream()
        try await BusProvisioner(jetStream: jetStream, logger: logger).provision(try BusSettings())
        let relay = OutboxRelay(store: store, jetStream: jetStream, sweepInterval: AriaDuration(milliseconds: 60_000),
                                deleteDelay: AriaDuration(milliseconds: 3_000), logger: logger)
        let running = Task { try await relay.run() }

        func submit(_ index: Int) async throws -> [OutboxMessage] {
            try await store.submit([try submission(echoPlan([("a", [])]), key: "k\(index)", ref: "S:\(index)")], catalog: .builtIn).1
        }
        func published(atLeast count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while relay.publishedCount < count {
                guard ContinuousClock.now < deadline else { throw AriaError(.internal, "only \(relay.publishedCount) of \(count) published") }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        let first = try await submit(1)
        relay.publish(first)
        try await published(atLeast: first.count)
        let second = try await submit(2)
        relay.publish(second)
        try await published(atLeast: first.count + second.count)
        let rows = try await scalar(pool, "SELECT count(*) FROM outbox")
        #expect(rows == String(Set((first + second).map(\.id)).count), "published rows stay until the delay has passed")
        let deadline = ContinuousClock.now + .seconds(15)
        while try await scalar(pool, "SELECT count(*) FROM outbox") != "0" {
            guard ContinuousClock.now < deadline else { Issue.record("outbox rows were not deleted"); break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await scalar(pool, "SELECT count(DISTINCT txid) FROM outbox_deletes") == "1", "one delete transaction for both publications")
        #expect(try await scalar(pool, "SELECT count(*) FROM outbox_deletes") == rows)
        running.cancel()
        _ = try? await running.value
        connection.close()
        await nats.stop()
        await pool.close()
    }

    /// A migrated store, a JetStream server with the bus provisioned and `streams`' duplicate windows cut to
    /// 100 ms, and a relay (not running) that deletes acknowledged rows after 10 ms.
    static func shortWindowRelay(_ prefix: String, streams: [String]) async throws
        -> (RunStore, PostgresPool, NATSServer, NATSConnection, JetStreamContext, OutboxRelay) {
        let (store, pool) = try await migratedStore(prefix)
        let nats = try await TestNATS.start(config: "jetstream {}\n", environment: [:])
        let logger = Logger(label: "test")
        let connection = try await NATSConnection.connect(NATSConnectOptions(urls: [nats.url], name: "relay"), logger: logger)
        let jetStream = try connection.jetStream()
        try await BusProvisioner(jetStream: jetStream, logger: logger).provision(try BusSettings())
        for name in streams {
            var stream = try #require(try BusSettings().streams.first { $0.name == name })
            stream.duplicateWindow = .milliseconds(100)
            _ = try await jetStream.addOrUpdateStream(stream)
        }
        let relay = OutboxRelay(store: store, jetStream: jetStream, sweepInterval: AriaDuration(milliseconds: 60_000),
                                deleteDelay: AriaDuration(milliseconds: 10), logger: logger)
        return (store, pool, nats, connection, jetStream, relay)
    }

    @Test("a dispatch published ahead of its commit is not published again with its committed rows, and its row is deleted")
    func aheadDispatchIsPublishedOnce() async throws {
        // A duplicate window far shorter than the time until the commit's rows are published: a second
        // publication of the dispatch would be stored as a second message.
        let (store, pool, nats, connection, jetStream, relay) = try await Self.shortWindowRelay("relay_ahead", streams: [Streams.work])
        let running = Task { try await relay.run() }
        let ahead = DispatchAhead(maxSubmissions: 8) { relay.publishAhead($0) }
        let (_, outbox) = try await store.submit([try submission(echoPlan([("a", [])]), key: "k1", ref: "S:1")], catalog: .builtIn, ahead: ahead)
        #expect(outbox.contains { $0.subject == Subjects.workIntake(pool: "default") })
        // Let the duplicate window pass (a time-based expiry, nothing to await), then hand over the committed rows.
        try await Task.sleep(for: .milliseconds(300))
        relay.publish(outbox)
        try await eventually("the committed rows to be published and deleted") {
            try await scalar(pool, "SELECT count(*) FROM outbox") == "0"
        }
        #expect(try await jetStream.streamInfo(Streams.work).messages == 1, "the dispatch is on the bus once")
        #expect(relay.publishedCount == outbox.count)
        running.cancel()
        _ = try? await running.value
        connection.close()
        await nats.stop()
        await pool.close()
    }

    @Test("a dispatch published ahead of its commit is not published again by the committing transaction")
    func aheadDispatchIsNotRepublishedAtCommit() async throws {
        let (store, pool, nats, connection, _, relay) = try await Self.shortWindowRelay("relay_ahead_committed", streams: [])
        // A plain subscriber sees every publication, also one the stream would drop as a duplicate.
        let intake = Subjects.workIntake(pool: "default")
        let deliveries = try connection.subscribe(intake)
        try await connection.flush(timeout: .seconds(5))
        let ahead = DispatchAhead(maxSubmissions: 8) { relay.publishAhead($0) }
        let (_, outbox) = try await store.submit([try submission(echoPlan([("a", [])]), key: "k1", ref: "S:1")], catalog: .builtIn, ahead: ahead) {
            relay.publishCommitted($0)
        }
        #expect(outbox.contains { $0.subject == intake })
        // The committing thread published before `submit` returned; a marker on the same connection comes after it.
        try connection.publish(intake, Array("marker".utf8))
        var dispatches = 0
        for await message in deliveries {
            if message.payload == Array("marker".utf8) { break }
            dispatches += 1
        }
        #expect(dispatches == 1, "the dispatch went out once, ahead of the commit")
        deliveries.unsubscribe()
        connection.close()
        await nats.stop()
        await pool.close()
    }

    @Test("committed messages are published by the committing transaction itself, once, their acknowledgements taken by callbacks, and their rows deleted by the relay")
    func committedMessagesArePublishedAtCommit() async throws {
        // Duplicate windows far shorter than the wait below: a second publication would be stored again.
        let (store, pool, nats, connection, jetStream, relay) = try await Self.shortWindowRelay("relay_committed", streams: [Streams.work, Streams.events])
        // The relay's task is not running: only the committing transaction can have published.
        let (_, outbox) = try await store.submit([try submission(echoPlan([("a", [])]), key: "k1", ref: "S:1")], catalog: .builtIn) {
            relay.publishCommitted($0)
        }
        #expect(outbox.count == 3, "accepted, planned and the dispatch")
        try await eventually("the messages to be on the bus") {
            let work = try await jetStream.streamInfo(Streams.work).messages, events = try await jetStream.streamInfo(Streams.events).messages
            return work == 1 && events == 2
        }
        // The acknowledgements come back to callbacks: no task of the relay waits for them.
        try await eventually("the acknowledgements to be counted without the relay's task") { relay.publishedCount == 3 }
        #expect(try await scalar(pool, "SELECT count(*) FROM outbox") == "2", "the rows stay until the relay's task deletes them")
        try await Task.sleep(for: .milliseconds(300))
        let running = Task { try await relay.run() }
        try await eventually("the committed rows to be deleted") {
            try await scalar(pool, "SELECT count(*) FROM outbox") == "0"
        }
        #expect(try await jetStream.streamInfo(Streams.work).messages == 1, "the dispatch is on the bus once")
        #expect(try await jetStream.streamInfo(Streams.events).messages == 2, "each event is on the bus once")
        running.cancel()
        _ = try? await running.value
        connection.close()
        await nats.stop()
        await pool.close()
    }
}
