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
    /// Runs the skill on validated params; throws an ``AriaError`` to fail the attempt.
    /// Must return promptly when its task is cancelled (timeout or shutdown).
    func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue
}

/// `echo`: returns its params.
public struct EchoSkill: Skill {
    /// Creates the skill.
    public init() {}
    /// The built-in descriptor.
    public var descriptor: SkillDescriptor { SkillCatalog.builtIn["echo"]! }
    /// Returns `params`.
    public func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue { params }
}

/// `sleep`: waits for `duration`, honouring cancellation.
public struct SleepSkill: Skill {
    /// Creates the skill.
    public init() {}
    /// The built-in descriptor.
    public var descriptor: SkillDescriptor { SkillCatalog.builtIn["sleep"]! }
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
public struct FailSkill: Skill {
    /// Creates the skill.
    public init() {}
    /// The built-in descriptor.
    public var descriptor: SkillDescriptor { SkillCatalog.builtIn["fail"]! }
    /// Throws `skill_failed`.
    public func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue {
        let category = params["category"]?.stringValue.flatMap(ErrorCategory.init(rawValue:)) ?? .permanent
        throw AriaError(.skillFailed, params["message"]?.stringValue ?? "the fail skill failed as asked", category: category)
    }
}

/// `json_transform`: evaluates an expression over `input` (see ``JSONPathExpression``).
public struct JSONTransformSkill: Skill {
    /// Creates the skill.
    public init() {}
    /// The built-in descriptor.
    public var descriptor: SkillDescriptor { SkillCatalog.builtIn["json_transform"]! }
    /// Returns `{"result": <value>}`.
    public func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue {
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

    /// The built-in skills with `http_call` using `client`, the file skills under `workspaceRoot`, and
    /// `pg_query` when a user database is configured.
    public static func standard(httpClient: HTTPClient, workspaceRoot: String, userDatabase: PostgresPool? = nil) -> SkillSet {
        let workspace = TenantWorkspace(root: workspaceRoot)
        var skills: [any Skill] = [EchoSkill(), SleepSkill(), FailSkill(), JSONTransformSkill(), HTTPCallSkill(client: httpClient),
                                   FileReadSkill(workspace: workspace), FileWriteSkill(workspace: workspace)]
        if let userDatabase { skills.append(PostgresQuerySkill(pool: userDatabase)) }
        return SkillSet(skills)
    }
}
