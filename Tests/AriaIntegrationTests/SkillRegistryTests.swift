import AriaCLI
import AriaCore
import AriaHTTP
import AriaRuntime
import AriaTestSupport
import AriaWorker
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@Suite("Skill registry: the configuration file and the worker's contract checks")
struct SkillRegistryTests {
    static let root = TestCluster.packageRoot

    // MARK: config/skills.yaml

    @Test("config/skills.yaml loads, and states exactly the built-in defaults")
    func committedConfigurationIsTheDefaults() throws {
        let path = Self.root.appendingPathComponent("config/skills.yaml").path
        let catalog = try SkillConfigLoader.catalog(environment: [SkillConfigLoader.variable: path])
        #expect(catalog.descriptors == SkillCatalog.builtIn.descriptors)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for name in SkillCatalog.builtInNames { #expect(text.contains("\n  \(name):"), "config/skills.yaml lists \(name)") }
    }

    @Test("docs/skills.md has a section for every built-in skill naming its inputs, outputs and configuration keys; config/skills.yaml lists every key")
    func documentationInStep() throws {
        let docs = try String(contentsOf: Self.root.appendingPathComponent("docs/skills.md"), encoding: .utf8)
        let yaml = try String(contentsOf: Self.root.appendingPathComponent("config/skills.yaml"), encoding: .utf8)
        var sections: [String: String] = [:]
        for chunk in docs.components(separatedBy: "\n### `").dropFirst() {
            sections[String(chunk.prefix { $0 != "`" })] = chunk
        }
        #expect(Set(sections.keys) == Set(SkillCatalog.builtInNames))
        for skill in SkillCatalog.builtIn.descriptors {
            let section = try #require(sections[skill.name])
            #expect(section.contains("**Risk** `\(skill.risk.rawValue)`"), "\(skill.name)'s risk class")
            for input in (skill.inputSchema["properties"]?.objectValue ?? [:]).keys {
                #expect(section.contains("`\(input)`"), "\(skill.name)'s input \(input)")
            }
            for output in (skill.outputSchema["properties"]?.objectValue ?? [:]).keys {
                #expect(section.contains(output), "\(skill.name)'s output \(output)")
            }
            for key in (skill.configuration.objectValue ?? [:]).keys {
                #expect(section.contains("| `\(key)` |"), "\(skill.name)'s configuration key \(key) in docs/skills.md")
                #expect(yaml.contains("    \(key): "), "\(skill.name)'s configuration key \(key) in config/skills.yaml")
            }
        }
        let configuration = try String(contentsOf: Self.root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        #expect(configuration.contains("`ARIA_SKILLS_CONFIG`") && configuration.contains("`ARIA_SKILL_<SKILL>_<KEY>`"))
        for alias in SkillsConfiguration.environmentAliases { #expect(configuration.contains("`\(alias.variable)`")) }
    }

    @Test("YAML settings and environment overrides reach the catalog")
    func yamlOverrides() throws {
        let yaml = """
            # comments are fine
            skills:
              http_call:
                pool: net
                timeout: 45s
                max_response_bytes: 2048
                default_response_bytes: 1024
                allow_hosts: [api.example.com, "*.corp.example"]
              pg_query:
                database_url_file: /run/secrets/pg_query_url
                max_rows: 100
                default_rows: 10
              echo:
            """
        let configuration = try SkillConfigLoader.configuration(yaml: yaml, environment: ["ARIA_SKILL_PG_QUERY_MAX_ROWS": "50"], source: "test.yaml")
        let catalog = try SkillCatalog.builtIn(configuration: configuration)
        #expect(catalog["http_call"]?.pool == "net" && catalog["http_call"]?.defaultTimeout == .seconds(45))
        #expect(catalog["http_call"]?.configuration["allow_hosts"] == ["api.example.com", "*.corp.example"])
        #expect(catalog["http_call"]?.problems(in: ["url": "https://x", "max_bytes": 4096]) == ["'max_bytes' must be less than or equal to 2048"])
        #expect(catalog["pg_query"]?.configuration["max_rows"] == 50)
        #expect(catalog["pg_query"]?.configuration["database_url_file"] == "/run/secrets/pg_query_url")
        #expect(catalog["echo"] == SkillCatalog.builtIn["echo"])
    }

    @Test("The loader refuses an inline secret, an unknown skill, broken YAML and a missing named file with invalid_configuration", arguments: [
        ("skills:\n  pg_query:\n    database_url: postgres://aria:secret@db/users\n", "skills.pg_query.database_url is a secret"),
        ("skills:\n  teleport:\n    pool: x\n", "skills.teleport is not a skill"),
        ("skills:\n  http_call:\n    max_redirects: [\n", "is not valid YAML"),
        ("skills:\n  http_call:\n    max_redirects: many\n", "skills.http_call.max_redirects must be an integer"),
        ("- just\n- a list\n", "the document must be a mapping"),
    ])
    func loaderRefusals(yaml: String, fragment: String) throws {
        do {
            _ = try SkillCatalog.builtIn(configuration: SkillConfigLoader.configuration(yaml: yaml, source: "test.yaml"))
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(fragment), "\(error)")
            #expect(!error.message.contains("aria:secret"), "a refused secret is not echoed")
        }
    }

    @Test("A configuration file named by ARIA_SKILLS_CONFIG must exist; an empty file configures nothing")
    func namedFile() throws {
        let missing = "/nonexistent/aria-skills-\(UUID().uuidString).yaml"
        #expect(throws: AriaError.self) { _ = try SkillConfigLoader.catalog(environment: [SkillConfigLoader.variable: missing]) }
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("aria-skills-\(UUID().uuidString).yaml")
        try Data().write(to: empty)
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(try SkillConfigLoader.catalog(environment: [SkillConfigLoader.variable: empty.path]).descriptors == SkillCatalog.builtIn.descriptors)
    }

    // MARK: The worker's skills from the catalog

    @Test("SkillSet.configured: pg_query only with a referenced, set user database that is not the cluster's own")
    func configuredSkillSet() throws {
        let cluster = Secret("postgres://aria@127.0.0.1:5432/aria")
        let logger = Logger(label: "test")
        let none = try SkillSet.configured(catalog: .builtIn, environment: [:], clusterDatabaseURL: cluster, maxConcurrentCalls: 2, logger: logger)
        #expect(Set(none.skills.keys) == Set(SkillCatalog.builtInNames).subtracting(["pg_query"]))
        let user = try SkillSet.configured(catalog: .builtIn, environment: ["ARIA_PG_QUERY_DATABASE_URL": "postgres://u@127.0.0.1:5432/users"],
                                           clusterDatabaseURL: cluster, maxConcurrentCalls: 2, logger: logger)
        #expect(user.skills["pg_query"] != nil)
        do {
            _ = try SkillSet.configured(catalog: .builtIn, environment: ["ARIA_PG_QUERY_DATABASE_URL": "postgres://other@127.0.0.1:5432/aria"],
                                        clusterDatabaseURL: cluster, maxConcurrentCalls: 2, logger: logger)
            Issue.record("pg_query was pointed at the cluster's own database")
        } catch let error as AriaError {
            #expect(error.code == .invalidConfiguration && error.message.contains("must not name the cluster's own database"))
        }
        // The configured descriptors reach the skills.
        let catalog = try SkillCatalog.builtIn(configuration: SkillsConfiguration(skills: ["sleep": ["max_duration": "1s"], "file_read": ["workspace_root": "/srv/ws"]]))
        let configured = try SkillSet.configured(catalog: catalog, environment: [:], clusterDatabaseURL: cluster, maxConcurrentCalls: 2, logger: logger)
        #expect(configured.skills["sleep"]?.descriptor == catalog["sleep"])
        #expect((configured.skills["file_read"] as? FileReadSkill)?.descriptor.configuration["workspace_root"] == "/srv/ws")
        let badAllowlist = try SkillCatalog.builtIn(configuration: SkillsConfiguration(skills: ["http_call": ["allow_hosts": ["*"]]]))
        #expect(throws: AriaError.self) {
            _ = try SkillSet.configured(catalog: badAllowlist, environment: [:], clusterDatabaseURL: cluster, maxConcurrentCalls: 2, logger: logger)
        }
    }

