import AriaBus
import AriaCLI
import AriaCore
import AriaNATS
import AriaTestSupport
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The plan contract end to end: error policies on a diamond, retries with backoff, fallback, conditions,
/// timeouts, cancel, rerun, the watchdog, lease expiry and the execution ledger — against real servers and
/// the services as separate processes.
@Suite("End to end: execution policies", .serialized)
struct ExecutionPolicyTests {
    static let workspace = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("aria-e2e-ws-\(UUID().uuidString.prefix(8))")

    /// One cluster for the policy tests that need no special settings.
    static let shared = SharedCluster {
        try await TestCluster.start(name: "policies", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 2],
                                    environment: ["ARIA_TIMER_INTERVAL": "50ms", "ARIA_WORKSPACE_ROOT": workspace.path,
                                                  // These tests fail `fail` steps on purpose; its breaker must not hold them back.
                                                  "ARIA_BREAKER_FAILURE_THRESHOLD": "10000"])
    }

    /// The steps of a run as `id:status`, in plan order.
    static func stepStatuses(_ cluster: LocalCluster, _ run: RunID) async throws -> [String] {
        try await query(cluster, "SELECT step_id, status FROM steps WHERE run_id = $1 ORDER BY position", [run.description])
            .map { "\($0["step_id"]!):\($0["status"]!)" }
    }

    /// a -> (b fails, c sleeps) -> d, with `b`'s error policy set to `onError`.
    static func diamond(_ onError: String, extra: [String: JSONValue] = [:], cSleep: String = "300ms") -> [UInt8] {
        var b: [String: JSONValue] = ["step_id": "b", "skill": "fail", "depends_on": ["a"], "on_error": .string(onError),
                                      "params": ["message": "b breaks", "category": "transient"]]
        b.merge(extra) { _, new in new }
        return planJob([
            ["step_id": "a", "skill": "echo", "params": ["x": 1]],
            .object(b),
            ["step_id": "c", "skill": "sleep", "depends_on": ["a"], "params": ["duration": .string(cSleep)]],
            ["step_id": "d", "skill": "echo", "depends_on": ["b", "c"], "params": ["joined": true]],
        ])
    }

    @Test("a diamond with a failing branch under each on_error: abort, continue, retry, fallback")
    func diamondUnderEachPolicy() async throws {
        let cluster = try await Self.shared.cluster()
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        defer { Task { await client.close() } }

        // abort: the run fails at once; the sleeping branch is cancelled (its worker told), the join skipped.
        // Here b fails by timing out after 500 ms, so c has surely started by then (a `fail` step can fail
        // before c's attempt begins, and then there is no running attempt to tell).
        let slowFailure = Self.diamond("abort", extra: ["skill": "sleep", "params": ["duration": "10s"], "timeout": "500ms"], cSleep: "20s")
        let abort = try #require(try await client.createJob(slowFailure, idempotencyKey: nil).run)
        let abortEnd = try await client.watch(abort, timeout: .seconds(15)) { _ in }
        #expect(abortEnd.body.kind == .failed)
        #expect(abortEnd.body.error?.code == .stepTimeout)
        #expect(try await Self.stepStatuses(cluster, abort) == ["a:succeeded", "b:failed", "c:cancelled", "d:skipped"])
        #expect(try await attemptHistory(cluster, run: abort.description, step: "c").first?.hasPrefix("1:cancelled:") == true)
        _ = try await until(timeout: .seconds(10), "a worker to stop the cancelled attempt") { () -> Bool? in
            let logs = (cluster.process("worker-1")?.log() ?? "") + (cluster.process("worker-2")?.log() ?? "")
            return logs.contains("stopping a cancelled attempt") && logs.contains(abort.description) ? true : nil
        }

        // continue: the failed branch stays failed, the join is skipped (all_succeeded), the run succeeds.
        let cont = try #require(try await client.createJob(Self.diamond("continue"), idempotencyKey: nil).run)
        var contEvents: [Envelope<RunEventBody>] = []
        #expect(try await client.watch(cont, timeout: .seconds(15)) { contEvents.append($0) }.body.kind == .succeeded)
        #expect(try await Self.stepStatuses(cluster, cont) == ["a:succeeded", "b:failed", "c:succeeded", "d:skipped"])
        #expect(contEvents.contains { $0.body.kind == .stepSkipped && $0.body.step == StepID(trusted: "d") && $0.body.reason == "dependency 'b' failed" })

        // continue with join all_done: the join runs.
        var allDone = Self.diamond("continue")
        var plan = try JSONValue(parsing: allDone)
        if case .object(var root) = plan, case .object(var body) = root["body"]!, case .object(var p) = body["plan"]!, case .array(var steps) = p["steps"]!,
           case .object(var d) = steps[3] {
            d["join"] = "all_done"
            steps[3] = .object(d); p["steps"] = .array(steps); body["plan"] = .object(p); root["body"] = .object(body); plan = .object(root)
        }
        allDone = plan.serialized()
        let joined = try #require(try await client.createJob(allDone, idempotencyKey: nil).run)
        #expect(try await client.watch(joined, timeout: .seconds(15)) { _ in }.body.kind == .succeeded)
        #expect(try await Self.stepStatuses(cluster, joined) == ["a:succeeded", "b:failed", "c:succeeded", "d:succeeded"])

        // retry: two attempts of b, both fail, the run fails.
        let retry = try #require(try await client.createJob(
            Self.diamond("retry", extra: ["retry": ["max_attempts": 2, "backoff": "constant", "initial_delay": "200ms", "jitter": 0]]), idempotencyKey: nil).run)
        var retryEvents: [Envelope<RunEventBody>] = []
        #expect(try await client.watch(retry, timeout: .seconds(15)) { retryEvents.append($0) }.body.kind == .failed)
        #expect(try await attemptHistory(cluster, run: retry.description, step: "b").map { String($0.prefix(8)) } == ["1:failed", "2:failed"])
        #expect(retryEvents.filter { $0.body.kind == .stepRetrying }.count == 1)

        // fallback: b's fallback skill runs and succeeds; the join runs; the run succeeds.
        let fallback = try #require(try await client.createJob(
            Self.diamond("fallback", extra: ["fallback_skill": "echo", "fallback_params": ["rescued": "{{steps.a.output.x}}"]]), idempotencyKey: nil).run)
        var fallbackEvents: [Envelope<RunEventBody>] = []
        let fallbackEnd = try await client.watch(fallback, timeout: .seconds(15)) { fallbackEvents.append($0) }
        #expect(fallbackEnd.body.kind == .succeeded)
        #expect(try await Self.stepStatuses(cluster, fallback) == ["a:succeeded", "b:succeeded", "c:succeeded", "d:succeeded"])
        let attempts = try await query(cluster, "SELECT attempt, skill, phase, status FROM step_attempts WHERE run_id = $1 AND step_id = 'b' ORDER BY attempt", [fallback.description])
            .map { "\($0["attempt"]!):\($0["skill"]!):\($0["phase"]!):\($0["status"]!)" }
        #expect(attempts == ["1:fail:primary:failed", "2:echo:fallback:succeeded"])
        #expect(try await scalar(cluster, "SELECT output::text FROM steps WHERE run_id = $1 AND step_id = 'b'", [fallback.description]) == #"{"rescued": 1}"#)
        #expect(fallbackEvents.contains { $0.body.kind == .stepFallback && $0.body.skill == "echo" })
    }

    @Test("retries wait the policy's exponential delays, read from the recorded attempt timestamps")
    func retryBackoffDelays() async throws {
        let cluster = try await Self.shared.cluster()
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        defer { Task { await client.close() } }
        let run = try #require(try await client.createJob(planJob([
            ["step_id": "flaky", "skill": "fail", "on_error": "retry", "params": ["category": "transient"],
             "retry": ["max_attempts": 4, "backoff": "exponential", "initial_delay": "300ms", "max_delay": "1s", "jitter": 0]],
        ]), idempotencyKey: nil).run)
        var events: [Envelope<RunEventBody>] = []
        #expect(try await client.watch(run, timeout: .seconds(20)) { events.append($0) }.body.kind == .failed)
        let rows = try await query(cluster, """
            SELECT attempt, (extract(epoch FROM started_at) * 1000)::bigint AS started, (extract(epoch FROM finished_at) * 1000)::bigint AS finished
            FROM step_attempts WHERE run_id = $1 ORDER BY attempt
            """, [run.description])
        #expect(rows.count == 4)
        let retrying = events.filter { $0.body.kind == .stepRetrying }
        #expect(retrying.count == 3)
        // Before retry n the delay is 300 ms × 2^(n-1), capped at 1 s: 300, 600, 1000. The policy's delay is read
        // from the recorded times (the previous attempt's end, the retry's `not_before`), tightly; the dispatch lag
        // after `not_before` (the retry timer's tick, the bus, the worker) gets a looser bound, since the suite runs
        // many clusters on two cores.
        let expected: [Int64] = [300, 600, 1000]
        for index in 1..<min(rows.count, retrying.count + 1) {
            let finished = Int64(rows[index - 1]["finished"]!)!
            let started = Int64(rows[index]["started"]!)!
            let notBefore = Int64(((retrying[index - 1].body.notBefore?.timeIntervalSince1970 ?? 0) * 1000).rounded())
            let delay = notBefore - finished
            #expect(delay >= expected[index - 1] - 5 && delay <= expected[index - 1] + 150,
                    "retry \(index) was scheduled \(delay) ms after the failure, not the policy's \(expected[index - 1]) ms")
            #expect(started - finished >= expected[index - 1] - 5, "retry \(index) came after \(started - finished) ms, before its delay of \(expected[index - 1]) ms")
            #expect(started - notBefore <= 1_500, "retry \(index) started \(started - notBefore) ms after it was due")
        }
        #expect(retrying.allSatisfy { $0.body.notBefore != nil && $0.body.error?.category == .transient })
    }

    @Test("a permanent error is not retried by the standard policy")
    func permanentErrorNotRetried() async throws {
        let cluster = try await Self.shared.cluster()
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        defer { Task { await client.close() } }
        let run = try #require(try await client.createJob(planJob([["step_id": "x", "skill": "fail", "on_error": "retry", "params": ["category": "permanent"]]]), idempotencyKey: nil).run)
        #expect(try await client.watch(run, timeout: .seconds(15)) { _ in }.body.kind == .failed)
        #expect(try await attemptHistory(cluster, run: run.description, step: "x").count == 1)
    }

    @Test("a false condition skips its step (and what depends on it); a true one runs")
    func conditionSkips() async throws {
        let cluster = try await Self.shared.cluster()
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        defer { Task { await client.close() } }
        let run = try #require(try await client.createJob(planJob([
            ["step_id": "check", "skill": "echo", "params": ["status": "red", "count": 7]],
            ["step_id": "green", "skill": "echo", "depends_on": ["check"], "condition": ["step_id": "check", "field": "status", "operator": "eq", "value": "green"]],
            ["step_id": "after-green", "skill": "echo", "depends_on": ["green"]],
            ["step_id": "many", "skill": "echo", "depends_on": ["check"], "condition": ["step_id": "check", "field": "count", "operator": "gt", "value": 5],
             "output_key": "many"],
        ]), idempotencyKey: nil).run)
        var events: [Envelope<RunEventBody>] = []
        let end = try await client.watch(run, timeout: .seconds(15)) { events.append($0) }
        #expect(end.body.kind == .succeeded)
        #expect(try await Self.stepStatuses(cluster, run) == ["check:succeeded", "green:skipped", "after-green:skipped", "many:succeeded"])
        #expect(events.contains { $0.body.kind == .stepSkipped && $0.body.reason == "condition on 'check'.status eq is false" })
        #expect(end.body.output?["many"] != nil)
    }

    @Test("a step over its timeout fails with step_timeout")
    func timeout() async throws {
        let cluster = try await Self.shared.cluster()
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        defer { Task { await client.close() } }
        let run = try #require(try await client.createJob(planJob([["step_id": "slow", "skill": "sleep", "timeout": "300ms", "params": ["duration": "5s"]]]), idempotencyKey: nil).run)
        let end = try await client.watch(run, timeout: .seconds(15)) { _ in }
        #expect(end.body.kind == .failed)
        #expect(end.body.error?.code == .stepTimeout)
    }

    @Test("cancel: the running step is told to stop, nothing else runs; cancelling again or an unknown run is a typed error")
    func cancel() async throws {
        let cluster = try await Self.shared.cluster()
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        defer { Task { await client.close() } }
        let run = try #require(try await client.createJob(planJob([
            ["step_id": "long", "skill": "sleep", "params": ["duration": "30s"]],
            ["step_id": "next", "skill": "echo", "depends_on": ["long"]],
        ]), idempotencyKey: nil).run)
        _ = try await until(timeout: .seconds(20), "the step to start") { () -> Bool? in
            try await scalar(cluster, "SELECT status FROM steps WHERE run_id = $1 AND step_id = 'long'", [run.description]) == "running" ? true : nil
        }
        let reply = try await client.cancelRun(run, reason: "changed my mind")
        #expect(reply.ok && reply.status == .cancelled)
        let end = try await client.watch(run, timeout: .seconds(10)) { _ in }
        #expect(end.body.kind == .cancelled && end.body.reason == "changed my mind")
        #expect(try await Self.stepStatuses(cluster, run) == ["long:cancelled", "next:skipped"])
        _ = try await until(timeout: .seconds(10), "the worker to stop the attempt") { () -> Bool? in
            let logs = (cluster.process("worker-1")?.log() ?? "") + (cluster.process("worker-2")?.log() ?? "")
            return logs.contains("stopping a cancelled attempt") && logs.contains("\(run)") ? true : nil
        }
        let again = try await client.cancelRun(run)
        #expect(!again.ok && again.error?.code == .invalidState)
        let unknown = try await client.cancelRun(RunID.generate(now: Date()))
        #expect(!unknown.ok && unknown.error?.code == .notFound)
    }

    @Test("rerun from failed reuses succeeded outputs and runs the rest; rerun from scratch runs everything")
    func rerunFromFailed() async throws {
        let cluster = try await Self.shared.cluster()
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        defer { Task { await client.close() } }
        let file = "rerun-\(UUID().uuidString.prefix(8)).txt"
        let job = planJob([
            ["step_id": "prepare", "skill": "echo", "params": ["file": .string(file)]],
            ["step_id": "read", "skill": "file_read", "depends_on": ["prepare"], "params": ["path": "{{steps.prepare.output.file}}"]],
        ])
        let parent = try #require(try await client.createJob(job, idempotencyKey: nil).run)
        #expect(try await client.watch(parent, timeout: .seconds(15)) { _ in }.body.kind == .failed, "the file does not exist yet")
        // Fix the cause, then resume from the failed step.
        let directory = Self.workspace.appendingPathComponent("demo")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try "fixed".write(to: directory.appendingPathComponent(file), atomically: true, encoding: .utf8)
        let reply = try await client.rerunRun(parent, mode: .fromFailed)
        let child = try #require(reply.run)
        var events: [Envelope<RunEventBody>] = []
        #expect(try await client.watch(child, timeout: .seconds(15)) { events.append($0) }.body.kind == .succeeded)
        #expect(try await scalar(cluster, "SELECT parent_run_id::text || ' ' || rerun_mode FROM runs WHERE run_id = $1", [child.description]) == "\(parent) from_failed")
        #expect(try await attemptHistory(cluster, run: child.description, step: "prepare").isEmpty, "the succeeded step is reused, not run")
        #expect(try await attemptHistory(cluster, run: child.description, step: "read").count == 1)
        #expect(events.contains { $0.body.kind == .stepReused && $0.body.step == StepID(trusted: "prepare") && $0.body.parentRun == parent })
        #expect(events.first?.body.parentRun == parent)
        // From scratch: every step runs again.
        let scratch = try #require(try await client.rerunRun(parent, mode: .fromScratch).run)
        #expect(try await client.watch(scratch, timeout: .seconds(15)) { _ in }.body.kind == .succeeded)
        #expect(try await attemptHistory(cluster, run: scratch.description, step: "prepare").count == 1)
        // A succeeded run cannot be resumed from failed; a running one cannot be rerun at all.
        let invalid = try await client.rerunRun(child, mode: .fromFailed)
        #expect(!invalid.ok && invalid.error?.code == .invalidState)
    }
}

