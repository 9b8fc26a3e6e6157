import AriaLocalCluster
import AriaNATS
import AriaTestSupport
import Foundation
import Logging
import Testing

/// Every test against real servers runs in this one serialised suite (extended in the other files), so
/// the latency measurements are not disturbed by the other tests.
@Suite(.serialized) struct NATSIntegrationTests {}

// MARK: - Core NATS

extension NATSIntegrationTests {
    /// Publishing with and without headers reaches a wildcard subscriber with subject, payload and headers
    /// intact, each stamped with its receipt time in delivery order.
    @Test func publishSubscribeWithHeaders() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let subscription = try connection.subscribe("demo.>")
            let beforePublish = Date()
            try connection.publish("demo.one", "hi".bytes, headers: [("X-Trace", "abc"), ("X-Multi", "1"), ("X-Multi", "2")])
            try connection.publish("demo.two", "plain".bytes)
            var iterator = subscription.makeAsyncIterator()

            let first = try #require(await iterator.next())
            #expect(first.subject == "demo.one")
            #expect(first.payload.text == "hi")
            #expect(first.header("X-Trace") == "abc")
            #expect(first.header("x-trace") == "abc")
            #expect(first.headers.filter { $0.0 == "X-Multi" }.map(\.1) == ["1", "2"])
            #expect(first.reply == nil)
            #expect(first.metadata == nil)

