import AriaBus
import AriaCore
import AriaNATS
import AriaPostgres
import ArgumentParser
import Foundation
import Logging
import Synchronization

/// `aria bench`: throughput and latency of a real local cluster (same binaries and configuration as
/// `aria dev up`, production durability settings), reported as Markdown for `docs/performance.md`.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmark a local cluster with the production durability settings.")

    @Option(help: "Jobs in the one-step burst (scenario A).") var jobs = 5000
    @Option(help: "Jobs run one at a time (scenario A, sequential).") var sequential = 300
    @Option(help: "Three-step chains in the burst (scenario B).") var chains = 1000
    @Option(help: "Chains run one at a time (scenario B, sequential).") var sequentialChains = 100
    @Option(help: "Fan-out/fan-in DAGs (1 -> 20 -> 1) in the burst (scenario F).") var fanouts = 100
    @Option(help: "Worker replicas.") var workers = 2
    @Option(help: "Plan templates directory.") var plans = "config/plans"
    @Option(help: "State directory (default: a fresh temporary one, removed afterwards).") var stateDir: String?
    @Flag(help: "Log service output at debug level.") var verbose = false
    @Option(name: .customLong("env"), help: "An extra service setting NAME=VALUE, e.g. ARIA_DB_POOL_SIZE=4 (repeatable).") var settings: [String] = []
    @Option(name: .customLong("pg"), help: "An extra Postgres setting NAME=VALUE, e.g. shared_buffers=512MB (repeatable).") var postgresSettings: [String] = []
    @Flag(help: "Load pg_stat_statements and report the statements that took the most server time.") var statements = false

    func run() async throws {
        var logger = Logger(label: "aria.bench")
        logger.logLevel = verbose ? .debug : .warning
        let state = stateDir.map { URL(fileURLWithPath: $0) } ?? URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("aria-bench-\(UUID().uuidString.prefix(8))")
        let options = LocalClusterOptions(
            stateDirectory: state, plansDirectory: URL(fileURLWithPath: plans).standardizedFileURL,
            replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": workers],
            environment: ["ARIA_LOG_LEVEL": verbose ? "debug" : "warning"].merging(settings.compactMap(Self.pair)) { _, new in new },
            postgresSettings: (statements ? ["shared_preload_libraries": "pg_stat_statements"] : [:]).merging(postgresSettings.compactMap(Self.pair)) { _, new in new })
        print("starting a local cluster in \(state.path) (workers: \(workers); settings: \(settings.isEmpty ? "defaults" : settings.joined(separator: " ")))")
        let cluster = try await LocalCluster.up(options, logger: logger)
        // Ctrl-C or SIGTERM from now on stops the cluster before exiting, instead of leaving it running.
        let keepState = stateDir != nil
        let interrupted = Mutex(false)
        let interrupts = Self.onInterrupt { signal in
            interrupted.withLock { $0 = true }
            print("interrupted: stopping the local cluster")
            fflush(nil)
            await cluster.down()
            if !keepState { try? FileManager.default.removeItem(at: state) }
            Foundation.exit(128 + signal)
        }
        defer { interrupts.forEach { $0.cancel() } }
        print("cluster ready; running the scenarios")
        fflush(nil)
        do {
            try await runScenarios(cluster, logger: logger)
        } catch {
            // Stopping the cluster fails the scenarios; the interrupt's handler then ends the process.
            if interrupted.withLock({ $0 }) { try? await Task.sleep(for: .seconds(120)) }
            await cluster.down()
            throw error
        }
        await cluster.down()
        if stateDir == nil { try? FileManager.default.removeItem(at: state) }
    }

    /// Runs `handler` once, in a task, when the process gets SIGINT or SIGTERM (which then no longer end it
    /// by themselves). Cancel the returned sources to stop watching.
    static func onInterrupt(_ handler: @escaping @Sendable (Int32) async -> Void) -> [any DispatchSourceSignal] {
        let fired = Mutex(false)
        return [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                guard fired.withLock({ fired in defer { fired = true }; return !fired }) else { return }
                Task { await handler(number) }
            }
            source.resume()
            return source
        }
    }

    /// `NAME=VALUE` split at the first `=`; nil without one.
    static func pair(_ setting: String) -> (String, String)? {
        guard let equals = setting.firstIndex(of: "=") else { return nil }
        return (String(setting[..<equals]), String(setting[setting.index(after: equals)...]))
    }

    func runScenarios(_ cluster: LocalCluster, logger: Logger) async throws {
        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: logger)
        let tracker = try RunTracker(client: client) { cluster.allProcesses.first { !$0.value.isRunning }?.key }
        let pool = try cluster.databasePool(logger: logger)
        print(try await durabilityReport(pool))
        print("| scenario | jobs | wall time | jobs/s | p50 | p90 | p99 | max | CPU ms/job |")
        print("|---|---|---|---|---|---|---|---|---|")
        // Warm-up: connections, prepared statements, JIT-less paths.
        _ = try await burst(tracker, client: client, count: 200, label: "warm-up", job: Self.echoJob)
        let processesBefore = ProcessCPU.snapshot(cluster)
        let a = try await burst(tracker, client: client, count: jobs, label: "A burst: one-step echo", job: Self.echoJob)
        let processesAfter = ProcessCPU.snapshot(cluster)
        let aSeq = try await oneAtATime(tracker, client: client, count: sequential, label: "A one at a time", job: Self.echoJob)
        let processesAfterSequential = ProcessCPU.snapshot(cluster)
        // The same one-step job with a skill only a worker executes (`echo` is pure: the gateway runs it).
        let wSeq = try await oneAtATime(tracker, client: client, count: sequential, label: "W one at a time: one-step sleep 0 ms (worker)", job: Self.workerJob)
        let processesBeforeB = ProcessCPU.snapshot(cluster)
        let b = try await burst(tracker, client: client, count: chains, label: "B burst: 3-step chain", job: Self.chainJob)
        let processesAfterB = ProcessCPU.snapshot(cluster)
        let bSeq = try await oneAtATime(tracker, client: client, count: sequentialChains, label: "B one at a time", job: Self.chainJob)
        let f = try await burst(tracker, client: client, count: fanouts, label: "F burst: 1 -> 20 -> 1", job: Self.fanOutJob)
        print("")
        // A's and B's steps are pure: a gateway executes them in the transaction that records the run (all
        // hops 0), except past its inline limit in a burst; W's step goes to a worker.
        print(try await hopReport(pool, runs: a.runs, title: "Per-hop latency, A burst (ms, Postgres timestamps; the runs whose step went to a worker, past a gateway transaction's inline limit)"))
        print(try await hopReport(pool, runs: wSeq.runs, title: "Per-hop latency, W one at a time (ms; a worker executes the step)"))
        print(try await clientReport(pool, aSeq, title: "Where a one-at-a-time A job's time goes (ms; client clock and Postgres transaction starts, same host)"))
        print(ProcessCPU.report(before: processesBefore, after: processesAfter, jobs: jobs,
                                title: "CPU and context switches per A job by process (the A burst, from /proc/<pid>/stat and /proc/<pid>/task/*/status; Postgres processes and threads that ended meanwhile, e.g. autovacuum workers, not counted)"))
        print(ProcessCPU.report(before: processesAfter, after: processesAfterSequential, jobs: sequential,
                                title: "CPU and context switches per A job by process, one at a time"))
        print(ProcessCPU.report(before: processesBeforeB, after: processesAfterB, jobs: chains,
                                title: "CPU and context switches per B chain by process (the B burst)"))
        print(try await slowestRunReport(pool, [("A burst", a), ("A one at a time", aSeq), ("W one at a time", wSeq), ("B burst", b),
                                                ("B one at a time", bSeq), ("F burst", f)]))
        print(try await transactionReport(pool))
        if statements { print(try await statementReport(pool)) }
        await pool.close()
        await client.close()
    }

    // MARK: Jobs

    static func echoJob(_ index: Int) -> [UInt8] {
        AriaClient.jobMessage(agent: "bench", plan: ["steps": [["step_id": "echo", "skill": "echo", "params": ["i": .int(Int64(index))]]]])
    }

    /// A one-step job a worker must execute: `sleep` is not pure, so no gateway runs it inline.
    static func workerJob(_: Int) -> [UInt8] {
        AriaClient.jobMessage(agent: "bench", plan: ["steps": [["step_id": "nap", "skill": "sleep", "params": ["duration": 0]]]])
    }

    static func chainJob(_ index: Int) -> [UInt8] {
        AriaClient.jobMessage(agent: "bench", plan: ["steps": [
            ["step_id": "a", "skill": "echo", "params": ["i": .int(Int64(index))]],
            ["step_id": "b", "skill": "echo", "depends_on": ["a"], "params": ["from_a": "{{steps.a.output.i}}"]],
            ["step_id": "c", "skill": "echo", "depends_on": ["b"], "params": ["from_b": "{{steps.b.output.from_a}}"]],
        ]])
    }

    static func fanOutJob(_ index: Int) -> [UInt8] {
        var steps: [JSONValue] = [["step_id": "split", "skill": "echo", "params": ["i": .int(Int64(index))]]]
        for branch in 0..<20 {
            steps.append(["step_id": .string("b\(branch)"), "skill": "echo", "depends_on": ["split"], "params": ["branch": .int(Int64(branch))]])
        }
        steps.append(["step_id": "join", "skill": "echo", "depends_on": .array((0..<20).map { .string("b\($0)") })])
        return AriaClient.jobMessage(agent: "bench", plan: ["steps": .array(steps)])
    }

    // MARK: Scenarios

    struct Outcome {
        var runs: [RunID]
        var latencies: [Double]
        /// When each run's job was published, in the order of `runs`.
        var published: [Date]
    }

    func burst(_ tracker: RunTracker, client: AriaClient, count: Int, label: String, job: (Int) -> [UInt8]) async throws -> Outcome {
        let prefix = "\(label.prefix(1))-\(UUID().uuidString.prefix(6))"
        let keys = (0..<count).map { "\(prefix)-\($0)" }
        let messages = (0..<count).map(job)
        let cpu = MachineCPU.busySeconds()
        let start = Date()
        for index in 0..<count {
            tracker.published(key: keys[index], at: Date())
            try client.publishJobAsync(messages[index], idempotencyKey: keys[index])
            if index % 1000 == 999 { try await client.publishAsyncComplete() }
        }
        try await client.publishAsyncComplete()
        let done = try await tracker.waitForAll(keys: keys, timeout: .seconds(600))
        let wall = done.end.timeIntervalSince(start)
        report(label, count: count, wall: wall, latencies: done.latencies, cpu: MachineCPU.busySeconds().map { end in cpu.map { end - $0 } ?? 0 })
        return Outcome(runs: done.runs, latencies: done.latencies, published: done.published)
    }

    func oneAtATime(_ tracker: RunTracker, client: AriaClient, count: Int, label: String, job: (Int) -> [UInt8]) async throws -> Outcome {
        let prefix = "s-\(UUID().uuidString.prefix(6))"
        var runs: [RunID] = []
        var latencies: [Double] = []
        var published: [Date] = []
        let cpu = MachineCPU.busySeconds()
        let start = Date()
        for index in 0..<count {
            let key = "\(prefix)-\(index)"
            tracker.published(key: key, at: Date())
            // The client's connection sends at once (`sendAsap`): no flush, which would add a PING/PONG, a
            // thread hop and the server's work for them to the job's path.
            try client.publishJobAsync(job(index), idempotencyKey: key)
            let done = try await tracker.waitForAll(keys: [key], timeout: .seconds(30))
            runs += done.runs
            latencies += done.latencies
            published += done.published
        }
        report(label, count: count, wall: Date().timeIntervalSince(start), latencies: latencies, cpu: MachineCPU.busySeconds().map { end in cpu.map { end - $0 } ?? 0 })
        return Outcome(runs: runs, latencies: latencies, published: published)
    }

    /// One table row; `cpu` is the machine's busy CPU time during the scenario (cluster and client).
    func report(_ label: String, count: Int, wall: Double, latencies: [Double], cpu: Double? = nil) {
        let sorted = latencies.sorted()
        func pct(_ p: Double) -> String {
            guard !sorted.isEmpty else { return "-" }
            return String(format: "%.1f ms", sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000)
        }
        let cpuPerJob = cpu.map { String(format: "%.2f", $0 * 1000 / Double(max(count, 1))) } ?? "-"
        print("| \(label) | \(count) | \(String(format: "%.2f s", wall)) | \(String(format: "%.0f", Double(count) / wall)) | \(pct(0.5)) | \(pct(0.9)) | \(pct(0.99)) | \(pct(1.0)) | \(cpuPerJob) |")
    }

    // MARK: Reports

    func durabilityReport(_ pool: PostgresPool) async throws -> String {
        let rows = try await pool.withConnection { connection -> [String] in
            var lines: [String] = []
            for setting in ["fsync", "synchronous_commit", "full_page_writes", "wal_level"] {
                lines.append("- Postgres `\(setting)` = \(try connection.query("SHOW \(setting)").rows.first?[0] ?? "?")")
            }
            let persistence = try connection.query("""
                SELECT string_agg(relname || '=' || CASE relpersistence WHEN 'p' THEN 'logged' WHEN 'u' THEN 'UNLOGGED' ELSE 'temp' END, ', ' ORDER BY relname)
                FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
                """).rows.first?[0] ?? "?"
            lines.append("- Tables: \(persistence)")
            return lines
        }
        return (["Durability settings:"] + rows + [
            "- JetStream: every stream file-backed (storage=file), replicas 1; nats-server 2.9 fsyncs in the background (every 2 min; `sync_interval` exists only from 2.10)",
            "- Acknowledgements: every message acked only after its Postgres transaction committed",
            "",
        ]).joined(separator: "\n")
    }

    /// Dispatch, start and end of the runs' first steps that a worker executed (a gateway's inline
    /// executions have no hops).
    func hopReport(_ pool: PostgresPool, runs: [RunID], title: String) async throws -> String {
        guard !runs.isEmpty else { return "" }
        let ids = "{" + runs.map(\.description).joined(separator: ",") + "}"
        let rows = try await pool.withConnection { connection in
            try connection.query("""
                WITH first_step AS (
                    SELECT DISTINCT ON (s.run_id) s.run_id, s.dispatched_at, a.started_at, s.finished_at
                    FROM steps s JOIN step_attempts a ON a.run_id = s.run_id AND a.step_id = s.step_id
                    WHERE s.run_id = ANY($1::uuid[]) AND a.worker NOT LIKE 'gateway%' ORDER BY s.run_id, s.position, a.attempt DESC),
                hops AS (
                    SELECT extract(epoch FROM f.dispatched_at - r.created_at) * 1000 AS accepted_to_dispatched,
                           extract(epoch FROM f.started_at - f.dispatched_at) * 1000 AS dispatched_to_started,
                           extract(epoch FROM f.finished_at - f.started_at) * 1000 AS started_to_finished,
                           extract(epoch FROM r.finished_at - r.created_at) * 1000 AS accepted_to_run_end
                    FROM runs r JOIN first_step f ON f.run_id = r.run_id)
                SELECT hop, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY v)::numeric, 2),
                            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY v)::numeric, 2)
                FROM hops, LATERAL (VALUES ('acceptance -> dispatch (0: same transaction)', accepted_to_dispatched),
                                           ('dispatch -> attempt start (worker)', dispatched_to_started),
                                           ('attempt start -> result (0: pure skill, one transaction)', started_to_finished),
                                           ('acceptance -> run finished', accepted_to_run_end)) AS x(hop, v)
                GROUP BY hop ORDER BY min(CASE hop WHEN 'acceptance -> dispatch (0: same transaction)' THEN 1
                    WHEN 'dispatch -> attempt start (worker)' THEN 2 WHEN 'attempt start -> result (0: pure skill, one transaction)' THEN 3 ELSE 4 END)
                """, [ids]).rows
        }
        return "\n\(title):\n\n| hop | p50 | p99 |\n|---|---|---|\n" + rows.map { "| \($0[0] ?? "") | \($0[1] ?? "") | \($0[2] ?? "") |" }.joined(separator: "\n")
    }

    /// Splits one-at-a-time latencies into: publish -> the gateway's acceptance transaction starts, acceptance
    /// -> the transaction that ends the run starts, and that -> the client receives `succeeded` (that
    /// transaction's work, its commit, the relay's publish, delivery).
    func clientReport(_ pool: PostgresPool, _ outcome: Outcome, title: String) async throws -> String {
        guard !outcome.runs.isEmpty, outcome.published.count == outcome.runs.count else { return "" }
        let ids = "{" + outcome.runs.map(\.description).joined(separator: ",") + "}"
        let rows = try await pool.withConnection { connection in
            try connection.query("""
                SELECT run_id::text, (extract(epoch FROM created_at) * 1000)::float8, (extract(epoch FROM finished_at) * 1000)::float8
                FROM runs WHERE run_id = ANY($1::uuid[])
                """, [ids]).rows
        }
        var times: [String: (Double, Double)] = [:]
        for row in rows { times[row[0] ?? ""] = (Double(row[1] ?? "") ?? 0, Double(row[2] ?? "") ?? 0) }
        var submit: [Double] = [], server: [Double] = [], back: [Double] = []
        for (index, run) in outcome.runs.enumerated() {
            guard let (created, finished) = times[run.description] else { continue }
            let published = outcome.published[index].timeIntervalSince1970 * 1000
            let received = published + outcome.latencies[index] * 1000
            submit.append(created - published)
            server.append(finished - created)
            back.append(received - finished)
        }
        func p(_ values: [Double], _ q: Double) -> String {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return "-" }
            return String(format: "%.2f", sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * q))])
        }
        return "\n\(title):\n\n| part | p50 | p99 |\n|---|---|---|\n"
            + "| publish -> acceptance transaction starts (JetStream store, gateway fetch) | \(p(submit, 0.5)) | \(p(submit, 0.99)) |\n"
            + "| acceptance -> run-ending transaction starts (gateway commit, relay, worker fetch, skill) | \(p(server, 0.5)) | \(p(server, 0.99)) |\n"
            + "| run-ending transaction -> client has `succeeded` (its statements, commit, relay, delivery) | \(p(back, 0.5)) | \(p(back, 0.99)) |"
    }

    /// Where each scenario's slowest run waited (``SlowestRun``), from the start times of the transactions
    /// that wrote its events (`now()`; client and Postgres share the host's clock).
    func slowestRunReport(_ pool: PostgresPool, _ scenarios: [(label: String, outcome: Outcome)]) async throws -> String {
        var rows: [String] = []
        for (label, outcome) in scenarios {
            guard outcome.published.count == outcome.runs.count,
                  let index = outcome.latencies.indices.max(by: { outcome.latencies[$0] < outcome.latencies[$1] }) else { continue }
            let transactions = try await pool.withConnection { connection in
                try connection.query("""
                    SELECT (extract(epoch FROM created_at) * 1000)::float8,
                           string_agg(kind || coalesce(' ' || (body->>'step'), ''), ', ' ORDER BY seq)
                    FROM run_events WHERE run_id = $1::uuid GROUP BY created_at ORDER BY created_at
                    """, [outcome.runs[index].description]).rows
            }
            let published = outcome.published[index].timeIntervalSince1970 * 1000
            let run = SlowestRun(latency: outcome.latencies[index] * 1000, transactions: transactions.map {
                SlowestRun.Transaction(start: (Double($0[0] ?? "") ?? 0) - published, events: $0[1] ?? "")
            })
            if let row = run.row(label) { rows.append(row) }
        }
        return (["", "The slowest run of each scenario (ms from its publish; its transactions told apart by their start time, from the run's events):", "",
                 SlowestRun.header] + rows).joined(separator: "\n")
    }

    /// The statements that took the most server time over the whole benchmark (pg_stat_statements).
    func statementReport(_ pool: PostgresPool) async throws -> String {
        let rows = try await pool.withConnection { connection in
            try connection.query("""
                SELECT calls, round(total_exec_time::numeric, 1) AS total, round(mean_exec_time::numeric, 3) AS mean, rows,
                       regexp_replace(left(query, 110), '\\s+', ' ', 'g') AS query
                FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                ORDER BY total_exec_time DESC LIMIT 25
                """).rows
        }
        var report = "\nStatements by server time (pg_stat_statements; planning not included):\n\n| calls | total ms | mean ms | rows | statement |\n|---|---|---|---|---|\n"
        for row in rows {
            let query = (row["query"] ?? "").replacingOccurrences(of: "|", with: "\\|")
            report += "| \(row["calls"] ?? "") | \(row["total"] ?? "") | \(row["mean"] ?? "") | \(row["rows"] ?? "") | `\(query)` |\n"
        }
        return report
    }

    func transactionReport(_ pool: PostgresPool) async throws -> String {
        let rows = try await pool.withConnection { connection in
            try connection.query("SELECT xact_commit, xact_rollback, blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()").rows
        }
        guard let row = rows.first else { return "" }
        return "\nPostgres totals for the whole benchmark: \(row[0] ?? "?") commits, \(row[1] ?? "?") rollbacks.\n"
    }
}