@Suite("End to end: leases, watchdog, ledger", .serialized)
struct LeaseAndLedgerTests {
    @Test("a stalled worker's lease expires, another attempt takes the step, and the late result is rejected")
    func leaseExpiryRejectsLateResult() async throws {
        let cluster = try await TestCluster.start(
            name: "lease-expiry", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 1],
            environment: ["ARIA_BUS_WORK_ACK_WAIT": "2s", "ARIA_RECONCILE_INTERVAL": "300ms", "ARIA_RECONCILE_IDLE_AFTER": "1s"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        let run = try #require(try await client.createJob(planJob([["step_id": "nap", "skill": "sleep", "timeout": "10s", "params": ["duration": "3s"]]]), idempotencyKey: nil).run)
        try await waitUntilStepRuns(cluster, run: run)
        // Freeze worker-1 mid-step: no heartbeats, no lease renewals; its lease runs out.
        let frozen = try #require(cluster.process("worker-1"))
        frozen.signal(SIGSTOP)
        try cluster.startService("worker", index: 2)
        let end = try await client.watch(run, timeout: .seconds(30)) { _ in }
        #expect(end.body.kind == .succeeded)
        // The lost attempt is superseded; worker-2 ends the step (the JetStream redelivery and the reconciler's
        // re-dispatch may both reach it, so it can take over twice: every attempt but the last is superseded).
        func historyIsTakeover(_ history: [String]) -> Bool {
            history.first == "1:superseded:worker-1" && history.last?.hasSuffix(":succeeded:worker-2") == true
                && history.dropFirst().dropLast().allSatisfy { $0.hasSuffix(":superseded:worker-2") }
        }
        let history = try await attemptHistory(cluster, run: run.description, step: "nap")
        #expect(historyIsTakeover(history), "\(history)")
        // Thaw worker-1: its sleep ends and its result comes late, under the old fencing token.
        frozen.signal(SIGCONT)
        _ = try await until(timeout: .seconds(15), "worker-1's late result to be rejected") { () -> Bool? in
            frozen.log().contains("late result rejected") || frozen.log().contains("lost its lease") ? true : nil
        }
        #expect(try await attemptHistory(cluster, run: run.description, step: "nap") == history, "the late result changed nothing")
        #expect(try await scalar(cluster, "SELECT count(*) FROM run_events WHERE run_id = $1 AND kind = 'step_succeeded'", [run.description]) == "1")
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("the watchdog fails a run that makes no progress, saying what it waits for")
    func watchdog() async throws {
        let cluster = try await TestCluster.start(
            name: "watchdog", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 0],
            environment: ["ARIA_WATCHDOG_AFTER": "2s", "ARIA_RECONCILE_INTERVAL": "300ms", "ARIA_RECONCILE_IDLE_AFTER": "1s",
                          // The echo step must wait for a worker (there is none), not run in the gateway.
                          "ARIA_GATEWAY_INLINE_STEPS": "0"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        // No worker: the step is dispatched and never starts.
        let run = try #require(try await client.createJob(echoJob("nobody home"), idempotencyKey: nil).run)
        let end = try await client.watch(run, timeout: .seconds(20)) { _ in }
        #expect(end.body.kind == .failed)
        #expect(end.body.error?.code == .runStalled)
        #expect(end.body.error?.message.contains("echo (dispatched)") == true)
        #expect(try await scalar(cluster, "SELECT status FROM steps WHERE run_id = $1", [run.description]) == "cancelled")
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("the ledger prevents a repeated side effect after a worker is killed between the effect and the ack")
    func ledgerPreventsRepeat() async throws {
        let workspace = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("aria-e2e-ledger-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: workspace) }
        let cluster = try await TestCluster.start(
            name: "ledger", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 0],
            environment: ["ARIA_BUS_WORK_ACK_WAIT": "2s", "ARIA_WORKSPACE_ROOT": workspace.path])
        // worker-1 crashes right after recording the file write in the ledger, before it records the result or acks.
        let crashing = try cluster.startService("worker", index: 1, extraEnvironment: ["ARIA_FAULT_EXIT_AFTER_LEDGER": "file_write"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        // mode "create" fails if the file exists: a repeated write would fail the step.
        let run = try #require(try await client.createJob(planJob([
            ["step_id": "write", "skill": "file_write", "params": ["path": "once.txt", "content": "effect", "mode": "create"]],
        ]), idempotencyKey: nil).run)
        #expect(await crashing.waitForExit(timeout: .seconds(20)))
        #expect(crashing.exitStatus == 86)
        #expect(try await scalar(cluster, "SELECT count(*) FROM step_ledger WHERE run_id = $1", [run.description]) == "1")
        try cluster.startService("worker", index: 2)
        let end = try await client.watch(run, timeout: .seconds(30)) { _ in }
        #expect(end.body.kind == .succeeded)
        let attempts = try await query(cluster, "SELECT attempt, status, worker, ledger_hit FROM step_attempts WHERE run_id = $1 ORDER BY attempt", [run.description])
            .map { "\($0["attempt"]!):\($0["status"]!):\($0["worker"]!):\($0["ledger_hit"]!)" }
        #expect(attempts == ["1:superseded:worker-1:f", "2:succeeded:worker-2:t"])
        #expect(try String(contentsOf: workspace.appendingPathComponent("demo/once.txt"), encoding: .utf8) == "effect")
        #expect(cluster.process("worker-2")?.log().contains("execution ledger: returning the recorded result") == true)
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("inline execution: a chain of pure steps runs inside the transactions of the worker that recorded the root's result; only the root's dispatch crosses the bus")
    func inlineChain() async throws {
        // The gateway sends the root to the worker (its own inline execution is tested in the shared cluster).
        let cluster = try await TestCluster.start(name: "inline", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 1],
                                                  environment: ["ARIA_GATEWAY_INLINE_STEPS": "0"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        let admin = try await cluster.natsConnection(user: "admin", logger: quietLogger)
        let js = try admin.jetStream()
        let before = try await js.streamInfo(Streams.work).lastSequence
        let run = try #require(try await client.createJob(planJob([
            ["step_id": "a", "skill": "echo", "params": ["x": "passed along"]],
            ["step_id": "b", "skill": "echo", "depends_on": ["a"], "params": ["y": "{{steps.a.output.x}}"]],
            ["step_id": "c", "skill": "echo", "depends_on": ["b"], "params": ["z": "{{steps.b.output.y}}"]],
        ]), idempotencyKey: nil).run)
        let end = try await client.watch(run, timeout: .seconds(20)) { _ in }
        #expect(end.body.kind == .succeeded)
        #expect(end.body.output == ["c": ["z": "passed along"]])
        #expect(try await js.streamInfo(Streams.work).lastSequence - before == 1, "b and c were executed inside a's result transaction")
        #expect(try await scalar(cluster, "SELECT string_agg(step_id || ':' || worker, ',' ORDER BY step_id) FROM step_attempts WHERE run_id = $1", [run.description])
                == "a:worker-1,b:worker-1,c:worker-1")
        let events = try await query(cluster, "SELECT kind, body->>'step' AS step FROM run_events WHERE run_id = $1 ORDER BY seq", [run.description])
            .map { "\($0["kind"]!):\($0["step"] ?? "")" }
        #expect(events == ["accepted:", "planned:", "step_started:a", "step_succeeded:a", "step_started:b", "step_succeeded:b",
                           "step_started:c", "step_succeeded:c", "succeeded:"], "the run's history reads as if each step had been dispatched")
        admin.close()
        await client.close()
        await TestCluster.stop(cluster)
    }

    @Test("a skill's circuit breaker opens after consecutive transient failures: its next step waits, then one probe goes")
    func circuitBreakerGatesDispatch() async throws {
        let cluster = try await TestCluster.start(
            name: "breaker", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 1],
            environment: ["ARIA_BREAKER_FAILURE_THRESHOLD": "2", "ARIA_BREAKER_COOLDOWN": "2s", "ARIA_TIMER_INTERVAL": "50ms"])
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: quietLogger)
        let failing = planJob([["step_id": "x", "skill": "fail", "params": ["category": "transient"]]])
        for _ in 0..<2 {
            let run = try #require(try await client.createJob(failing, idempotencyKey: nil).run)
            #expect(try await client.watch(run, timeout: .seconds(15)) { _ in }.body.kind == .failed)
        }
        #expect(try await scalar(cluster, "SELECT state || ':' || consecutive_failures FROM skill_breakers WHERE skill = 'fail'") == "open:2")
        // The breaker is open: the next fail step is not dispatched; it waits for the probe time.
        let gated = try #require(try await client.createJob(failing, idempotencyKey: nil).run)
        var events: [Envelope<RunEventBody>] = []
        let end = try await client.watch(gated, timeout: .seconds(20)) { events.append($0) }
        let waited = try #require(events.first { $0.body.kind == .stepRetrying })
        #expect(waited.body.reason?.contains("circuit breaker of skill 'fail' is open") == true)
        let started = try #require(events.first { $0.body.kind == .stepStarted })
        #expect(started.createdAt.timeIntervalSince(waited.createdAt) > 1.0, "the probe went only after the cooldown")
        #expect(end.body.kind == .failed)
        #expect(try await attemptHistory(cluster, run: gated.description, step: "x").count == 1, "waiting for the breaker uses no attempt")
        // Other skills are not affected.
        let echo = try #require(try await client.createJob(echoJob("still fine"), idempotencyKey: nil).run)
        #expect(try await client.watch(echo, timeout: .seconds(10)) { _ in }.body.kind == .succeeded)
        await client.close()
        await TestCluster.stop(cluster)
    }
}
