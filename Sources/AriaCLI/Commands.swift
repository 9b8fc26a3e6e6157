import AriaBus
import AriaCore
import AriaNATS
import AriaPostgres
import AriaStore
import ArgumentParser
import Foundation
import Logging

/// The `aria` command-line client.
public struct AriaCommand: AsyncParsableCommand {
    /// The command tree.
    public static let configuration = CommandConfiguration(
        commandName: "aria",
        abstract: "Aria: a distributed worker cluster for AI-agent jobs.",
        subcommands: [DevCommand.self, MigrateCommand.self, SubmitCommand.self, RunCommand.self, CancelCommand.self, RerunCommand.self,
                      WorkersCommand.self, SkillsCommand.self, AdminCommand.self, BenchCommand.self])
    /// Creates the command.
    public init() {}

    /// Parses the command line and runs the command (the `aria` executable's entry point).
    public static func runAsync() async {
        await main(nil)
    }
}

/// Options every command that talks to a cluster shares.
struct ClusterOptions: ParsableArguments {
    @Option(name: .long, help: "State directory of a local cluster whose cluster.env to read (default: $ARIA_STATE_DIR or ./.aria-dev).")
    var stateDir: String?

    @Flag(name: .long, help: "Log debug output.")
    var verbose = false

    var environment: ClusterEnvironment {
        ClusterEnvironment(stateDirectory: stateDir.map { URL(fileURLWithPath: $0).standardizedFileURL })
    }

    var logger: Logger {
        var logger = Logger(label: "aria.cli")
        logger.logLevel = verbose ? .debug : .warning
        return logger
    }
}

/// `aria migrate`: applies SQL migrations and creates the JetStream streams and consumers.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply database migrations and provision the bus (admin).")

    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Only the database.") var sqlOnly = false
    @Flag(help: "Only the bus.") var busOnly = false

    func run() async throws {
        let environment = cluster.environment
        let logger = cluster.logger
        try await Provisioning.migrate(environment: environment, sql: !busOnly, bus: !sqlOnly, logger: logger)
        print("migrated: schema version \(Migrations.latest); streams \(Streams.submit), \(Streams.plan), \(Streams.schedule), \(Streams.work), \(Streams.events); bucket \(Buckets.workers)")
    }
}

/// Database and bus provisioning shared by `aria migrate`, `aria dev up` and tests.
public enum Provisioning {
    /// Applies migrations (`sql`) and creates streams and consumers with the admin NATS user (`bus`).
    public static func migrate(environment: ClusterEnvironment, sql: Bool = true, bus: Bool = true, logger: Logger) async throws {
        if sql {
            let pool = PostgresPool(config: try PostgresConfig(url: environment.databaseURL), maxConnections: 1, logger: logger)
            do {
                try await Migrator(pool: pool, logger: logger).migrate()
            } catch {
                await pool.close()
                throw error
            }
            await pool.close()
        }
        if bus {
            let nats = try await NATSConnection.connect(
                NATSConnectOptions(urls: environment.natsURLs, user: "admin", password: environment.natsPassword(user: "admin"), name: "aria-migrate"),
                logger: logger)
            defer { nats.close() }
            try await BusProvisioner(jetStream: try nats.jetStream(), logger: logger).provision(try BusSettings(reader: environment.reader))
        }
    }

    /// Adds tenants (idempotent).
    public static func addTenants(_ tenants: [TenantID], environment: ClusterEnvironment, logger: Logger) async throws {
        let pool = PostgresPool(config: try PostgresConfig(url: environment.databaseURL), maxConnections: 1, logger: logger)
        let store = RunStore(pool: pool, origin: "cli", subjects: Subjects(), outboxGrace: AriaDuration(milliseconds: 1000))
        do {
            for tenant in tenants { try await store.addTenant(tenant) }
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
    }
}

/// `aria admin`: tenants and the NATS configuration.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "admin", abstract: "Administer tenants and bus users.",
                                                    subcommands: [NATSConfigCommand.self, TenantAddCommand.self])

    struct NATSConfigCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "nats-config", abstract: "Print the nats-server authorization config (one user per service and tenant).")
        @Option(name: .customLong("tenant"), help: "A tenant to create a NATS user for (repeatable).") var tenants: [String] = ["demo"]
        @Option(name: .customLong("pool"), help: "A worker pool (repeatable).") var pools: [String] = ["default"]
        @Option(help: "Write to this file instead of standard output.") var output: String?

        func run() async throws {
            let ids = try tenants.map { name throws(AriaError) in try TenantID(name) }
            let text = NATSAuthConfig(tenants: ids, workerPools: pools).render()
            if let output {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
            } else {
                print(text, terminator: "")
            }
        }
    }

    struct TenantAddCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "tenant-add", abstract: "Add a tenant (idempotent).")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "Tenant id ([a-z0-9_-]{1,64}).") var tenant: String

        func run() async throws {
            try await Provisioning.addTenants([try TenantID(tenant)], environment: cluster.environment, logger: cluster.logger)
            print("tenant \(tenant) ready")
        }
    }
}