    // MARK: The worker refuses bad input and bad output (a cluster with the worker in this process)

    @Test("a worker fails a step whose rendered input breaks the schema without running it, and a step whose output breaks the schema")
    func workerChecksInputAndOutput() async throws {
        // The gateway executes no step itself here: the worker in this process has its own `echo`.
        let cluster = try await TestCluster.start(name: "contract", replicas: ["gateway": 1, "planner": 1, "scheduler": 1, "worker": 0], tenants: ["demo"],
                                                  environment: ["ARIA_GATEWAY_INLINE_STEPS": "0"])
        let logger = Logger(label: "test.worker")
        let configuration = try ServiceConfiguration(service: "worker", reader: ConfigReader(environment: cluster.environment(service: "worker", index: 7)))
        let context = try await ServiceContext.connect(service: "worker", configuration: configuration, logger: logger)
        let recorder = ExecutionRecorder()
        let skills = SkillSet([ContractBreakingEcho(recorder: recorder), RecordingSleep(recorder: recorder)])
        let components = try await Worker(context: context, skills: skills).services()
        let group = ServiceGroup(services: [context.relay] + components, logger: logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }

        let client = try await cluster.client(tenant: TenantID(trusted: "demo"), logger: logger)
        func submit(_ steps: [JSONValue]) async throws -> RunID {
            try #require(try await client.createJob(AriaClient.jobMessage(agent: "demo", plan: ["steps": .array(steps)]), idempotencyKey: nil).run)
        }
        // The output is a string where the echo contract promises an object.
        let badOutput = try await submit([["step_id": "a", "skill": "echo", "params": ["break_contract": true]]])
        let outputEnd = try await client.watch(badOutput, timeout: .seconds(30)) { _ in }
        #expect(outputEnd.body.kind == .failed)
        #expect(outputEnd.body.error?.code == .invalidOutput && outputEnd.body.error?.category == .permanent)
        #expect(outputEnd.body.error?.details["skill"] == "echo")
        let outputView = try #require(try await client.getRun(badOutput).runView)
        #expect(outputView.steps.first?.status == .failed && outputView.steps.first?.output == nil)
        #expect(outputView.steps.first?.error?.message.contains("output must be an object, but is a string") == true)

        // A reference renders to text that is not a duration: the plan was valid, the rendered input is not.
        let badInput = try await submit([
            ["step_id": "a", "skill": "echo", "params": ["wait": "soon"]],
            ["step_id": "b", "skill": "sleep", "depends_on": ["a"], "params": ["duration": "{{steps.a.output.wait}}"]],
        ])
        let inputEnd = try await client.watch(badInput, timeout: .seconds(30)) { _ in }
        #expect(inputEnd.body.kind == .failed && inputEnd.body.error?.code == .invalidParams)
        #expect(inputEnd.body.error?.message == "sleep: 'duration' must be a duration like \"250ms\" or \"2s\"")
        #expect(recorder.executed.filter { $0 == "sleep" }.isEmpty, "the skill never ran on the bad input")

        // The same worker runs well-formed steps.
        let good = try await submit([
            ["step_id": "a", "skill": "echo", "params": ["wait": "5ms"]],
            ["step_id": "b", "skill": "sleep", "depends_on": ["a"], "params": ["duration": "{{steps.a.output.wait}}"]],
        ])
        let goodEnd = try await client.watch(good, timeout: .seconds(30)) { _ in }
        #expect(goodEnd.body.kind == .succeeded)
        #expect(goodEnd.body.output?["b"] == ["slept_ms": 5])
        #expect(recorder.executed.contains("sleep"))

        await client.close()
        running.cancel()
        _ = await running.result
        await context.close()
        await TestCluster.stop(cluster)
    }
}

/// The skills the test worker ran, in order.
final class ExecutionRecorder: Sendable {
    private let names = Mutex<[String]>([])
    /// Notes that `name` ran.
    func record(_ name: String) { names.withLock { $0.append(name) } }
    /// The skills that ran, in order.
    var executed: [String] { names.withLock { $0 } }
}

/// A test-only `echo` that breaks the built-in echo contract (an object output) when asked to.
struct ContractBreakingEcho: Skill {
    let recorder: ExecutionRecorder
    /// The built-in echo contract, which this skill breaks.
    var descriptor: SkillDescriptor { SkillCatalog.builtIn["echo"]! }
    /// Returns a string when `break_contract` is true, else the params.
    func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue {
        recorder.record("echo")
        return params["break_contract"] == true ? "not an object" : params
    }
}

/// The built-in `sleep`, recording that it ran.
struct RecordingSleep: Skill {
    let recorder: ExecutionRecorder
    /// The built-in sleep contract.
    var descriptor: SkillDescriptor { SkillCatalog.builtIn["sleep"]! }
    /// Records the call, then sleeps.
    func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue {
        recorder.record("sleep")
        return try await SleepSkill().execute(params, context: context)
    }
}
