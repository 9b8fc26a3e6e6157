import AriaLocalCluster
import AriaNATS
import AriaTestSupport
import Foundation
import Logging
import Testing

/// A server whose `presence` user may only bind to bucket `PRESENCE` and put or delete in it, and whose
/// `tenant` user has nothing to do with it: the permissions Aria gives workers and tenants.
private enum KVFixture {
    static let config = """
        accounts {
          APP {
            jetstream: enabled
            users: [
              { user: admin, password: admin-secret }
              {
                user: presence, password: presence-secret
                permissions: {
                  publish: { allow: ["$JS.API.STREAM.INFO.KV_PRESENCE", "$KV.PRESENCE.>"] }
                  subscribe: { allow: ["_INBOX.presence.>"] }
                }
              }
              {
                user: tenant, password: tenant-secret
                permissions: {
                  publish: { allow: ["aria.t.demo.>"] }
                  subscribe: { allow: ["aria.t.demo.>"] }
                }
              }
            ]
          }
        }
        """

    static var logger: Logger {
        var logger = Logger(label: "aria.nats.kv.tests")
        logger.logLevel = .critical
        return logger
    }

    static func run(_ body: (NATSServer) async throws -> Void) async throws {
        let server = try await TestNATS.start(config: config)
        do { try await body(server) } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    static func connect(_ server: NATSServer, user: String, inbox: String? = nil) async throws -> NATSConnection {
        try await NATSConnection.connect(
            NATSConnectOptions(urls: [server.url], user: user, password: "\(user)-secret", name: "kv-\(user)", inboxPrefix: inbox),
            logger: logger)
    }
}

extension NATSIntegrationTests {
    /// Put, get, delete, keys and entries behave like a map; a missing key is nil, an invalid key and a missing bucket are typed errors.
    @Test func keyValueBasics() async throws {
        try await KVFixture.run { server in
            let connection = try await KVFixture.connect(server, user: "admin")
            defer { connection.close() }
            let js = try connection.jetStream(apiTimeout: .seconds(2))

            let kv = try await js.createOrUpdateKeyValue(KeyValueConfig(bucket: "PRESENCE", summary: "who is alive", ttl: .seconds(60)))
            #expect(kv.bucket == "PRESENCE")
            let status = try await kv.status()
            #expect(status.bucket == "PRESENCE" && status.ttl == .seconds(60) && status.history == 1 && status.values == 0)
            #expect(try await kv.keys() == [])
            #expect(try await kv.entries() == [])
            #expect(try await kv.get("w1") == nil)

            let first = try await kv.put("w1", "one".bytes)
            let second = try await kv.put("w2", "two".bytes)
            let third = try await kv.put("w1", "uno".bytes)
            #expect(first < second && second < third)
            let entry = try #require(try await kv.get("w1"))
            #expect(entry.key == "w1" && entry.bucket == "PRESENCE" && entry.value.text == "uno" && entry.revision == third)
            #expect(abs(entry.created.timeIntervalSinceNow) < 60)
            #expect(try await kv.keys() == ["w1", "w2"])
            #expect(try await kv.entries().map { "\($0.key)=\($0.value.text)" } == ["w1=uno", "w2=two"])
            // History 1: only the latest value of each key is stored.
            #expect(try await kv.status().values == 2)

            try await kv.delete("w1")
            #expect(try await kv.get("w1") == nil)
            #expect(try await kv.keys() == ["w2"])
            #expect(try await kv.entries().map(\.key) == ["w2"])
            try await kv.delete("never-there")

            let invalid = await #expect(throws: NATSError.self) { try await kv.put("bad key", []) }
            #expect(invalid?.code == .invalidArgument)
            let missing = await #expect(throws: NATSError.self) { _ = try await js.keyValue(bucket: "NOPE") }
            #expect(missing?.code == .notFound)

            // Creating again with another TTL updates the bucket in place and keeps its values.
            let again = try await js.createOrUpdateKeyValue(KeyValueConfig(bucket: "PRESENCE", summary: "who is alive", ttl: .seconds(30)))
            #expect(try await again.status().ttl == .seconds(30))
            #expect(try await again.get("w2")?.value.text == "two")
            // Unchanged: a no-op.
            _ = try await js.createOrUpdateKeyValue(KeyValueConfig(bucket: "PRESENCE", summary: "who is alive", ttl: .seconds(30)))
            #expect(try await js.keyValue(bucket: "PRESENCE").status().ttl == .seconds(30))

            try await js.deleteKeyValue(bucket: "PRESENCE")
            let deleted = await #expect(throws: NATSError.self) { _ = try await js.keyValue(bucket: "PRESENCE") }
            #expect(deleted?.code == .notFound)
        }
    }

