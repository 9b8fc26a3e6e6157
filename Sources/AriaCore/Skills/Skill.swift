import Foundation

// The skill contract shared by every process that executes skills, and the pure built-in skills: a worker
// executes any skill; a gateway or a worker may execute a pure one inside the transaction that dispatches
// it (inline execution).

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

/// An executable skill: the executing half of a ``SkillDescriptor``.
public protocol Skill: Sendable {
    /// What the skill is and accepts.
    var descriptor: SkillDescriptor { get }
    /// Runs the skill on params that satisfy the descriptor's input schema; throws an ``AriaError`` to fail
    /// the attempt. What it returns must satisfy the output schema (the executor checks both, ``SkillContract``).
    /// Must return promptly when its task is cancelled (timeout or shutdown).
    func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue
}

/// A pure skill that computes its output at once, without waiting on anything: a gateway or a worker may
/// execute it inside the transaction that dispatches it (inline execution, `InlineExecution` in AriaStore).
/// Its descriptor must be `pure`.
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
    /// The contract (the configured one from the executing service's catalog, or the built-in default).
    public let descriptor: SkillDescriptor
    /// Creates the skill with `descriptor` (default: the built-in one).
    public init(descriptor: SkillDescriptor = SkillCatalog.builtIn["echo"]!) { self.descriptor = descriptor }
    /// Returns `params`.
    public func executeInline(_ params: JSONValue, context: SkillContext) throws -> JSONValue { params }
}

/// `fail`: always fails with the given message and category.
public struct FailSkill: InlineSkill {
    /// The contract (the configured one from the executing service's catalog, or the built-in default).
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
    /// The contract (the configured one from the executing service's catalog, or the built-in default).
    public let descriptor: SkillDescriptor
    /// Creates the skill with `descriptor` (default: the built-in one).
    public init(descriptor: SkillDescriptor = SkillCatalog.builtIn["json_transform"]!) { self.descriptor = descriptor }
    /// Returns `{"result": <value>}`.
    public func executeInline(_ params: JSONValue, context: SkillContext) throws -> JSONValue {
        let expression = try JSONPathExpression(params["expression"]?.stringValue ?? "")
        return ["result": try expression.evaluate(params["input"] ?? .null)]
    }
}

/// The contract every execution keeps, on any path: params are checked against the skill's input schema
/// before it runs and its output against the output schema after; a violation fails the attempt with a
/// typed error (`invalid_params`, `invalid_output`) instead of running the skill or recording the output.
public enum SkillContract {
    /// The failed outcome for params that break `skill`'s input schema, or nil when they satisfy it.
    ///
    /// The params are fully rendered here, so a `{{...}}` left in a string is checked as plain text.
    public static func refuseInput(_ skill: any Skill, _ params: JSONValue) -> (StepExecution.Outcome, JSONValue?)? {
        guard let error = skill.descriptor.validateInput(params) else { return nil }
        return (.failed(error), nil)
    }

    /// The outcome for what `skill` returned: succeeded with the output, or failed with `invalid_output`
    /// when the output breaks the output schema (a defect of the skill: callers log it).
    public static func checkOutput(_ skill: any Skill, _ output: JSONValue) -> (StepExecution.Outcome, JSONValue?) {
        guard let error = skill.descriptor.validateOutput(output) else { return (.succeeded, output) }
        return (.failed(error), nil)
    }

    /// Executes an inline skill with the checks above: the outcome and output to record.
    public static func executeInline(_ skill: any InlineSkill, params: JSONValue, context: SkillContext) -> (StepExecution.Outcome, JSONValue?) {
        if let refused = refuseInput(skill, params) { return refused }
        do {
            return checkOutput(skill, try skill.executeInline(params, context: context))
        } catch let error as AriaError {
            return (.failed(error), nil)
        } catch {
            return (.failed(AriaError(.skillFailed, "\(error)")), nil)
        }
    }
}

/// The pure built-in skills that compute their output at once, as `catalog` configures them (the
/// built-in descriptors where it has none): `echo`, `fail`, `json_transform`.
public func pureBuiltInSkills(_ catalog: SkillCatalog) -> [any InlineSkill] {
    func descriptor(_ name: String) -> SkillDescriptor { catalog[name] ?? SkillCatalog.builtIn[name]! }
    return [EchoSkill(descriptor: descriptor("echo")), FailSkill(descriptor: descriptor("fail")), JSONTransformSkill(descriptor: descriptor("json_transform"))]
}