/// Opens a client for `tenant` from the cluster environment.
func openClient(tenant: String, cluster: ClusterOptions) async throws -> AriaClient {
    let id = try TenantID(tenant)
    let environment = cluster.environment
    let user = environment.values["ARIA_NATS_USER"] ?? NATSAuthConfig.userName(tenant: id)
    return try await AriaClient(tenant: id, urls: environment.natsURLs, user: user, password: environment.natsPassword(user: user), logger: cluster.logger)
}

/// `aria submit`: submit a job, optionally following it to the end.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "submit", abstract: "Submit a job (a plan file or a template with params).")

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Tenant.") var tenant = "demo"
    @Option(help: "Agent the job runs as.") var agent = "demo"
    @Option(help: "The goal, in words.") var goal: String?
    @Option(help: "A JSON file with an explicit plan ({\"steps\": [...]}).") var plan: String?
    @Option(help: "A plan template name (config/plans/<name>.yaml).") var template: String?
    @Option(name: .customLong("param"), help: "A template parameter name=value (value parsed as JSON if it is JSON, else a string); repeatable.") var params: [String] = []
    @Option(help: "Idempotency key (same key + same job = same run).") var idempotencyKey: String?
    @Flag(help: "Publish on the durable submit stream instead of the confirmed create-job API.") var durable = false
    @Flag(help: "Follow the run's events until it ends.") var watch = false
    @Option(help: "How long --watch waits, e.g. 60s.") var timeout = "120s"

    func run() async throws {
        var planValue: JSONValue?
        if let plan {
            guard let data = FileManager.default.contents(atPath: plan) else { throw ValidationError("cannot read \(plan)") }
            planValue = try JSONValue(parsing: Array(data))
        }
        var paramValues: [String: JSONValue] = [:]
        for param in params {
            guard let equals = param.firstIndex(of: "=") else { throw ValidationError("--param must be name=value") }
            let text = String(param[param.index(after: equals)...])
            paramValues[String(param[..<equals])] = (try? JSONValue(parsing: Array(text.utf8))) ?? .string(text)
        }
        let message = AriaClient.jobMessage(agent: agent, goal: goal, plan: planValue, template: template,
                                            params: template == nil ? nil : .object(paramValues))
        let client = try await openClient(tenant: tenant, cluster: cluster)
        defer { Task { await client.close() } }
        let waitFor = try AriaDuration(parsing: timeout).duration
        let run: RunID
        if durable {
            let key = idempotencyKey ?? UUIDv7Generator.shared.next().uuidString.lowercased()
            let events = try client.subscribeEvents()
            let ack = try await client.publishJob(message, idempotencyKey: key)
            print("published: stream \(ack.stream) seq \(ack.sequence)\(ack.duplicate ? " (duplicate message id)" : "") key \(key)")
            guard let first = try await Self.firstEvent(forKey: key, in: events, timeout: waitFor) else {
                throw ValidationError("no accepted or rejected event for key \(key) within \(timeout)")
            }
            guard let id = first.run else { throw ValidationError("event without a run id") }
            if first.body.kind == .rejected {
                print("rejected: \(first.body.error?.description ?? "unknown reason")")
                throw ExitCode(3)
            }
            run = id
        } else {
            let reply = try await client.createJob(message, idempotencyKey: idempotencyKey)
            guard reply.ok, let id = reply.run else {
                print("rejected: \(reply.error?.description ?? "unknown reason")\(reply.run.map { " (existing run \($0))" } ?? "")")
                throw ExitCode(3)
            }
            run = id
            print("run \(id) \(reply.duplicate == true ? "(existing run for this key)" : "accepted")")
        }
        guard watch else {
            if durable { print("run \(run) accepted") }
            return
        }
        let terminal = try await client.watch(run, timeout: waitFor) { event in
            print(Self.describe(event))
        }
        if terminal.body.kind != .succeeded { throw ExitCode(4) }
    }

    /// The first accepted/rejected event carrying `key`.
    static func firstEvent(forKey key: String, in subscription: NATSSubscription, timeout: Duration) async throws -> Envelope<RunEventBody>? {
        try await withThrowingTaskGroup(of: Envelope<RunEventBody>?.self) { group in
            group.addTask {
                for await message in subscription {
                    guard let event = try? Wire.decode(Envelope<RunEventBody>.self, from: message.payload) else { continue }
                    if event.body.idempotencyKey == key, event.body.kind == .accepted || event.body.kind == .rejected { return event }
                }
                return nil
            }
            group.addTask { try await Task.sleep(for: timeout); return nil }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// One line per event.
    static func describe(_ event: Envelope<RunEventBody>) -> String {
        var line = "[\(event.seq ?? 0)] \(event.body.kind.rawValue)"
        if let step = event.body.step { line += " step=\(step)" }
        if let skill = event.body.skill { line += " skill=\(skill)" }
        if let attempt = event.body.attempt { line += " attempt=\(attempt)" }
        if let output = event.body.output { line += " output=\(output.jsonString.prefix(200))" }
        if let error = event.body.error { line += " error=\(error)" }
        if let reason = event.body.reason { line += " reason=\"\(reason)\"" }
        if let notBefore = event.body.notBefore { line += " not_before=\(Timestamp.format(notBefore))" }
        if let parent = event.body.parentRun { line += " parent=\(parent)" }
        return line
    }
}

/// `aria run show <id>`.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Inspect runs.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a run and its steps (through the gateway).")
        @OptionGroup var cluster: ClusterOptions
        @Option(help: "Tenant.") var tenant = "demo"
        @Flag(help: "Print the raw JSON reply.") var json = false
        @Argument(help: "Run id.") var run: String

        func run() async throws {
            guard let id = RunID(run) else { throw ValidationError("not a run id: \(run)") }
            let client = try await openClient(tenant: tenant, cluster: cluster)
            defer { Task { await client.close() } }
            let reply = try await client.getRun(id)
            if json {
                print(String(decoding: try Wire.encode(reply), as: UTF8.self))
                return
            }
            guard let view = reply.runView else {
                print("error: \(reply.error?.description ?? "no run")")
                throw ExitCode(3)
            }
            print("run \(view.run)  tenant=\(view.tenant) agent=\(view.agent) status=\(view.status.rawValue)")
            if let goal = view.goal { print("goal: \(goal)") }
            if let key = view.idempotencyKey { print("idempotency key: \(key)") }
            if let parent = view.parentRun { print("rerun of: \(parent)") }
            if let error = view.error { print("error: \(error)") }
            if let output = view.output { print("output: \(output.jsonString)") }
            for step in view.steps {
                var line = "  \(step.step)  \(step.skill)  \(step.status.rawValue)  attempts=\(step.attempts)"
                if step.phase == .fallback { line += "  (fallback)" }
                if let error = step.error { line += "  error=\(error)" }
                if let reason = step.reason { line += "  reason=\"\(reason)\"" }
                if let reused = step.reusedFrom { line += "  reused from \(reused)" }
                print(line)
            }
        }
    }
}