/// The machine's busy CPU time (all cores, every process: user, nice, system, interrupts; not steal) from
/// `/proc/stat`, in seconds; nil where there is no `/proc/stat`.
enum MachineCPU {
    static func busySeconds() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 8 else { return nil }
        // user nice system idle iowait irq softirq steal: the work done here (not idle, iowait, steal).
        let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// CPU time of the cluster's processes (user + system, from `/proc/<pid>/stat`): each service replica,
/// nats-server, and Postgres (the postmaster and every backend and worker it started), plus this process.
enum ProcessCPU {
    /// What a group of processes used: CPU seconds and context switches (voluntary and involuntary, summed
    /// over the threads alive at the snapshot: a thread that ended meanwhile takes its switches with it).
    struct Usage {
        /// User + system CPU seconds.
        var seconds: Double = 0
        /// Context switches of the live threads.
        var switches: Int = 0

        static func += (total: inout Usage, other: Usage) {
            total.seconds += other.seconds
            total.switches += other.switches
        }
    }

    /// Usage by process group name (`gateway`, `worker`, `postgres`, …).
    static func snapshot(_ cluster: LocalCluster) -> [String: Usage] {
        var groups: [String: Usage] = [:]
        for (name, process) in cluster.allProcesses {
            let group = String(name.prefix { $0 != "-" })
            groups[group, default: Usage()] += usage(process.pid)
        }
        groups["nats-server", default: Usage()] += usage(cluster.nats.pid)
        let postmaster = cluster.postgres.pid
        groups["postgres", default: Usage()] += usage(postmaster)
        for pid in children(of: postmaster) { groups["postgres", default: Usage()] += usage(pid) }
        groups["bench client", default: Usage()] += usage(getpid())
        return groups
    }

