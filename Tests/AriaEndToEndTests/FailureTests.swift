import AriaBus
import AriaCLI
import AriaCore
import AriaLocalCluster
import AriaNATS
import AriaTestSupport
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("End to end: failures", .serialized)
struct FailureTests {
    @Test("SIGKILL a worker holding sleep steps: its open attempts are taken over by the other worker")
    func killedWorkerStepsAreTakenOver() async throws {
        // A short ack wait (longer than the step timeout, as in production) so redelivery comes quickly. The
        // steps sleep 5 s: all four must be running at once on a machine loaded by other tests.
        let cluster = try await TestCluster.start(
            name: "kill", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 1],
            environment: ["ARIA_BUS_WORK_ACK_WAIT": "7s"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        let collector = EventCollector(try client.subscribeEvents())
        var runs: [RunID] = []
        for index in 0..<4 {
            let reply = try await client.createJob(planJob([["step_id": "nap", "skill": "sleep", "timeout": "6s", "params": ["duration": "5s"]],
                                                            ["step_id": "after", "skill": "echo", "depends_on": ["nap"], "params": ["i": .int(Int64(index))]]]),
                                                   idempotencyKey: nil)
            runs.append(try #require(reply.run))
        }
        let ids = "{" + runs.map(\.description).joined(separator: ",") + "}"
        // Wait until worker-1 holds all four sleep steps, then kill it.
        _ = try await until(timeout: .seconds(20), "worker-1 to hold 4 attempts") { () -> Bool? in
            try await scalar(cluster, "SELECT count(*) FROM step_attempts WHERE run_id = ANY($1::uuid[]) AND status = 'running' AND worker = 'worker-1'", [ids]) == "4" ? true : nil
        }
        let worker1 = try #require(cluster.process("worker-1"))
        worker1.signal(SIGKILL)
        #expect(await worker1.waitForExit(timeout: .seconds(5)))
        let openAtKill = try await query(cluster, "SELECT run_id::text, step_id, attempt FROM step_attempts WHERE run_id = ANY($1::uuid[]) AND status = 'running' AND worker = 'worker-1' ORDER BY run_id", [ids])
        #expect(openAtKill.count == 4)
        try cluster.startService("worker", index: 2)
        let ended = try await collector.waitForTerminal(runs, timeout: .seconds(60))
        #expect(ended.values.allSatisfy { $0.body.kind == .succeeded })
        for row in openAtKill {
            #expect(try await attemptHistory(cluster, run: row["run_id"]!, step: row["step_id"]!) == ["1:superseded:worker-1", "2:succeeded:worker-2"])
        }
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("a step running longer than the ack wait keeps its lease through in-progress acks")
    func leaseExtension() async throws {
        let cluster = try await TestCluster.start(name: "lease", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 2],
                                                  environment: ["ARIA_BUS_WORK_ACK_WAIT": "1s"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        let run = try #require(try await client.createJob(planJob([["step_id": "long", "skill": "sleep", "params": ["duration": "3500ms"]]]), idempotencyKey: nil).run)
        #expect(try await client.watch(run, timeout: .seconds(30)) { _ in }.body.kind == .succeeded)
        // Without the heartbeat the message would have been redelivered three times and superseded.
        #expect(try await scalar(cluster, "SELECT string_agg(attempt || ':' || status, ',') FROM step_attempts WHERE run_id = $1", [run.description]) == "1:succeeded")
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("restart nats-server and Postgres mid-run: every job still finishes")
    func serversRestartMidRun() async throws {
        let cluster = try await TestCluster.start(name: "restart", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 2],
                                                  environment: ["ARIA_BUS_WORK_ACK_WAIT": "5s", "ARIA_BUS_ACK_WAIT": "5s"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        var runs: [RunID] = []
        for index in 0..<30 {
            let reply = try await client.createJob(planJob([
                ["step_id": "a", "skill": "sleep", "params": ["duration": .string("\(100 + index * 20)ms")]],
                ["step_id": "b", "skill": "echo", "depends_on": ["a"]],
                ["step_id": "c", "skill": "sleep", "depends_on": ["b"], "params": ["duration": "300ms"]]]), idempotencyKey: "restart-\(index)")
            runs.append(try #require(reply.run))
        }
        let ids = "{" + runs.map(\.description).joined(separator: ",") + "}"
        let ready = cluster.readyFile(service: "gateway", index: 1).path
        #expect(FileManager.default.fileExists(atPath: ready))
        await cluster.nats.stop()
        // Readiness follows the connection: not ready while NATS is down, ready again after it returns.
        _ = try await until(timeout: .seconds(10), "gateway-1 to report not ready") { FileManager.default.fileExists(atPath: ready) ? nil : true }
        try await cluster.nats.restart()
        _ = try await until(timeout: .seconds(20), "gateway-1 to report ready again") { FileManager.default.fileExists(atPath: ready) ? true : nil }
        await cluster.postgres.stop()
        try await cluster.postgres.restart()
        let finished = try await until(timeout: .seconds(120), "30 runs to end") { () -> String? in
            let count = try? await scalar(cluster, "SELECT count(*) FROM runs WHERE run_id = ANY($1::uuid[]) AND status IN ('succeeded','failed','rejected')", [ids])
            return count == "30" ? count : nil
        }
        #expect(finished == "30")
        #expect(try await scalar(cluster, "SELECT count(*) FROM runs WHERE run_id = ANY($1::uuid[]) AND status = 'succeeded'", [ids]) == "30")
        #expect(try await scalar(cluster, """
            SELECT count(*) FROM (SELECT run_id FROM run_events WHERE run_id = ANY($1::uuid[]) GROUP BY run_id
                                  HAVING min(seq) = 1 AND max(seq) = count(*)) ok
            """, [ids]) == "30")
        #expect(servicesRunning(cluster))
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("SIGTERM drains: a worker finishes its in-flight step, acks, and exits cleanly")
    func gracefulDrain() async throws {
        let cluster = try await TestCluster.start(name: "drain", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 1])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        let run = try #require(try await client.createJob(planJob([["step_id": "nap", "skill": "sleep", "params": ["duration": "3s"]]]), idempotencyKey: nil).run)
        try await waitUntilStepRuns(cluster, run: run)
        let worker = try #require(cluster.process("worker-1"))
        worker.signal(SIGTERM)
        #expect(await worker.waitForExit(timeout: .seconds(15)))
        #expect(worker.exitStatus == 0)
        #expect(try await scalar(cluster, "SELECT status || ':' || attempts FROM steps WHERE run_id = $1", [run.description]) == "succeeded:1")
        try cluster.startService("worker", index: 2)
        #expect(try await client.watch(run, timeout: .seconds(20)) { _ in }.body.kind == .succeeded)
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("SIGTERM past the drain grace: the worker naks its in-flight step and another worker takes it over")
    func drainGraceExceeded() async throws {
        let cluster = try await TestCluster.start(name: "grace", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 1],
                                                  environment: ["ARIA_DRAIN_GRACE": "300ms"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        let run = try #require(try await client.createJob(planJob([["step_id": "nap", "skill": "sleep", "params": ["duration": "3s"]]]), idempotencyKey: nil).run)
        try await waitUntilStepRuns(cluster, run: run)
        let worker = try #require(cluster.process("worker-1"))
        let stopping = ContinuousClock.now
        worker.signal(SIGTERM)
        #expect(await worker.waitForExit(timeout: .seconds(10)))
        #expect(ContinuousClock.now - stopping < .milliseconds(2500), "the worker waited for the 3 s step instead of its 300 ms grace")
        try cluster.startService("worker", index: 2)
        #expect(try await client.watch(run, timeout: .seconds(30)) { _ in }.body.kind == .succeeded)
        let history = try await attemptHistory(cluster, run: run.description, step: "nap")
        #expect(history == ["1:superseded:worker-1", "2:succeeded:worker-2"], "\(history); worker-1 log: \(worker.log().suffix(1500))")
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("the reconciler re-drives runs whose plan, start and dispatch messages were deleted from the streams")
    func reconcilerRecoversDeletedMessages() async throws {
        let cluster = try await TestCluster.start(
            name: "reconcile", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 0],
            environment: ["ARIA_RECONCILE_INTERVAL": "300ms", "ARIA_RECONCILE_IDLE_AFTER": "1s", "ARIA_RECONCILE_DISPATCHED_AFTER": "2s",
                          // Every run must leave intents on the streams: none ends in the gateway.
                          "ARIA_GATEWAY_INLINE_STEPS": "0"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        let admin = try await cluster.natsConnection(user: "admin", logger: quietLogger)
        let js = try admin.jetStream()
        // Planner and scheduler down: the plan request and the run start wait in their streams ... and are lost.
        for name in ["planner-1", "scheduler-1"] {
            let process = try #require(cluster.process(name))
            await process.stop()
        }
        let explicit = try #require(try await client.createJob(echoJob("explicit"), idempotencyKey: nil).run)
        let templated = try #require(try await client.createJob(AriaClient.jobMessage(agent: "demo", template: "hello", params: ["name": "lost"]), idempotencyKey: nil).run)
        // The gateway dispatches the explicit run's root step itself; the template run waits for a planner.
        _ = try await until(timeout: .seconds(10), "the intents to reach their streams") { () -> Bool? in
            let plan = try await js.streamInfo(Streams.plan).messages, work = try await js.streamInfo(Streams.work).messages
            return plan >= 1 && work >= 1 ? true : nil
        }
        try await js.purgeStream(Streams.plan)
        try await js.purgeStream(Streams.schedule)
        try cluster.startService("planner", index: 2)
        try cluster.startService("scheduler", index: 2)
        // The reconcilers plan and start both runs; with no worker their dispatches wait in the work stream ... and are lost too.
        let ids = "{\(explicit),\(templated)}"
        _ = try await until(timeout: .seconds(20), "both runs to be dispatched") { () -> Bool? in
            try await scalar(cluster, "SELECT count(*) FROM steps WHERE run_id = ANY($1::uuid[]) AND status = 'dispatched'", [ids]) == "2" ? true : nil
        }
        try await js.purgeStream(Streams.work)
        try cluster.startService("worker", index: 1)
        let explicitEnd = try await client.watch(explicit, timeout: .seconds(30)) { _ in }
        let templatedEnd = try await client.watch(templated, timeout: .seconds(30)) { _ in }
        #expect(explicitEnd.body.kind == .succeeded && templatedEnd.body.kind == .succeeded)
        #expect(try await scalar(cluster, "SELECT count(*) FROM runs WHERE run_id = ANY($1::uuid[]) AND status = 'succeeded'", [ids]) == "2")
        let logs = (cluster.process("scheduler-2")?.log() ?? "") + (cluster.process("planner-2")?.log() ?? "")
        #expect(logs.contains("reconciler re-drove a run") && logs.contains("reconciler plans a run"))
        admin.close()
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("aria bench stopped with SIGINT stops its local cluster: none of its servers or services keeps running")
    func interruptedBenchStopsItsCluster() async throws {
        let name = "aria-bench-interrupt-\(UUID().uuidString.prefix(8))"
        let state = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).log")
        defer {
            try? FileManager.default.removeItem(at: state)
            try? FileManager.default.removeItem(at: log)
        }
        let bench = try ManagedProcess(name: "bench", executable: LocalCluster.executableDirectory.appendingPathComponent("aria").path,
                                       arguments: ["bench", "--state-dir", state.path, "--workers", "1", "--jobs", "1000", "--sequential", "3000",
                                                   "--chains", "10", "--sequential-chains", "10", "--fanouts", "2"], logFile: log)
        try await bench.waitForLog("cluster ready; running the scenarios", timeout: .seconds(120))
        // The cluster's processes: its services (pid files) and its servers (their command lines name the state directory).
        let runDirectory = state.appendingPathComponent("run")
        let services = try FileManager.default.contentsOfDirectory(atPath: runDirectory.path).filter { $0.hasSuffix(".pid") }
            .compactMap { Int32((try? String(contentsOf: runDirectory.appendingPathComponent($0), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") }
        let servers = processes(mentioning: state.path)
        #expect(services.count == 4 && servers.count >= 2, "gateway, planner, scheduler, worker; nats-server and postgres")
        bench.signal(SIGINT)
        #expect(await bench.waitForExit(timeout: .seconds(60)))
        #expect(bench.exitStatus == 128 + SIGINT)
        #expect(try String(contentsOf: log, encoding: .utf8).contains("interrupted: stopping the local cluster"))
        for pid in services + servers { #expect(!isAlive(pid), "process \(pid) of the cluster still runs") }
    }

    /// Live processes whose command line contains `text`.
    private func processes(mentioning text: String) -> [Int32] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return all.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text) && isAlive(pid)
        }
    }

    /// Whether `pid` runs (a zombie, ended but not yet reaped, does not).
    private func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    @Test("a full submit stream answers publishers with overloaded")
    func overloadedWhenSubmitStreamIsFull() async throws {
        let cluster = try await TestCluster.start(name: "full", replicas: ["gateway": 0, "planner": 0, "scheduler": 0, "worker": 0],
                                                  environment: ["ARIA_BUS_SUBMIT_MAX_MSGS": "5"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        for index in 0..<5 { _ = try await client.publishJob(echoJob("\(index)"), idempotencyKey: nil) }
        do {
            _ = try await client.publishJob(echoJob("one too many"), idempotencyKey: nil)
            Issue.record("the sixth publish was accepted")
        } catch let error as AriaError {
            #expect(error.code == .overloaded)
        }
        await client.close()
        await TestCluster.stop(cluster)
    }
}
