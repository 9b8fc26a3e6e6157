import AriaBus
import AriaCore
import AriaLocalCluster
import AriaNATS
import AriaPostgres
import AriaRuntime
import AriaTestSupport
import Foundation
import Logging
import Testing

@Suite("Contract files")
struct ContractTests {
    static let root = TestCluster.packageRoot

    @Test("config/nats-server.conf is exactly what the generator produces for the demo tenant")
    func committedNATSConfigMatchesGenerator() throws {
        let committed = try String(contentsOf: Self.root.appendingPathComponent("config/nats-server.conf"), encoding: .utf8)
        #expect(committed == NATSAuthConfig(tenants: [TenantID(trusted: "demo")]).render())
        #expect(!committed.contains("allow_responses"))
    }

    @Test("the generated configuration is accepted by nats-server")
    func generatedConfigIsValid() throws {
        let directory = try TestNATS.makeTemporaryDirectory(prefix: "conf")
        let file = directory.appendingPathComponent("nats.conf")
        let config = NATSAuthConfig(tenants: [TenantID(trusted: "demo"), TenantID(trusted: "acme")])
        try config.render().write(to: file, atomically: true, encoding: .utf8)
        var environment: [String: String] = [:]
        for user in config.users { environment[user.passwordVariable] = "s\(user.name.count)secret" }
        try NATSServer.validateConfig(file, environment: environment)
    }

    @Test("every error code in docs/errors.md exists, and every code has a row there")
    func errorCatalogue() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/errors.md"), encoding: .utf8)
        let documented = Set(text.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return line.dropFirst(3).prefix { $0 != "`" }.description
        })
        let known = Set(ErrorCode.all.map(\.rawValue))
        #expect(known.count == ErrorCode.all.count, "a code is listed twice")
        #expect(documented == known)
    }

    @Test("unexpected errors are reported as internal and transient; typed errors keep their code")
    func unexpectedErrorsAreInternalAndTransient() {
        struct Boom: Error {}
        let mapped = transientError(Boom())
        #expect(mapped.code == .internal && mapped.category == .transient)
        #expect(transientError(AriaError(.unknownSkill, "x")).code == .unknownSkill)
        #expect(transientError(PostgresError(code: .connectionLost, message: "gone")).category == .transient)
    }
}

@Suite("Cooperative pool")
struct CooperativePoolTests {
    @Test("8 concurrent pg_sleep(0.5) and 8 empty fetches leave the cooperative pool free to wake a sleeping task")
    func blockingCallsDoNotStarveThePool() async throws {
        let config = try await TestPostgres.freshDatabase(prefix: "starve")
        let pool = PostgresPool(config: config, maxConnections: 8, logger: Logger(label: "test"))
        // Open the connections first: logins are CPU work, not blocking I/O.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = try await pool.withConnection { try $0.query("SELECT 1") } } }
            try await group.waitForAll()
        }
        let nats = try await TestNATS.start(config: "jetstream {}\n", environment: [:])
        let connection = try await NATSConnection.connect(NATSConnectOptions(urls: [nats.url], name: "starve"), logger: Logger(label: "test"))
        let js = try connection.jetStream()
        _ = try await js.addOrUpdateStream(StreamConfig(name: "STARVE", subjects: ["starve.>"], retention: .workQueue, storage: .memory))
        var subscriptions: [PullSubscription] = []
        for index in 0..<8 {
            _ = try await js.addOrUpdateConsumer(stream: "STARVE", ConsumerConfig(durable: "c\(index)", filterSubject: "starve.\(index)", ackWait: .seconds(30), maxAckPending: 10))
            subscriptions.append(try await js.pullSubscribe(stream: "STARVE", consumer: "c\(index)"))
        }
        let pulls = subscriptions
        let (worst, elapsed) = try await CooperativeLatency.bestWorstLateness {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 { group.addTask { _ = try await pool.withConnection { try $0.query("SELECT pg_sleep(0.5)") } } }
                for subscription in pulls { group.addTask { _ = try await subscription.fetch(max: 10, timeout: .milliseconds(500)) } }
                try await group.waitForAll()
            }
        }
        // Starved, a sleep would wake only after a blocking call (~500 ms); see `notStarvedBound`.
        #expect(worst < CooperativeLatency.notStarvedBound, "worst lateness \(worst)")
        #expect(elapsed < .milliseconds(1500), "blocking calls ran one after another: \(elapsed)")
        connection.close()
        await nats.stop()
        await pool.close()
    }
}
