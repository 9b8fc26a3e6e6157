import AriaBus
import AriaCLI
import AriaCore
import AriaLocalCluster
import AriaNATS
import AriaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `aria` command against `cluster` (its `cluster.env`) off the cooperative pool and returns its output.
func runAria(_ cluster: LocalCluster, _ arguments: [String]) async throws -> String {
    let executable = cluster.options.binDirectory.appendingPathComponent("aria").path
    let all = arguments + ["--state-dir", cluster.options.stateDirectory.path]
    return try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try runCommand(executable, all) }) }
    }
}

/// The presence records in the cluster's `ARIA_WORKERS` bucket, read as the admin.
func presence(_ cluster: LocalCluster) async throws -> [WorkerPresence] {
    let admin = try await cluster.natsConnection(user: "admin", logger: quietLogger)
    defer { admin.close() }
    return try await WorkerPresence.all(in: try await admin.jetStream().keyValue(bucket: Buckets.workers))
}

@Suite("End to end: skill pools and worker presence", .serialized)
struct PoolAndPresenceTests {
    @Test("a two-pool plan runs each step on a worker of its pool; a pool-B step waits for a pool-B worker and never runs on pool A")
    func twoPoolPlan() async throws {
        // The gateway executes no pure step itself here: every step goes to a worker of its pool.
        let cluster = try await TestCluster.start(
            name: "pools", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 1],
            environment: ["ARIA_SKILL_POOLS": "sleep=slow", "ARIA_BUS_WORKERS_TTL": "3s", "ARIA_GATEWAY_INLINE_STEPS": "0"], poolWorkers: ["slow": 1])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        let plan = planJob([
            ["step_id": "a", "skill": "echo", "params": ["message": "one"]],
            ["step_id": "b", "skill": "sleep", "depends_on": ["a"], "params": ["duration": "20ms"]],
            ["step_id": "c", "skill": "echo", "depends_on": ["b"], "params": ["message": "{{steps.b.output.slept_ms}}"]],
        ])
        var runs: [RunID] = []
        for _ in 0..<4 { runs.append(try #require(try await client.createJob(plan, idempotencyKey: nil).run)) }
        for run in runs {
            let terminal = try await client.watch(run, timeout: .seconds(30)) { _ in }
            #expect(terminal.body.kind == .succeeded)
            #expect(terminal.body.output == ["c": ["message": 20]])
            #expect(try await attemptHistory(cluster, run: run.description, step: "a") == ["1:succeeded:worker-1"])
            #expect(try await attemptHistory(cluster, run: run.description, step: "b") == ["1:succeeded:worker-slow-1"])
            #expect(try await attemptHistory(cluster, run: run.description, step: "c") == ["1:succeeded:worker-1"])
        }

        // Without a worker of pool `slow`, its step waits in the pool's queue while pool `default` keeps working.
        let slow = try #require(cluster.process("worker-slow-1"))
        slow.signal(SIGTERM)
        #expect(await slow.waitForExit(timeout: .seconds(15)))
        let waiting = try #require(try await client.createJob(plan, idempotencyKey: nil).run)
        _ = try await until(timeout: .seconds(20), "step b to be dispatched") { () -> Bool? in
            try await scalar(cluster, "SELECT status FROM steps WHERE run_id = $1 AND step_id = 'b'", [waiting.description]) == "dispatched" ? true : nil
        }
        let meanwhile = try #require(try await client.createJob(echoJob("still working"), idempotencyKey: nil).run)
        #expect(try await client.watch(meanwhile, timeout: .seconds(20)) { _ in }.body.kind == .succeeded)
        #expect(try await scalar(cluster, "SELECT status FROM steps WHERE run_id = $1 AND step_id = 'b'", [waiting.description]) == "dispatched")
        #expect(try await attemptHistory(cluster, run: waiting.description, step: "b") == [])
        // A pool-B worker comes back and takes the step.
        try cluster.startWorker(pool: "slow", index: 2)
        #expect(try await client.watch(waiting, timeout: .seconds(30)) { _ in }.body.kind == .succeeded)
        #expect(try await attemptHistory(cluster, run: waiting.description, step: "b") == ["1:succeeded:worker-slow-2"])
        // The presence of a worker running a step counts it in flight.
        let napping = try #require(try await client.createJob(planJob([["step_id": "nap", "skill": "sleep", "params": ["duration": "4s"]]]), idempotencyKey: nil).run)
        try await waitUntilStepRuns(cluster, run: napping)
        let busy = try await until(timeout: .seconds(3), "worker-slow-2 to report a step in flight") { () -> WorkerPresence? in
            try await presence(cluster).first { $0.worker == "worker-slow-2" && $0.inFlight == 1 }
        }
        #expect(busy.pool == "slow" && busy.skills == ["sleep"])
        #expect(try await client.watch(napping, timeout: .seconds(20)) { _ in }.body.kind == .succeeded)
        // Over every run: sleep only ever ran on pool `slow`, the rest only on pool `default`.
        #expect(try await scalar(cluster, """
            SELECT count(*) FROM step_attempts a JOIN steps s USING (run_id, step_id)
            WHERE (s.skill = 'sleep') <> (a.worker LIKE 'worker-slow-%')
            """) == "0")

        // A worker asked to run a skill of another pool, or of a pool without a consumer, does not start.
        let wrongSkill = try cluster.startService("worker", index: 91, extraEnvironment: ["ARIA_WORKER_SKILLS": "sleep"])
        #expect(await wrongSkill.waitForExit(timeout: .seconds(20)))
        #expect(wrongSkill.exitStatus == 2)
        #expect(wrongSkill.log().contains("invalid_configuration") && wrongSkill.log().contains("runs in pool 'slow'"))
        let noConsumer = try cluster.startWorker(pool: "gpu", index: 92)
        #expect(await noConsumer.waitForExit(timeout: .seconds(20)))
        #expect(noConsumer.exitStatus == 1 && noConsumer.log().contains("bus_not_provisioned") && noConsumer.log().contains("worker_gpu"))
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("workers announce themselves in ARIA_WORKERS: listed by aria workers, removed on drain, expired after a kill; tenants cannot read it")
    func presenceLifecycle() async throws {
        let cluster = try await TestCluster.start(
            name: "presence", replicas: ["gateway": 0, "planner": 0, "scheduler": 0, "worker": 1],
            environment: ["ARIA_SKILL_POOLS": "sleep=slow", "ARIA_BUS_WORKERS_TTL": "3s", "ARIA_WORKER_SLOTS": "4"], poolWorkers: ["slow": 1])
        let both = try await until(timeout: .seconds(10), "both workers' presence") { () -> [WorkerPresence]? in
            let found = try await presence(cluster)
            return found.count == 2 ? found : nil
        }
        #expect(both.map(\.worker) == ["worker-1", "worker-slow-1"])
        #expect(both.map(\.pool) == ["default", "slow"])
        #expect(both[0].skills == ["echo", "fail", "file_read", "file_write", "http_call", "json_transform"])
        #expect(both[1].skills == ["sleep"])
        #expect(both.allSatisfy { $0.slots == 4 && $0.inFlight == 0 && $0.version == AriaVersion.current && $0.pid > 0 })
        #expect(both[1].pid == Int(cluster.process("worker-slow-1")?.pid ?? 0))
        // Refreshed every TTL/3 (1 s): updated_at moves while started_at stays.
        let refreshed = try await until(timeout: .seconds(5), "a refresh") { () -> WorkerPresence? in
            try await presence(cluster).first { $0.worker == "worker-1" && $0.updatedAt > both[0].updatedAt }
        }
        #expect(refreshed.startedAt == both[0].startedAt)

        // `aria workers`: JSON and table.
        let listed = try Wire.decode([WorkerPresence].self, from: Array(try await runAria(cluster, ["workers", "--json"]).utf8))
        #expect(listed.map(\.worker) == ["worker-1", "worker-slow-1"])
        let slowOnly = try Wire.decode([WorkerPresence].self, from: Array(try await runAria(cluster, ["workers", "--json", "--pool", "slow"]).utf8))
        #expect(slowOnly.map(\.worker) == ["worker-slow-1"])
        let table = try await runAria(cluster, ["workers"])
        #expect(table.contains("WORKER") && table.contains("IN FLIGHT") && table.contains("worker-slow-1") && table.contains("2 workers, 0/8 slots busy"))

        // Tenants cannot read the bucket; workers can write but not read it.
        let tenant = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        _ = try await permissionViolation(on: tenant.nats) { _ = try tenant.nats.subscribe("$KV.ARIA_WORKERS.>") }
        await #expect(throws: (any Error).self) { _ = try await tenant.nats.jetStream(apiTimeout: .seconds(1)).keyValue(bucket: Buckets.workers) }
        await tenant.close()
        let worker = try await cluster.natsConnection(user: "worker", logger: quietLogger)
        let workerView = try await worker.jetStream(apiTimeout: .seconds(1)).keyValue(bucket: Buckets.workers)
        await #expect(throws: NATSError.self) { _ = try await workerView.get("worker-1") }
        worker.close()

        // Graceful drain deletes the key before the process exits.
        let slow = try #require(cluster.process("worker-slow-1"))
        slow.signal(SIGTERM)
        #expect(await slow.waitForExit(timeout: .seconds(15)))
        #expect(try await presence(cluster).map(\.worker) == ["worker-1"])

        // A killed worker leaves its key behind until the TTL passes.
        let killed = try #require(cluster.process("worker-1"))
        killed.signal(SIGKILL)
        #expect(await killed.waitForExit(timeout: .seconds(5)))
        let killedAt = ContinuousClock.now
        #expect(try await presence(cluster).map(\.worker) == ["worker-1"])
        _ = try await until(timeout: .seconds(15), "the killed worker's presence to expire") { () -> Bool? in
            try await presence(cluster).isEmpty ? true : nil
        }
        #expect(ContinuousClock.now - killedAt >= .seconds(1), "the key vanished before the TTL could pass")
        await TestCluster.stop(cluster)
    }

    @Test("aria skills lists the registry with pools and each skill's breaker state from Postgres")
    func skillsCommand() async throws {
        let cluster = try await TestCluster.start(
            name: "skills", replicas: ["gateway": 0, "planner": 0, "scheduler": 0, "worker": 0], environment: ["ARIA_SKILL_POOLS": "sleep=slow"])
        _ = try await query(cluster, """
            INSERT INTO skill_breakers (skill, state, consecutive_failures, opened_at, last_error, updated_at)
            VALUES ('http_call', 'open', 5, now() - interval '10 seconds', '{"code":"http_failed","message":"down","category":"transient","details":{}}', now()),
                   ('retired_skill', 'half_open', 3, now() - interval '1 minute', NULL, now())
            """)
        let json = try JSONValue(parsing: Array(try await runAria(cluster, ["skills", "--json"]).utf8))
        let skills = try #require(json.arrayValue)
        #expect(skills.compactMap { $0["name"]?.stringValue } == (SkillCatalog.builtIn.skills.keys + ["retired_skill"]).sorted())
        // A breaker of a skill the registry no longer has is listed too, without registry fields.
        let retired = try #require(skills.first { $0["name"] == "retired_skill" })
        #expect(retired["pool"] == nil && retired["breaker"]?["state"] == "half_open")
        let sleep = try #require(skills.first { $0["name"] == "sleep" })
        #expect(sleep["pool"] == "slow" && sleep["version"] == "1.0.0" && sleep["default_timeout"] == "11m")
        #expect(sleep["breaker"]?["state"] == "closed" && sleep["breaker"]?["consecutive_failures"] == 0)
        let http = try #require(skills.first { $0["name"] == "http_call" })
        #expect(http["pool"] == "default")
        #expect(http["breaker"]?["state"] == "open" && http["breaker"]?["consecutive_failures"] == 5)
        #expect(http["breaker"]?["last_error"]?["code"] == "http_failed" && http["breaker"]?["opened_at"]?.stringValue != nil)
        let table = try await runAria(cluster, ["skills"])
        let httpLine = try #require(table.split(separator: "\n").first { $0.hasPrefix("http_call ") })
        #expect(httpLine.contains("open") && httpLine.contains("http_failed") && httpLine.contains("s ago"))
        #expect(table.split(separator: "\n").first { $0.hasPrefix("sleep ") }?.contains("slow") == true)
        #expect(table.split(separator: "\n").first { $0.hasPrefix("retired_skill ") }?.contains("(not in registry)") == true)
        await TestCluster.stop(cluster)
    }
}
