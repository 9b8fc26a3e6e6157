import AriaBus
import AriaCLI
import AriaCore
import AriaNATS
import AriaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// One cluster with two of every service, shared by the tests that do not break it.
enum Shared {
    static let cluster = SharedCluster {
        try await TestCluster.start(
            name: "shared", tenants: ["demo", "acme"], natsOnlyTenants: ["ghost"],
            environment: ["ARIA_MAX_JOB_BYTES": "65536", "ARIA_BUS_SUBMIT_DEDUPE_WINDOW": "2s", "ARIA_HTTP_ALLOW_CIDRS": "127.0.0.1/32"])
    }

    static func get() async throws -> LocalCluster { try await cluster.cluster() }

    static func client(_ tenant: String = "demo") async throws -> AriaClient {
        try await get().client(tenant: TenantID(trusted: tenant), logger: quietLogger)
    }
}

@Suite("End to end: shared cluster", .serialized)
struct SharedClusterTests {
    @Test("a template job runs through gateway, planner, scheduler and worker processes")
    func templateJobSucceeds() async throws {
        let client = try await Shared.client()
        let reply = try await client.createJob(AriaClient.jobMessage(agent: "demo", template: "echo_chain", params: ["message": "hi"]), idempotencyKey: nil)
        let run = try #require(reply.run)
        var kinds: [RunEventKind] = []
        let terminal = try await client.watch(run, timeout: .seconds(30)) { kinds.append($0.body.kind) }
        #expect(terminal.body.kind == .succeeded)
        #expect(kinds == [.accepted, .planned, .stepStarted, .stepSucceeded, .stepStarted, .stepSucceeded, .stepStarted, .stepSucceeded, .succeeded])
        #expect(terminal.body.output == ["result": ["message": "hi", "waited_ms": 10]])
        let view = try #require(try await client.getRun(run).runView)
        #expect(view.status == .succeeded && view.steps.map(\.status) == [.succeeded, .succeeded, .succeeded])
        await client.close()
    }

