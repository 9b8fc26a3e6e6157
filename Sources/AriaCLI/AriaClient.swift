import AriaBus
import AriaCore
import AriaNATS
import Foundation
import Logging

/// A tenant's client of the bus API: submit jobs (durable or confirmed), read runs, follow events.
/// Used by the CLI, the benchmark and the end-to-end tests; any NATS client can do the same.
public final class AriaClient: Sendable {
    /// The tenant this client acts for.
    public let tenant: TenantID
    /// The underlying connection (tenant user, tenant inbox prefix).
    public let nats: NATSConnection
    let jetStream: JetStreamContext

    /// Connects as `tenant` with its NATS credentials.
    public init(tenant: TenantID, urls: [String], user: String, password: String?, logger: Logger) async throws {
        self.tenant = tenant
        var options = NATSConnectOptions(urls: urls, user: user, password: password, name: "aria-client-\(tenant)",
                                         inboxPrefix: Subjects.inboxPrefix(tenant))
        options.sendAsap = true
        nats = try await NATSConnection.connect(options, logger: logger)
        jetStream = try nats.jetStream()
    }

    /// Builds a `job.submit` message.
    public static func jobMessage(agent: String, goal: String? = nil, plan: JSONValue? = nil, template: String? = nil, params: JSONValue? = nil, tenant: String? = nil) -> [UInt8] {
        var body: [String: JSONValue] = ["agent": .string(agent)]
        if let goal { body["goal"] = .string(goal) }
        if let plan { body["plan"] = plan }
        if let template { body["template"] = .string(template) }
        if let params { body["params"] = params }
        var envelope: [String: JSONValue] = ["type": "job.submit", "version": 1, "body": .object(body)]
        if let tenant { envelope["tenant"] = .string(tenant) }
        return JSONValue.object(envelope).serialized()
    }

    /// Confirmed submission: `create_job` request, answered once the run is committed.
    public func createJob(_ message: [UInt8], idempotencyKey: String?, timeout: Duration = .seconds(10)) async throws -> APIReply {
        var headers: [(String, String)] = []
        if let idempotencyKey { headers.append((AriaHeader.idempotencyKey, idempotencyKey)) }
        let reply = try await nats.request(Subjects.api(tenant, .createJob), message, headers: headers, timeout: timeout)
        return try Wire.decode(APIReply.self, from: reply.payload)
    }

    /// Durable submission: publish on the tenant's submit stream; returns the JetStream acknowledgement.
    /// A full stream (JetStream 10077 "maximum messages exceeded", 10047/10039 storage limits) is reported as
    /// `overloaded`.
    public func publishJob(_ message: [UInt8], idempotencyKey: String?, messageID: String? = nil) async throws -> PublishAck {
        var headers: [(String, String)] = []
        if let idempotencyKey { headers.append((AriaHeader.idempotencyKey, idempotencyKey)) }
        do {
            return try await jetStream.publish(Subjects.submit(tenant), message, headers: headers, messageID: messageID)
        } catch let error as NATSError where [10077, 10047, 10039, 10028].contains(error.jetStreamErrorCode ?? 0) {
            throw AriaError(.overloaded, "the submit stream is full (\(error.message)); retry later", category: .transient)
        }
    }

    /// Durable submission without waiting for the acknowledgement (benchmarks); confirm with
    /// ``publishAsyncComplete()``.
    public func publishJobAsync(_ message: [UInt8], idempotencyKey: String?, messageID: String? = nil) throws {
        var headers: [(String, String)] = []
        if let idempotencyKey { headers.append((AriaHeader.idempotencyKey, idempotencyKey)) }
        try jetStream.publishAsync(Subjects.submit(tenant), message, headers: headers, messageID: messageID)
    }

    /// Waits for every pending asynchronous publish; throws if any failed.
    public func publishAsyncComplete(timeout: Duration = .seconds(30)) async throws {
        let failures = try await jetStream.publishAsyncComplete(timeout: timeout)
        if let first = failures.first {
            throw AriaError(.overloaded, "\(failures.count) publishes failed, e.g. \(first.error)", category: .transient)
        }
    }

    /// Reads a run through the gateway.
    public func getRun(_ run: RunID, timeout: Duration = .seconds(5)) async throws -> APIReply {
        let body = JSONValue.object(["run": .string(run.description)]).serialized()
        let reply = try await nats.request(Subjects.api(tenant, .getRun), body, timeout: timeout)
        return try Wire.decode(APIReply.self, from: reply.payload)
    }