            let second = try #require(await iterator.next())
            #expect(second.subject == "demo.two")
            #expect(second.payload.text == "plain")
            #expect(second.headers.isEmpty)
            let afterReceipt = Date()
            #expect(beforePublish <= first.receivedAt && first.receivedAt <= second.receivedAt && second.receivedAt <= afterReceipt)
        }
    }

    /// Request/reply carries headers both ways, replies go to the requester's custom inbox prefix, and concurrent requests share one reply subscription.
    @Test func requestReplyWithHeadersUsesTheInboxPrefix() async throws {
        try await withNATS { nats in
            let responder = try await nats.admin(name: "responder") { $0.sendAsap = true }
            let requester = try await nats.worker()
            defer {
                responder.close()
                requester.close()
            }
            let requests = try responder.subscribe("svc.echo", queue: "echoers")
            try await responder.flush(timeout: .seconds(2))
            let serving = Task {
                for await request in requests {
                    #expect(request.reply?.hasPrefix(NATSFixture.workerInbox + ".") == true)
                    try request.respond(
                        Array(request.payload.reversed()), headers: [("X-Echo", request.header("X-Request") ?? "missing")])
                }
            }
            defer { serving.cancel() }

            let reply = try await requester.request("svc.echo", "abc".bytes, headers: [("X-Request", "r1")], timeout: .seconds(2))
            #expect(reply.payload.text == "cba")
            #expect(reply.header("X-Echo") == "r1")

            // Many concurrent requests share one reply subscription.
            let replies = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        let reply = try await requester.request("svc.echo", "\(index)".bytes, timeout: .seconds(5))
                        return reply.payload.text == String("\(index)".reversed())
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(replies.count == 50 && replies.allSatisfy { $0 })
            #expect(requester.newInbox().hasPrefix(NATSFixture.workerInbox + "."))
        }
    }

    /// A request to a subject nobody subscribes to fails at once with `.noResponders`.
    @Test func requestWithoutRespondersFailsFast() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let started = ContinuousClock.now
            let error = await #expect(throws: NATSError.self) {
                _ = try await connection.request("nobody.home", [], timeout: .seconds(5))
            }
            #expect(error?.code == .noResponders)
            #expect(error?.subject == "nobody.home")
            #expect(ContinuousClock.now - started < .seconds(1))
        }
    }

    /// A request whose subscriber never answers fails with `.timeout` after the timeout.
    @Test func requestTimesOutWhenNobodyAnswers() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let silent = try connection.subscribe("svc.silent")
            try await connection.flush(timeout: .seconds(2))
            let started = ContinuousClock.now
            let error = await #expect(throws: NATSError.self) {
                _ = try await connection.request("svc.silent", [], timeout: .milliseconds(300))
            }
            let elapsed = ContinuousClock.now - started
            #expect(error?.code == .timeout)
            // Not before the timeout; the upper bound only catches a timeout that is ignored (a loaded
            // 2-core CI machine running the suite in parallel once took over 2 s to come back).
            #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(10))
            silent.unsubscribe()
        }
    }

    /// A forbidden publish is reported asynchronously as an `.error(.notPermitted)` event naming the subject.
    @Test func permissionViolationIsReportedAsAnEvent() async throws {
        try await withNATS { nats in
            let worker = try await nats.worker()
            defer { worker.close() }
            let events = worker.events
            try worker.publish("forbidden.subject", "x".bytes)
            let error = try await firstEvent(events, within: .seconds(5), "permission violation") { event -> NATSError? in
                if case .error(let error) = event, error.code == .notPermitted { return error }
                return nil
            }
            #expect(error.subject == "forbidden.subject")
            #expect(worker.isConnected)
        }
    }

    /// A subscriber that does not keep up keeps the first `bufferLimit` messages and counts the dropped rest.
    @Test func fullSubscriptionBufferDropsAndCounts() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let subscription = try connection.subscribe("flood", bufferLimit: 10)
            for index in 0..<100 { try connection.publish("flood", "\(index)".bytes) }
            // The server sends our own deliveries before the flush's PONG; the drain then waits until nats.c
            // has handed everything it received to the buffer.
            try await connection.flush(timeout: .seconds(2))
            try await subscription.drain(timeout: .seconds(5))
            var received: [String] = []
            for await message in subscription { received.append(message.payload.text) }
            #expect(received == (0..<10).map(String.init))
            #expect(subscription.droppedCount == 90)
        }
    }

    /// Closing the connection ends its subscriptions' sequences and sends `.closed`.
    @Test func subscriptionEndsWhenTheConnectionCloses() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            let subscription = try connection.subscribe("anything")
            let events = connection.events
            connection.close()
            var iterator = subscription.makeAsyncIterator()
            #expect(await iterator.next() == nil)
            _ = try await firstEvent(events, within: .seconds(5), "closed") { event -> Bool? in
                if case .closed = event { return true }
                return nil
            }
            #expect(connection.isClosed)
            #expect(throws: NATSError.self) { try connection.publish("anything", []) }
        }
    }

    /// Draining delivers what was in flight, then closes the connection.
    @Test func drainClosesTheConnection() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            let subscription = try connection.subscribe("work")
            try connection.publish("work", "last".bytes)
            try await connection.drain(timeout: .seconds(5))
            #expect(connection.isClosed)
            var received: [String] = []
            for await message in subscription { received.append(message.payload.text) }
            #expect(received == ["last"])
        }
    }

    /// A wrong password and an unreachable server both fail with `.connectionFailed`; the password is redacted.
    @Test func connectFailuresAreTyped() async throws {
        try await withNATS { nats in
            let wrongPassword = NATSConnectOptions(urls: [nats.server.url], user: "admin", password: "wrong", name: "intruder")
            let authError = await #expect(throws: NATSError.self) {
                _ = try await NATSConnection.connect(wrongPassword, logger: nats.logger)
            }
            #expect(authError?.code == .connectionFailed)
            #expect(!wrongPassword.description.contains("wrong"))

            let port = try FreePort.find()
            let nobody = NATSConnectOptions(urls: ["nats://127.0.0.1:\(port)"], name: "lonely")
            let noServerError = await #expect(throws: NATSError.self) {
                _ = try await NATSConnection.connect(nobody, logger: nats.logger)
            }
            #expect(noServerError?.code == .connectionFailed)
        }
    }

    /// With `retryOnFailedConnect`, connecting before the server is up returns a connection that
    /// connects (and sends what was published meanwhile) once the server starts.
    @Test func retriesAFailedFirstConnect() async throws {
        let port = try FreePort.find()
        var options = NATSConnectOptions(
            urls: ["nats://127.0.0.1:\(port)"], user: "admin", password: NATSFixture.adminPassword, name: "early")
        options.retryOnFailedConnect = true
        options.connectTimeout = .milliseconds(500)
        let connection = try await NATSConnection.connect(options, logger: Logger(label: "aria.nats.tests"))
        defer { connection.close() }
        #expect(!connection.isConnected)
        let events = connection.events
        try connection.publish("early.bird", "buffered".bytes)

        let nats = try await NATSFixture.start(port: port)
        do {
            _ = try await firstEvent(events, within: .seconds(10), "connected") { event -> Bool? in
                if case .reconnected = event { return true }
                return nil
            }
            #expect(connection.isConnected)
            let reply = try await withDeadline(.seconds(5), "request after delayed connect") {
                let responder = try await nats.admin(name: "responder")
                defer { responder.close() }
                let requests = try responder.subscribe("svc.late")
                try await responder.flush(timeout: .seconds(2))
                let serving = Task { for await request in requests { try request.respond("pong".bytes) } }
                defer { serving.cancel() }
                return try await connection.request("svc.late", [], timeout: .seconds(2))
            }
            #expect(reply.payload.text == "pong")
        } catch {
            await nats.shutdown()
            throw error
        }
        await nats.shutdown()
    }

    /// After a server restart the connection reports disconnected then reconnected, subscriptions and publishing work again, and JetStream data survived.
    @Test func reconnectsAfterServerRestart() async throws {
        try await withNATS { nats in
            let connection = try await nats.admin()
            defer { connection.close() }
            let js = try connection.jetStream()
            _ = try await js.addOrUpdateStream(StreamConfig(name: "KEEP", subjects: ["keep.>"]))
            _ = try await js.publish("keep.one", "before".bytes)
            let events = connection.events
            let subscription = try connection.subscribe("after.restart")

            try await nats.server.restart()

            _ = try await firstEvent(events, within: .seconds(10), "disconnected") { event -> Bool? in
                if case .disconnected = event { return true }
                return nil
            }
            _ = try await firstEvent(events, within: .seconds(10), "reconnected") { event -> Bool? in
                if case .reconnected = event { return true }
                return nil
            }
            #expect(connection.isConnected)

            // The subscription was restored and publishing works again.
            try connection.publish("after.restart", "again".bytes)
            var iterator = subscription.makeAsyncIterator()
            #expect(await iterator.next()?.payload.text == "again")

            // JetStream data survived (same store directory).
            _ = try await js.publish("keep.two", "after".bytes)
            let info = try await js.streamInfo("KEEP")
            #expect(info.messages == 2)
        }
    }
}

// MARK: - Local server management

extension NATSIntegrationTests {
    /// `nats-server -t` accepts the fixture's configuration and rejects a broken one.
    @Test func validatesConfigurationFiles() throws {
        let directory = try TestNATS.makeTemporaryDirectory(prefix: "aria-nats-config")
        defer { try? FileManager.default.removeItem(at: directory) }
        let valid = directory.appendingPathComponent("valid.conf")
        try NATSFixture.config.write(to: valid, atomically: true, encoding: .utf8)
        try NATSServer.validateConfig(valid, environment: ["ADMIN_PASS": "a", "WORKER_PASS": "w"])

        let invalid = directory.appendingPathComponent("invalid.conf")
        try "accounts { APP { users: [ { user: 1 } ".write(to: invalid, atomically: true, encoding: .utf8)
        #expect(throws: LocalClusterError.self) {
            try NATSServer.validateConfig(invalid, environment: [:])
        }
    }
}