    /// A value not put again within the bucket's TTL disappears; a value refreshed in time stays.
    ///
    /// The refresher's puts go through the shared blocking pool, which other suites may keep busy: a put can
    /// come later than planned, and then the server may rightly expire `fresh` too. Such a round proves
    /// nothing about the server and is run again (at most three rounds); `fresh` is checked only when its
    /// last put began well within the TTL.
    @Test func keyValueTTLExpiresStaleKeys() async throws {
        try await KVFixture.run { server in
            let connection = try await KVFixture.connect(server, user: "admin")
            defer { connection.close() }
            let ttl = Duration.seconds(2)
            let kv = try await connection.jetStream().createOrUpdateKeyValue(KeyValueConfig(bucket: "SHORT", ttl: ttl))
            for round in 1...3 {
                try await kv.put("stale", "x".bytes)
                try await kv.put("fresh", "y".bytes)
                #expect(try await kv.get("stale") != nil)
                let start = ContinuousClock.now
                var lastRefresh = start
                var longestGap = Duration.zero
                // Refresh `fresh` every 100 ms until `stale` has expired.
                while try await kv.get("stale") != nil {
                    #expect(ContinuousClock.now - start < .seconds(15), "the stale key did not expire")
                    if ContinuousClock.now - start > .seconds(15) { return }
                    let now = ContinuousClock.now
                    longestGap = max(longestGap, now - lastRefresh)
                    lastRefresh = now
                    try await kv.put("fresh", "y".bytes)
                    try await Task.sleep(for: .milliseconds(100))
                }
                let sinceRefresh = ContinuousClock.now - lastRefresh
                #expect(ContinuousClock.now - start >= .milliseconds(1_700), "expired before its TTL")
                guard longestGap < ttl - .milliseconds(500), sinceRefresh < ttl - .milliseconds(500) else {
                    #expect(round < 3, "the refresher stalled in every round (longest gap \(longestGap))")
                    continue
                }
                #expect(try await kv.get("fresh")?.value.text == "y")
                #expect(try await kv.keys() == ["fresh"])
                return
            }
        }
    }

    /// A user allowed only the bucket's stream info and put subjects can bind, put and delete, but not
    /// read; a user without them can neither bind nor watch the bucket.
    @Test func keyValueLeastPrivilege() async throws {
        try await KVFixture.run { server in
            let admin = try await KVFixture.connect(server, user: "admin")
            defer { admin.close() }
            let adminKV = try await admin.jetStream().createOrUpdateKeyValue(KeyValueConfig(bucket: "PRESENCE", ttl: .seconds(60)))

            let presence = try await KVFixture.connect(server, user: "presence", inbox: "_INBOX.presence")
            defer { presence.close() }
            let kv = try await presence.jetStream(apiTimeout: .seconds(1)).keyValue(bucket: "PRESENCE")
            #expect(try await kv.status().ttl == .seconds(60))
            try await kv.put("w1", "alive".bytes)
            #expect(try await adminKV.get("w1")?.value.text == "alive")
            try await kv.delete("w1")
            #expect(try await adminKV.get("w1") == nil)
            // Reading is not granted: the direct-get request is dropped by the server.
            await #expect(throws: NATSError.self) { _ = try await kv.get("w1") }

            let tenant = try await KVFixture.connect(server, user: "tenant", inbox: "aria.t.demo.inbox")
            defer { tenant.close() }
            let refused = await #expect(throws: NATSError.self) { _ = try await tenant.jetStream(apiTimeout: .seconds(1)).keyValue(bucket: "PRESENCE") }
            #expect(refused?.code == .timeout || refused?.code == .notPermitted)
            let events = tenant.events
            _ = try tenant.subscribe("$KV.PRESENCE.>")
            let violation = try await firstEvent(events, within: .seconds(5), "a permissions violation") { event -> NATSError? in
                if case .error(let error) = event, error.code == .notPermitted { return error }
                return nil
            }
            #expect(violation.code == .notPermitted)
        }
    }
}