    /// A Markdown table of the CPU and context switches spent per job by each group between two snapshots,
    /// under `title`.
    static func report(before: [String: Usage], after: [String: Usage], jobs: Int, title: String) -> String {
        let spent = after.map { name, usage in
            (name, max(0, usage.seconds - (before[name]?.seconds ?? 0)), max(0, usage.switches - (before[name]?.switches ?? 0)))
        }.sorted { $0.1 > $1.1 }
        let total = spent.reduce(0) { $0 + $1.1 }
        let perJob = Double(max(jobs, 1))
        var text = "\n\(title):\n\n| process | CPU ms/job | share | context switches/job |\n|---|---|---|---|\n"
        for (name, seconds, switches) in spent {
            text += "| \(name) | \(String(format: "%.2f", seconds * 1000 / perJob)) | \(String(format: "%.0f %%", total > 0 ? seconds / total * 100 : 0)) | \(String(format: "%.1f", Double(switches) / perJob)) |\n"
        }
        let switches = spent.reduce(0) { $0 + $1.2 }
        text += "| all | \(String(format: "%.2f", total * 1000 / perJob)) | 100 % | \(String(format: "%.1f", Double(switches) / perJob)) |\n"
        return text
    }

    /// CPU seconds and context switches of `pid` (zero if it is gone).
    static func usage(_ pid: Int32) -> Usage {
        Usage(seconds: seconds(pid), switches: contextSwitches(pid))
    }