    /// Cancels a run through the gateway.
    public func cancelRun(_ run: RunID, reason: String? = nil, timeout: Duration = .seconds(10)) async throws -> APIReply {
        var body: [String: JSONValue] = ["run": .string(run.description)]
        if let reason { body["reason"] = .string(reason) }
        let reply = try await nats.request(Subjects.api(tenant, .cancelRun), JSONValue.object(body).serialized(), timeout: timeout)
        return try Wire.decode(APIReply.self, from: reply.payload)
    }

    /// Reruns an ended run through the gateway; the reply's `run` is the new run.
    public func rerunRun(_ run: RunID, mode: RerunMode, timeout: Duration = .seconds(10)) async throws -> APIReply {
        let body = JSONValue.object(["run": .string(run.description), "mode": .string(mode.rawValue)]).serialized()
        let reply = try await nats.request(Subjects.api(tenant, .rerunRun), body, timeout: timeout)
        return try Wire.decode(APIReply.self, from: reply.payload)
    }

    /// Reads a run's events after `afterSeq` through the gateway.
    public func events(_ run: RunID, afterSeq: Int64 = 0, timeout: Duration = .seconds(5)) async throws -> [Envelope<RunEventBody>] {
        let body = JSONValue.object(["run": .string(run.description), "after_seq": .int(afterSeq)]).serialized()
        let reply = try await nats.request(Subjects.api(tenant, .runEvents), body, timeout: timeout)
        let decoded = try Wire.decode(APIReply.self, from: reply.payload)
        if let error = decoded.error { throw error }
        return decoded.events ?? []
    }

    /// Subscribes to this tenant's events of one kind, for every run (core NATS; subscribe before submitting).
    public func subscribeEvents(kind: RunEventKind) throws -> NATSSubscription {
        try nats.subscribe("aria.t.\(tenant).events.*.\(kind.rawValue)", bufferLimit: 65_536)
    }

    /// Subscribes to all of this tenant's events (core NATS; subscribe before submitting).
    public func subscribeEvents() throws -> NATSSubscription {
        try nats.subscribe(Subjects.allEvents(tenant), bufferLimit: 65_536)
    }

    /// Follows one run until its terminal event: live events from `subscription`, with gaps filled from
    /// the stored history, delivered in `seq` order exactly once each.
    public func watch(_ run: RunID, subscription: NATSSubscription? = nil, timeout: Duration = .seconds(60), onEvent: (Envelope<RunEventBody>) -> Void) async throws -> Envelope<RunEventBody> {
        enum Input: Sendable { case event(Envelope<RunEventBody>), tick }
        let live = try subscription ?? nats.subscribe(Subjects.runEvents(tenant, run: run), bufferLimit: 4096)
        let (inputs, feed) = AsyncStream.makeStream(of: Input.self)
        let listener = Task {
            for await message in live {
                if let event = try? Wire.decode(Envelope<RunEventBody>.self, from: message.payload), event.run == run {
                    feed.yield(.event(event))
                }
            }
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                feed.yield(.tick)
            }
        }
        defer {
            listener.cancel()
            ticker.cancel()
            feed.finish()
            if subscription == nil { live.unsubscribe() }
        }
        var nextSeq: Int64 = 1
        var buffered: [Int64: Envelope<RunEventBody>] = [:]
        let deadline = ContinuousClock.now + timeout
        func deliverInOrder() -> Envelope<RunEventBody>? {
            while let event = buffered.removeValue(forKey: nextSeq) {
                onEvent(event)
                nextSeq += 1
                if event.body.kind.isTerminal { return event }
            }
            return nil
        }
        func fillFromHistory() async throws {
            for event in try await events(run, afterSeq: nextSeq - 1) where (event.seq ?? 0) >= nextSeq {
                buffered[event.seq ?? 0] = event
            }
        }
        try await fillFromHistory()
        if let terminal = deliverInOrder() { return terminal }
        for await input in inputs {
            switch input {
            case .event(let event):
                if let seq = event.seq, seq >= nextSeq { buffered[seq] = event }
                // A gap means we subscribed after some events were published: read them from history.
                if !buffered.isEmpty, buffered[nextSeq] == nil { try await fillFromHistory() }
            case .tick:
                if ContinuousClock.now >= deadline {
                    throw AriaError(.internal, "run \(run) did not end within \(timeout)", category: .transient)
                }
                try await fillFromHistory()
            }
            if let terminal = deliverInOrder() { return terminal }
        }
        throw AriaError(.internal, "event stream ended", category: .transient)
    }

    /// Closes the connection.
    public func close() async {
        try? await nats.drain(timeout: .seconds(2))
    }
}