/// `aria cancel <id>`.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a run: nothing new is dispatched, running steps are told to stop.")
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Tenant.") var tenant = "demo"
    @Option(help: "Why (recorded in the run's events).") var reason: String?
    @Argument(help: "Run id.") var run: String

    func run() async throws {
        guard let id = RunID(run) else { throw ValidationError("not a run id: \(run)") }
        let client = try await openClient(tenant: tenant, cluster: cluster)
        defer { Task { await client.close() } }
        let reply = try await client.cancelRun(id, reason: reason)
        guard reply.ok else {
            print("error: \(reply.error?.description ?? "unknown")")
            throw ExitCode(3)
        }
        print("run \(id) \(reply.status?.rawValue ?? "cancelled")")
    }
}

/// `aria rerun <id> [--from-failed]`.
struct RerunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rerun", abstract: "Run an ended run's plan again as a new run (parent_run_id set).")
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Tenant.") var tenant = "demo"
    @Flag(help: "Reuse the outputs of the steps that succeeded; run only the others.") var fromFailed = false
    @Flag(help: "Follow the new run's events until it ends.") var watch = false
    @Option(help: "How long --watch waits, e.g. 60s.") var timeout = "120s"
    @Argument(help: "Run id.") var run: String

    func run() async throws {
        guard let id = RunID(run) else { throw ValidationError("not a run id: \(run)") }
        let client = try await openClient(tenant: tenant, cluster: cluster)
        defer { Task { await client.close() } }
        let reply = try await client.rerunRun(id, mode: fromFailed ? .fromFailed : .fromScratch)
        guard reply.ok, let child = reply.run else {
            print("error: \(reply.error?.description ?? "unknown")")
            throw ExitCode(3)
        }
        print("run \(child) accepted (rerun of \(id))")
        guard watch else { return }
        let terminal = try await client.watch(child, timeout: try AriaDuration(parsing: timeout).duration) { print(SubmitCommand.describe($0)) }
        if terminal.body.kind != .succeeded { throw ExitCode(4) }
    }
}