    /// The context switches of `pid`'s live threads, from `/proc/<pid>/task/*/status`.
    static func contextSwitches(_ pid: Int32) -> Int {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return 0 }
        var total = 0
        for task in tasks {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else { continue }
            for line in status.split(separator: "\n") where line.contains("ctxt_switches:") {
                total += Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
            }
        }
        return total
    }

    /// User + system CPU seconds of `pid` (0 if it is gone). Ended Postgres backends are not counted.
    static func seconds(_ pid: Int32) -> Double {
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after "pid (comm)".
        guard let fields = statFields(pid), fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The pids whose parent (field 4) is `parent`.
    static func children(of parent: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let fields = statFields(pid), fields.count > 1 else { return false }
            return Int32(fields[1]) == parent
        }
    }

    /// The fields of `/proc/<pid>/stat` after "pid (comm)" (the command may contain spaces); nil if gone.
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }
}

/// Follows the ends of submitted jobs: `succeeded`, `failed` and `rejected`, each matched to its job by the
/// idempotency key it carries.
final class RunTracker: Sendable {
    struct State {
        var publishedAt: [String: Date] = [:]
        var runByKey: [String: RunID] = [:]
        var finishedAt: [RunID: Date] = [:]
        var failed: [RunID: String] = [:]
    }
    private let task: Task<Void, Never>
    /// The name of a service of the cluster that is no longer running, if any.
    private let deadService: @Sendable () -> String?

