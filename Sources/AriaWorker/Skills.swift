import AriaCore
import AriaHTTP
import AriaPostgres
import Foundation

/// Who a skill runs for: the tenant, run and step of the attempt.
public struct SkillContext: Sendable, Equatable {
    /// The tenant (skills that touch resources scope them by tenant).
    public var tenant: TenantID
    /// The run.
    public var run: RunID
    /// The step.
    public var step: StepID
    /// The attempt number (1 for the first).
    public var attempt: Int
    /// The execution's idempotency key, the same for every attempt of it: skills with side effects pass it
    /// on (`http_call` sends it as `Idempotency-Key`).
    public var idempotencyKey: String
    /// Creates a context.
    public init(tenant: TenantID, run: RunID, step: StepID, attempt: Int = 1, idempotencyKey: String? = nil) {
        self.tenant = tenant
        self.run = run
        self.step = step
        self.attempt = attempt
        self.idempotencyKey = idempotencyKey ?? "\(run):\(step):primary"
    }
}

/// An executable skill: the worker-side half of a ``SkillDescriptor``.
public protocol Skill: Sendable {
    /// What the skill is and accepts.
    var descriptor: SkillDescriptor { get }
    /// Runs the skill on params that satisfy the descriptor's input schema; throws an ``AriaError`` to fail
    /// the attempt. What it returns must satisfy the output schema (the worker checks both).
    /// Must return promptly when its task is cancelled (timeout or shutdown).
    func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue
}

/// A pure skill that computes its output at once, without waiting on anything: a worker may execute it
/// inside the transaction that dispatches it (inline execution, ``InlineExecution``). Its descriptor must be
/// `pure`.
public protocol InlineSkill: Skill {
    /// Computes the output synchronously; throws an ``AriaError`` to fail the attempt.
    func executeInline(_ params: JSONValue, context: SkillContext) throws -> JSONValue
}

extension InlineSkill {
    /// Runs ``executeInline(_:context:)``.
    public func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue {
        try executeInline(params, context: context)
    }
}

/// `echo`: returns its params.
public struct EchoSkill: InlineSkill {
    /// The contract (the configured one from the worker's catalog, or the built-in default).
    public let descriptor: SkillDescriptor
    /// Creates the skill with `descriptor` (default: the built-in one).
    public init(descriptor: SkillDescriptor = SkillCatalog.builtIn["echo"]!) { self.descriptor = descriptor }
    /// Returns `params`.
    public func executeInline(_ params: JSONValue, context: SkillContext) throws -> JSONValue { params }
}

/// `sleep`: waits for `duration`, honouring cancellation.
public struct SleepSkill: Skill {
    /// The contract (the configured one from the worker's catalog, or the built-in default).
    public let descriptor: SkillDescriptor
    /// Creates the skill with `descriptor` (default: the built-in one).
    public init(descriptor: SkillDescriptor = SkillCatalog.builtIn["sleep"]!) { self.descriptor = descriptor }
    /// Sleeps, then returns `{"slept_ms": n}`.
    public func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue {
        let milliseconds: Int64
        if let text = params["duration"]?.stringValue {
            milliseconds = try AriaDuration(parsing: text).milliseconds
        } else {
            milliseconds = params["duration"]?.intValue ?? 0
        }
        try await Task.sleep(for: .milliseconds(milliseconds))
        return .object(["slept_ms": .int(milliseconds)])
    }
}

/// `fail`: always fails with the given message and category.
public struct FailSkill: InlineSkill {
    /// The contract (the configured one from the worker's catalog, or the built-in default).
    public let descriptor: SkillDescriptor
    /// Creates the skill with `descriptor` (default: the built-in one).
    public init(descriptor: SkillDescriptor = SkillCatalog.builtIn["fail"]!) { self.descriptor = descriptor }
    /// Throws `skill_failed`.
    public func executeInline(_ params: JSONValue, context: SkillContext) throws -> JSONValue {
        let category = params["category"]?.stringValue.flatMap(ErrorCategory.init(rawValue:)) ?? .permanent
        throw AriaError(.skillFailed, params["message"]?.stringValue ?? "the fail skill failed as asked", category: category)
    }
}

/// `json_transform`: evaluates an expression over `input` (see ``JSONPathExpression``).
public struct JSONTransformSkill: InlineSkill {
    /// The contract (the configured one from the worker's catalog, or the built-in default).
    public let descriptor: SkillDescriptor
    /// Creates the skill with `descriptor` (default: the built-in one).
    public init(descriptor: SkillDescriptor = SkillCatalog.builtIn["json_transform"]!) { self.descriptor = descriptor }
    /// Returns `{"result": <value>}`.
    public func executeInline(_ params: JSONValue, context: SkillContext) throws -> JSONValue {
        let expression = try JSONPathExpression(params["expression"]?.stringValue ?? "")
        return ["result": try expression.evaluate(params["input"] ?? .null)]
    }
}

/// The skills a worker executes, by name.
public struct SkillSet: Sendable {
    /// Skills by name.
    public let skills: [String: any Skill]
    /// Creates a set.
    public init(_ skills: [any Skill]) {
        self.skills = Dictionary(skills.map { ($0.descriptor.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
    /// The built-in test skills (without `http_call`, which needs a configured client).
    public static let builtIn = SkillSet([EchoSkill(), SleepSkill(), FailSkill(), JSONTransformSkill()])

    /// The built-in skills with their default configuration, `http_call` using `client`, the file skills
    /// under `workspaceRoot`, and `pg_query` when a user database is configured.
    public static func standard(httpClient: HTTPClient, workspaceRoot: String, userDatabase: PostgresPool? = nil) -> SkillSet {
        let catalog = SkillCatalog(SkillCatalog.builtIn.descriptors.map { descriptor in
            guard ["file_read", "file_write"].contains(descriptor.name) else { return descriptor }
            var configured = descriptor
            configured.configuration = .object((descriptor.configuration.objectValue ?? [:]).merging(["workspace_root": .string(workspaceRoot)]) { $1 })
            return configured
        })
        return standard(catalog: catalog, httpClient: httpClient, userDatabase: userDatabase)
    }

    /// The built-in skills as `catalog` configures them: `http_call` using `client` (built with the
    /// catalog's allowlist, see ``HTTPCallSkill/destinationPolicy(for:)``), the file skills under their
    /// `workspace_root`, and `pg_query` when a user database is given.
    public static func standard(catalog: SkillCatalog, httpClient: HTTPClient, userDatabase: PostgresPool? = nil) -> SkillSet {
        func descriptor(_ name: String) -> SkillDescriptor { catalog[name] ?? SkillCatalog.builtIn[name]! }
        var skills: [any Skill] = [
            EchoSkill(descriptor: descriptor("echo")), SleepSkill(descriptor: descriptor("sleep")), FailSkill(descriptor: descriptor("fail")),
            JSONTransformSkill(descriptor: descriptor("json_transform")), HTTPCallSkill(client: httpClient, descriptor: descriptor("http_call")),
            FileReadSkill(descriptor: descriptor("file_read")), FileWriteSkill(descriptor: descriptor("file_write")),
        ]
        if let userDatabase { skills.append(PostgresQuerySkill(pool: userDatabase, descriptor: descriptor("pg_query"))) }
        return SkillSet(skills)
    }
}