    @Test("200 jobs through both submission paths each end exactly once, with gapless events")
    func twoHundredJobs() async throws {
        let cluster = try await Shared.get()
        let client = try await Shared.client()
        let collector = EventCollector(try client.subscribeEvents())
        let batch = UUID().uuidString.prefix(8)
        var runs: [RunID] = []
        // Durable path: 100 publishes; the run ids come back on the accepted events (matched by key).
        for index in 0..<100 {
            _ = try await client.publishJob(echoJob("d\(index)"), idempotencyKey: "e2e-\(batch)-d\(index)")
        }
        // Confirmed path: 100 requests, 10 at a time.
        try await withThrowingTaskGroup(of: RunID.self) { group in
            for index in 0..<100 {
                if index >= 10 { runs.append(try await group.next()!) }
                group.addTask {
                    let reply = try await client.createJob(echoJob("c\(index)"), idempotencyKey: "e2e-\(batch)-c\(index)")
                    return try #require(reply.run)
                }
            }
            for try await run in group { runs.append(run) }
        }
        for index in 0..<100 {
            let accepted = try await collector.waitForKey("e2e-\(batch)-d\(index)", kinds: [.accepted])
            runs.append(try #require(accepted.run))
        }
        #expect(Set(runs).count == 200)
        let terminal = try await collector.waitForTerminal(runs, timeout: .seconds(120))
        #expect(terminal.values.allSatisfy { $0.body.kind == .succeeded })
        // Each terminal event names its job's idempotency key, so a submitter can follow outcomes alone.
        let keys = (0..<100).flatMap { ["e2e-\(batch)-d\($0)", "e2e-\(batch)-c\($0)"] }
        #expect(terminal.values.compactMap(\.body.idempotencyKey).sorted() == keys.sorted())
        let ids = "{" + runs.map(\.description).joined(separator: ",") + "}"
        // Exactly one terminal event per run, and seq 1...n without gaps, in the store.
        #expect(try await scalar(cluster, "SELECT count(*) FROM run_events WHERE run_id = ANY($1::uuid[]) AND kind IN ('succeeded','failed','rejected')", [ids]) == "200")
        #expect(try await scalar(cluster, """
            SELECT count(*) FROM (SELECT run_id FROM run_events WHERE run_id = ANY($1::uuid[]) GROUP BY run_id
                                  HAVING min(seq) = 1 AND max(seq) = count(*) AND count(*) = 5) ok
            """, [ids]) == "200")
        #expect(try await scalar(cluster, "SELECT count(*) FROM runs WHERE idempotency_key LIKE $1", ["e2e-\(batch)-%"]) == "200")
        // Each one-step echo job ran once, in the gateway's transaction that recorded it (inline execution),
        // unless that transaction recorded more runs than a gateway executes inline (32 steps): a burst
        // fetched at once, which the rest of the job's steps leave to a worker. The transaction that
        // recorded a run is the one that wrote its `accepted` event (never updated, unlike the run's row).
        #expect(try await scalar(cluster, "SELECT count(*) FROM step_attempts WHERE run_id = ANY($1::uuid[])", [ids]) == "200")
        #expect(try await scalar(cluster, "SELECT count(*) FROM step_attempts WHERE run_id = ANY($1::uuid[]) AND worker LIKE 'gateway-%'", [ids]) != "0")
        #expect(try await scalar(cluster, """
            SELECT count(*) FROM run_events e JOIN step_attempts a ON a.run_id = e.run_id
            WHERE e.seq = 1 AND e.run_id = ANY($1::uuid[]) AND a.worker NOT LIKE 'gateway-%'
              AND (SELECT count(*) FROM run_events o WHERE o.seq = 1 AND o.xmin = e.xmin) <= 32
            """, [ids]) == "0", "a step went to a worker although its run's transaction was within the inline limit")
        // The published events of each run arrived gapless too.
        for run in runs.prefix(20) {
            #expect(collector.events(run: run).compactMap(\.seq).sorted() == [1, 2, 3, 4, 5])
        }
        await client.close()
    }

    @Test("idempotency: repeated keys, concurrent duplicates, conflicts, and a repeat after the dedupe window")
    func idempotency() async throws {
        let cluster = try await Shared.get()
        let client = try await Shared.client()
        let collector = EventCollector(try client.subscribeEvents())
        let key = "idem-\(UUID().uuidString.prefix(8))"
        // The same key with distinct Nats-Msg-Ids: the bus delivers all three, Postgres keeps one run.
        for index in 0..<3 { _ = try await client.publishJob(echoJob("same"), idempotencyKey: key, messageID: "\(key)-m\(index)") }
        let accepted = try await collector.waitForKey(key, kinds: [.accepted])
        let run = try #require(accepted.run)
        // Concurrent duplicates through the API (queue group over two gateways).
        let replies = try await withThrowingTaskGroup(of: APIReply.self) { group in
            for _ in 0..<20 { group.addTask { try await client.createJob(echoJob("same"), idempotencyKey: key) } }
            var all: [APIReply] = []
            for try await reply in group { all.append(reply) }
            return all
        }
        #expect(replies.allSatisfy { $0.ok && $0.run == run && $0.duplicate == true })
        // Same key, different payload: a typed conflict naming the existing run, on both paths.
        let conflict = try await client.createJob(echoJob("different"), idempotencyKey: key)
        #expect(conflict.ok == false && conflict.error?.code == .idempotencyConflict && conflict.error?.details["existing_run"] == run.description)
        _ = try await client.publishJob(echoJob("different"), idempotencyKey: key)
        let rejected = try await collector.waitForKey(key, kinds: [.rejected])
        #expect(rejected.body.error?.code == .idempotencyConflict)
        #expect(rejected.body.error?.details["existing_run"] == run.description)
        // Wait for the three deliveries to be processed, then count.
        _ = try await collector.waitForTerminal([run])
        #expect(try await scalar(cluster, "SELECT count(*) FROM runs WHERE tenant_id = 'demo' AND idempotency_key = $1", [key]) == "1")
        #expect(collector.events(key: key).filter { $0.body.kind == .accepted }.count == 1)

        // A repeat after the (shortened, 2 s) dedupe window reaches the gateway again and maps to the same run.
        let key2 = key + "-window"
        let first = try await client.publishJob(echoJob("window"), idempotencyKey: key2, messageID: key2)
        let insideWindow = try await client.publishJob(echoJob("window"), idempotencyKey: key2, messageID: key2)
        #expect(first.duplicate == false && insideWindow.duplicate == true)
        let windowRun = try #require(try await collector.waitForKey(key2, kinds: [.accepted]).run)
        try await Task.sleep(for: .milliseconds(2500))  // the condition under test: the window has passed
        let afterWindow = try await client.publishJob(echoJob("window"), idempotencyKey: key2, messageID: key2)
        #expect(afterWindow.duplicate == false)
        let admin = try await cluster.natsConnection(user: "admin", logger: quietLogger)
        _ = try await until(timeout: .seconds(10), "the gateway consumer to drain") { () -> Bool? in
            let info = try await admin.jetStream().consumerInfo(stream: Streams.submit, consumer: Consumers.gateway)
            return info.deliveredStreamSequence >= afterWindow.sequence && info.numAckPending == 0 ? true : nil
        }
        admin.close()
        #expect(try await scalar(cluster, "SELECT count(*) FROM runs WHERE idempotency_key = $1", [key2]) == "1")
        #expect(try await scalar(cluster, "SELECT run_id::text FROM runs WHERE idempotency_key = $1", [key2]) == windowRun.description)
        await client.close()
    }

    @Test("bad input gets a typed reason as a rejected event or an error reply, and nothing crashes")
    func badInputGetsTypedReasons() async throws {
        let cluster = try await Shared.get()
        let client = try await Shared.client()
        let collector = EventCollector(try client.subscribeEvents())
        let prefix = "bad-\(UUID().uuidString.prefix(8))"
        let cases: [(String, [UInt8], ErrorCode)] = [
            ("malformed", Array("{\"type\": \"job.submit\", ".utf8), .malformedJSON),
            ("unknownfield", Array(#"{"type":"job.submit","version":1,"body":{"agent":"demo","plan":{"steps":[]},"colour":"red"}}"#.utf8), .invalidJob),
            ("oversized", echoJob(String(repeating: "x", count: 70_000)), .payloadTooLarge),
            ("mismatch", echoJob("x", tenant: "acme"), .tenantMismatch),
            ("version", Array(#"{"type":"job.submit","version":2,"body":{"agent":"demo","template":"hello"}}"#.utf8), .unsupportedVersion),
            ("skill", planJob([["step_id": "a", "skill": "teleport"]]), .unknownSkill),
            ("cycle", planJob([["step_id": "a", "skill": "echo", "depends_on": ["b"]], ["step_id": "b", "skill": "echo", "depends_on": ["a"]]]), .invalidPlan),
            ("params", planJob([["step_id": "a", "skill": "sleep"]]), .invalidParams),
        ]
        for (name, payload, _) in cases {
            _ = try await client.publishJob(payload, idempotencyKey: "\(prefix)-\(name)")
        }
        for (name, _, code) in cases {
            let event = try await collector.waitForKey("\(prefix)-\(name)", kinds: [.rejected, .accepted])
            #expect(event.body.kind == .rejected, "\(name)")
            #expect(event.body.error?.code == code, "\(name): \(String(describing: event.body.error))")
        }
        #expect(try await scalar(cluster, "SELECT count(*) FROM rejections WHERE idempotency_key LIKE $1", ["\(prefix)-%"]) == String(cases.count))
        // The same checks on the confirmed path answer with the code.
        for (name, payload, code) in cases {
            let reply = try await client.createJob(payload, idempotencyKey: "\(prefix)-api-\(name)")
            #expect(reply.ok == false && reply.error?.code == code, "api \(name)")
        }
        // An unknown template is accepted, then rejected by the planner as a run.
        let template = try await client.createJob(AriaClient.jobMessage(agent: "demo", template: "no_such_template"), idempotencyKey: "\(prefix)-template")
        let templateRun = try #require(template.run)
        let ended = try await collector.waitForTerminal([templateRun])
        #expect(ended[templateRun]?.body.kind == .rejected && ended[templateRun]?.body.error?.code == .unknownTemplate)
        #expect(ended[templateRun]?.body.idempotencyKey == "\(prefix)-template")
        // A tenant with NATS credentials but no tenants row.
        let ghost = try await Shared.client("ghost")
        let ghostEvents = EventCollector(try ghost.subscribeEvents())
        _ = try await ghost.publishJob(echoJob("boo"), idempotencyKey: "\(prefix)-ghost")
        let ghostRejected = try await ghostEvents.waitForKey("\(prefix)-ghost", kinds: [.rejected])
        #expect(ghostRejected.body.error?.code == .unknownTenant)
        let ghostReply = try await ghost.createJob(echoJob("boo"), idempotencyKey: nil)
        #expect(ghostReply.error?.code == .unknownTenant)
        await ghost.close()
        // Nothing crashed, and the cluster still works.
        #expect(servicesRunning(cluster))
        let after = try await client.createJob(echoJob("still alive"), idempotencyKey: nil)
        let done = try await collector.waitForTerminal([try #require(after.run)])
        #expect(done.values.first?.body.kind == .succeeded)
        await client.close()
    }

    @Test("a failing skill fails its run with skill_failed; a slow step fails with step_timeout")
    func failingJobsFail() async throws {
        let client = try await Shared.client()
        let collector = EventCollector(try client.subscribeEvents())
        let fail = try #require(try await client.createJob(planJob([
            ["step_id": "ok", "skill": "echo"], ["step_id": "boom", "skill": "fail", "depends_on": ["ok"], "params": ["message": "kaput"]],
            ["step_id": "never", "skill": "echo", "depends_on": ["boom"]]]), idempotencyKey: nil).run)
        let slow = try #require(try await client.createJob(planJob([
            ["step_id": "nap", "skill": "sleep", "timeout": "200ms", "params": ["duration": "5s"]]]), idempotencyKey: nil).run)
        let ended = try await collector.waitForTerminal([fail, slow])
        #expect(ended[fail]?.body.kind == .failed && ended[fail]?.body.error?.code == .skillFailed && ended[fail]?.body.error?.message == "kaput")
        #expect(ended[slow]?.body.kind == .failed && ended[slow]?.body.error?.code == .stepTimeout)
        let view = try #require(try await client.getRun(fail).runView)
        #expect(view.steps.map(\.status) == [.succeeded, .failed, .skipped])
        #expect(collector.events(run: fail).contains { $0.body.kind == .stepFailed && $0.body.step == StepID(trusted: "boom") })
        await client.close()
    }

    @Test("an undecodable internal message is dead-lettered with its payload; the scheduler keeps working")
    func undecodableInternalMessageIsDeadLettered() async throws {
        let cluster = try await Shared.get()
        let admin = try await cluster.natsConnection(user: "admin", logger: quietLogger)
        let marker = "garbage-\(UUID().uuidString.prefix(8))"
        _ = try await admin.jetStream().publish(Subjects.scheduleIntake, Array("not json \(marker)".utf8))
        _ = try await admin.jetStream().publish(Subjects.workIntake(pool: "default"), Array(#"{"type":"step.dispatch","version":1}"#.utf8))
        let row = try await until(timeout: .seconds(10), "a dead letter") {
            try await query(cluster, "SELECT consumer, error->>'code' AS code, convert_from(payload, 'UTF8') AS payload FROM dead_letters WHERE convert_from(payload, 'UTF8') LIKE $1", ["%\(marker)%"]).first
        }
        #expect(row["consumer"] == Consumers.scheduler && row["code"] == "undecodable_message")
        _ = try await until(timeout: .seconds(10), "the worker's dead letter") {
            try await scalar(cluster, "SELECT error->>'code' FROM dead_letters WHERE consumer = 'worker_default'")
        }
        admin.close()
        let client = try await Shared.client()
        let run = try #require(try await client.createJob(echoJob("after garbage"), idempotencyKey: nil).run)
        #expect(try await client.watch(run, timeout: .seconds(20)) { _ in }.body.kind == .succeeded)
        #expect(servicesRunning(cluster))
        await client.close()
    }

    @Test("a dispatch sent ahead of a transaction that never committed is retried shortly, then dropped, never dead-lettered")
    func orphanAheadDispatchIsDropped() async throws {
        let cluster = try await Shared.get()
        let admin = try await cluster.natsConnection(user: "admin", logger: quietLogger)
        let ghost = RunID.generate(now: Date())
        let messageID = "ghost-\(ghost)"
        let dispatch = Envelope(type: .stepDispatch, tenant: TenantID(trusted: "demo"), run: ghost, step: StepID(trusted: "a"), createdAt: Date(), traceparent: nil,
                                body: StepDispatchBody(skill: "echo", params: ["message": "never committed"], timeoutMilliseconds: 1000))
        let ack = try await admin.jetStream().publish(Subjects.workIntake(pool: "default"), try Wire.encode(dispatch),
                                                      headers: [(AriaHeader.ahead, "1")], messageID: messageID)
        let consumer = Consumers.worker(pool: "default")
        _ = try await until(timeout: .seconds(30), "the dispatch to be settled") {
            try await admin.jetStream().consumerInfo(stream: Streams.work, consumer: consumer).ackFloorStreamSequence >= ack.sequence ? true : nil
        }
        let logDirectory = cluster.options.stateDirectory.appendingPathComponent("logs")
        let logs = try FileManager.default.contentsOfDirectory(atPath: logDirectory.path).filter { $0.hasPrefix("worker") }
            .map { try String(contentsOf: logDirectory.appendingPathComponent($0), encoding: .utf8) }.joined(separator: "\n")
        let dropped = logs.split(separator: "\n").filter { $0.contains(messageID) && $0.contains("dropped a message whose transaction never committed") }
        #expect(dropped.count == 1)
        #expect(dropped.first?.contains("deliveries=\(Delivery.earlyDeliveries)") == true || dropped.first?.contains("\"deliveries\":\"\(Delivery.earlyDeliveries)\"") == true,
                "it was retried up to the limit: \(dropped.first ?? "")")
        #expect(try await scalar(cluster, "SELECT count(*) FROM dead_letters WHERE convert_from(payload, 'UTF8') LIKE $1", ["%\(ghost)%"]) == "0")
        admin.close()
    }

    @Test("http_call reaches an allowlisted loopback server; other private destinations are refused, directly and via redirect")
    func httpCallAndSSRF() async throws {
        let allowed = try await TestHTTPServer.start(host: "127.0.0.1")
        let forbidden = try await TestHTTPServer.start(host: "127.0.0.2")
        let client = try await Shared.client()
        let collector = EventCollector(try client.subscribeEvents())
        func call(_ url: String) async throws -> RunID {
            try #require(try await client.createJob(planJob([["step_id": "call", "skill": "http_call", "params": ["url": .string(url)]]]), idempotencyKey: nil).run)
        }
        let ok = try await call("\(allowed.baseURL)/status/201")
        let direct = try await call("\(forbidden.baseURL)/status/200")
        let redirected = try await call("\(allowed.baseURL)/redirect?to=\(forbidden.baseURL)/status/200")
        let ended = try await collector.waitForTerminal([ok, direct, redirected])
        #expect(ended[ok]?.body.kind == .succeeded)
        #expect(ended[ok]?.body.output?["call"]?["status"] == 201)
        #expect(ended[direct]?.body.error?.code == .destinationRefused)
        #expect(ended[redirected]?.body.error?.code == .destinationRefused)
        #expect(forbidden.receivedRequests().isEmpty)
        await client.close()
    }

    @Test("json_transform reshapes an earlier step's output")
    func jsonTransformStep() async throws {
        let client = try await Shared.client()
        let run = try #require(try await client.createJob(planJob([
            ["step_id": "data", "skill": "echo", "params": ["people": [["name": "ann", "age": 31], ["name": "bob", "age": 25]]]],
            ["step_id": "shape", "skill": "json_transform", "depends_on": ["data"],
             "params": ["input": "{{steps.data.output}}", "expression": "people[?age > `30`].name"]],
        ]), idempotencyKey: nil).run)
        let terminal = try await client.watch(run, timeout: .seconds(30)) { _ in }
        #expect(terminal.body.kind == .succeeded)
        #expect(terminal.body.output == ["shape": ["result": ["ann"]]])
        await client.close()
    }

    @Test("the gateway executes a run's pure first step while recording it; a non-pure step goes to a worker, which executes the pure step after it")
    func gatewayInlineExecution() async throws {
        let cluster = try await Shared.get()
        let client = try await Shared.client()
        let reply = try await client.createJob(planJob([
            ["step_id": "a", "skill": "echo", "params": ["x": "from the gateway"]],
            ["step_id": "b", "skill": "sleep", "depends_on": ["a"], "params": ["duration": "10ms"]],
            ["step_id": "c", "skill": "echo", "depends_on": ["b"], "params": ["y": "{{steps.a.output.x}}"]],
        ]), idempotencyKey: "gateway-inline-\(UUID().uuidString.prefix(8))")
        let run = try #require(reply.run)
        #expect(reply.status == .running, "started by the gateway, `b` dispatched")
        let terminal = try await client.watch(run, timeout: .seconds(30)) { _ in }
        #expect(terminal.body.kind == .succeeded)
        #expect(terminal.body.output == ["c": ["y": "from the gateway"]])
        let workers = try await query(cluster, "SELECT step_id, worker FROM step_attempts WHERE run_id = $1 ORDER BY step_id", [run.description])
            .map { "\($0["step_id"] ?? ""):\($0["worker"] ?? "")" }
        #expect(workers.count == 3)
        #expect(workers.first?.hasPrefix("a:gateway-") == true, "\(workers)")
        #expect(workers.dropFirst().allSatisfy { $0.contains(":worker-") }, "\(workers)")
        #expect(workers.count == 3 && workers[1].split(separator: ":")[1] == workers[2].split(separator: ":")[1],
                "c ran inline in the transaction of the worker that recorded b")
        // A job of pure steps ends in the transaction that records it: create_job's reply says how.
        let pure = try await client.createJob(planJob([["step_id": "e", "skill": "echo", "params": ["n": 1]]]), idempotencyKey: nil)
        #expect(pure.ok && pure.status == .succeeded && pure.duplicate == false)
        let failing = try await client.createJob(planJob([["step_id": "f", "skill": "fail", "params": ["message": "no"]]]), idempotencyKey: nil)
        #expect(failing.ok && failing.status == .failed, "the job was recorded; its run failed")
        let pureRun = try #require(pure.run)
        #expect(try await client.getRun(pureRun).runView?.status == .succeeded)
        await client.close()
    }

    @Test("API errors: unknown run, unknown verb")
    func apiErrors() async throws {
        let client = try await Shared.client()
        let missing = try await client.getRun(RunID.generate())
        #expect(missing.ok == false && missing.error?.code == .notFound)
        let reply = try await client.nats.request("aria.t.demo.api.frobnicate", Array("{}".utf8), timeout: .seconds(5))
        let decoded = try Wire.decode(APIReply.self, from: reply.payload)
        #expect(decoded.error?.code == .unknownVerb)
        #expect(reply.header(AriaHeader.errorCode) == "unknown_verb")
        await client.close()
    }

    @Test("least privilege: a tenant cannot submit as, read events of, or read replies of another; a worker cannot submit or plan")
    func permissions() async throws {
        let cluster = try await Shared.get()
        let demo = try await Shared.client("demo")
        // Submit as acme: the server refuses the publish (no acme run appears).
        let violation = try await permissionViolation(on: demo.nats) {
            try demo.nats.publish("aria.t.acme.submit", echoJob("sneaky"))
        }
        #expect(violation.message.contains("aria.t.acme.submit") || violation.status.lowercased().contains("permission"))
        // Read acme's events and inbox.
        _ = try await permissionViolation(on: demo.nats) { _ = try demo.nats.subscribe("aria.t.acme.events.>") }
        _ = try await permissionViolation(on: demo.nats) { _ = try demo.nats.subscribe("aria.t.acme.inbox.>") }
        // A worker advances runs (it may dispatch their steps) but may not create them: no submission for a
        // tenant, no plan request.
        let worker = try await cluster.natsConnection(user: "worker", logger: quietLogger)
        _ = try await permissionViolation(on: worker) { try worker.publish("aria.t.demo.submit", echoJob("from a worker")) }
        _ = try await permissionViolation(on: worker) { try worker.publish(Subjects.planIntake, Array("{}".utf8)) }
        worker.close()
        #expect(try await scalar(cluster, "SELECT count(*) FROM runs WHERE tenant_id = 'acme'") == "0")
        // A request whose reply subject points into another tenant's inbox is not answered there.
        let acme = try await Shared.client("acme")
        let stolen = try acme.nats.subscribe("aria.t.acme.inbox.stolen")
        try demo.nats.publish("aria.t.demo.api.get_run", Array(#"{"run":"00000000-0000-7000-8000-000000000000"}"#.utf8), reply: "aria.t.acme.inbox.stolen")
        // A legitimate request from each gateway's point of view has been answered after the bad one was read.
        for _ in 0..<4 { _ = try await demo.getRun(RunID.generate()) }
        try await acme.nats.flush(timeout: .seconds(2))
        #expect(stolen.droppedCount == 0)
        let received = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { for await _ in stolen { return true }; return false }
            group.addTask { try await Task.sleep(for: .milliseconds(500)); return false }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        #expect(received == false)
        await acme.close()
        await demo.close()
    }

    @Test("a service with a missing consumer or a bad setting exits with a typed error")
    func serviceStartupErrors() async throws {
        let cluster = try await Shared.get()
        let noPool = try cluster.startService("worker", index: 90, extraEnvironment: ["ARIA_WORKER_POOL": "nopool"])
        #expect(await noPool.waitForExit(timeout: .seconds(20)))
        #expect(noPool.exitStatus == 1 && noPool.log().contains("bus_not_provisioned"))
        let badSetting = try cluster.startService("gateway", index: 91, extraEnvironment: ["ARIA_FETCH_BATCH": "0"])
        #expect(await badSetting.waitForExit(timeout: .seconds(20)))
        #expect(badSetting.exitStatus == 2 && badSetting.log().contains("invalid_configuration"))
    }
}