    /// Tracks the runs of `client`'s jobs; a wait fails as soon as `deadService` names a service that exited.
    init(client: AriaClient, deadService: @escaping @Sendable () -> String?) throws {
        self.deadService = deadService
        // Only the events that end a run (they carry the job's idempotency key), so the client spends as
        // little of the machine's CPU as it can: the system under test shares the two cores with it.
        let subscriptions = try [RunEventKind.succeeded, .failed, .rejected].map { try client.subscribeEvents(kind: $0) }
        let box = StateBox()
        task = Task {
            await withDiscardingTaskGroup { group in
                for subscription in subscriptions {
                    group.addTask {
                        for await message in subscription {
                            // Received when nats.c handed it to the subscription's callback, as the peer's
                            // harness stamps in its subscription's callback: not after the hop to this task.
                            guard let event = try? Wire.decode(Envelope<RunEventBody>.self, from: message.payload), let run = event.run else { continue }
                            box.apply(event, run: run, at: message.receivedAt)
                        }
                    }
                }
            }
        }
        self.box = box
        // Wakes waits every second, to notice a service that died (a wait would otherwise last its timeout).
        // One timer for the tracker's life: a timer per wait would add a task and its wake-ups to every
        // one-at-a-time job, on the two cores the system under test uses.
        ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                box.signal.yield()
            }
        }
    }

    private let box: StateBox
    private let ticker: Task<Void, Never>

    final class StateBox: Sendable {
        let state = Mutex(State())
        func apply(_ event: Envelope<RunEventBody>, run: RunID, at now: Date) {
            state.withLock { state in
                if let key = event.body.idempotencyKey { state.runByKey[key] = run }
                switch event.body.kind {
                case .succeeded: state.finishedAt[run] = now
                case .failed, .rejected: state.failed[run] = event.body.error?.description ?? event.body.kind.rawValue
                default: return
                }
            }
            signal.yield()
        }
        /// Yields after each event that may complete a wait, so waiters need not poll.
        let (changes, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func published(key: String, at date: Date) { box.state.withLock { $0.publishedAt[key] = date } }

    /// Waits until every key's run succeeded; returns the runs, their jobs' publish times, the latencies and
    /// the last finish time.
    func waitForAll(keys: [String], timeout: Duration) async throws -> (runs: [RunID], published: [Date], latencies: [Double], end: Date) {
        let deadline = ContinuousClock.now + timeout
        var changes = box.changes.makeAsyncIterator()
        while true {
            let result = try box.state.withLock { state -> (runs: [RunID], published: [Date], latencies: [Double], end: Date)? in
                // Cheap check first: not all ended yet (a full scan of every key each poll costs real CPU).
                if state.finishedAt.count + state.failed.count < keys.count && state.failed.isEmpty { return nil }
                var runs: [RunID] = []
                var publishedAt: [Date] = []
                var latencies: [Double] = []
                var end = Date.distantPast
                for key in keys {
                    guard let run = state.runByKey[key] else { return nil }
                    if let failure = state.failed[run] { throw ValidationError("job \(key) did not succeed: \(failure)") }
                    guard let finished = state.finishedAt[run], let published = state.publishedAt[key] else { return nil }
                    runs.append(run)
                    publishedAt.append(published)
                    latencies.append(finished.timeIntervalSince(published))
                    end = max(end, finished)
                }
                return (runs, publishedAt, latencies, end)
            }
            if let result { return result }
            if let dead = deadService() { throw ValidationError("service \(dead) exited during the benchmark; its log is logs/\(dead).log in the state directory, kept after a failure") }
            if ContinuousClock.now >= deadline { throw ValidationError("jobs did not finish within \(timeout)") }
            if keys.count == 1 {
                // One at a time: woken by the next event (or the timeout), so the latency is not the poll's.
                _ = await changes.next()
            } else {
                // A burst: a check scans every key, so check every 10 ms rather than on each event.
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    deinit {
        task.cancel()
        ticker.cancel()
    }
}

/// The slowest run of a scenario: its latency and its transactions, each by its start (ms after the
/// publish) and the events it wrote. Its report row says where the run waited.
struct SlowestRun {
    /// One transaction of the run.
    struct Transaction: Equatable {
        /// When it started, in ms after the job's publish.
        var start: Double
        /// The events it wrote, in order (`kind step`).
        var events: String
    }

    /// From publish to the client's receipt of `succeeded`, in ms.
    var latency: Double
    /// The run's transactions, by start.
    var transactions: [Transaction]

    /// The table's header and separator lines.
    static let header = """
        | scenario | latency | publish -> first transaction starts | longest wait between transaction starts | last transaction starts -> client has `succeeded` | transactions |
        |---|---|---|---|---|---|
        """

    /// The two consecutive transactions furthest apart, or nil with fewer than two.
    var longestWait: (before: Transaction, after: Transaction)? {
        zip(transactions, transactions.dropFirst()).max { $0.1.start - $0.0.start < $1.1.start - $1.0.start }.map { (before: $0.0, after: $0.1) }
    }

    /// The report row for the scenario `label`; nil without transactions.
    func row(_ label: String) -> String? {
        guard let first = transactions.first, let last = transactions.last else { return nil }
        func ms(_ value: Double) -> String { String(format: "%.1f", value) }
        let longest = longestWait.map {
            "\(ms($0.after.start - $0.before.start)) (after `\($0.before.events.suffix(60))` at \(ms($0.before.start)), before `\($0.after.events.prefix(60))`)"
        } ?? "-"
        return "| \(label) | \(ms(latency)) | \(ms(first.start)) | \(longest) | \(ms(latency - last.start)) | \(transactions.count) |"
    }
}
