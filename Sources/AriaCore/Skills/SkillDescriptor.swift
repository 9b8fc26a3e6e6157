/// How much harm running a skill can do: what a rerun repeats and what an approval gate would guard.
///
/// The classes are ordered: `readOnly < sideEffect < external`. A policy such as "steps at or above
/// `side_effect` need an approval" compares with `>=`.
public enum SkillRisk: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Changes nothing anywhere: computes, waits, or reads (the tenant's workspace, a database through a
    /// read-only transaction). Retrying or replaying it is harmless.
    case readOnly = "read_only"
    /// Changes state inside the deployment (the tenant's workspace). A retry repeats the change (an
    /// `append` appends twice) but nothing leaves the deployment.
    case sideEffect = "side_effect"
    /// Reaches systems outside the deployment, whose effects Aria can neither see nor undo (an HTTP
    /// `POST` may send a mail or charge a card). The candidate for an approval gate.
    case external

    /// The order of the classes, least risky first.
    private var rank: Int {
        switch self {
        case .readOnly: 0
        case .sideEffect: 1
        case .external: 2
        }
    }

    /// Whether `lhs` is less risky than `rhs`.
    public static func < (lhs: SkillRisk, rhs: SkillRisk) -> Bool { lhs.rank < rhs.rank }
}

/// A skill's contract: what it is, what it accepts and returns (JSON Schemas, draft 2020-12), how long it
/// may take, how risky it is, which worker pool runs it and how it is configured.
///
/// The schemas are compiled once, when the descriptor is created. Input schemas may carry one extension
/// the JSON Schema vocabulary lacks: a top-level property with `"x-aria-duration": {"minimum": "1ms",
/// "maximum": "10m"}` holds an ``AriaDuration`` (a string such as `"250ms"`, or an integer of
/// milliseconds whose bounds the schema itself states), and a string is parsed and checked against
/// those bounds (either may be left out).
public struct SkillDescriptor: Sendable, Equatable {
    /// The name steps use.
    public var name: String
    /// Semantic version of the skill's contract.
    public var version: String
    /// One paragraph for humans and models: what the skill does and its limits.
    public var description: String
    /// The worker pool whose workers execute it.
    public var pool: String
    /// The pool of skills not routed elsewhere (`ARIA_SKILL_POOLS`), and of workers not told otherwise.
    public static let defaultPool = "default"
    /// The per-attempt timeout when a step sets none.
    public var defaultTimeout: AriaDuration
    /// The risk class (see ``SkillRisk``).
    public var risk: SkillRisk
    /// Whether the skill computes its output from its input alone, at once: no side effect, no waiting, no
    /// outside call (`echo`, `fail`, `json_transform`). Workers run such a step optimistically: the
    /// attempt is recorded together with its result in one transaction (see docs/plans.md).
    public var pure: Bool
    /// The JSON Schema a step's params must satisfy.
    public private(set) var inputSchema: JSONValue
    /// The JSON Schema the skill's output must satisfy; a violation fails the attempt with `invalid_output`.
    public private(set) var outputSchema: JSONValue
    /// The skill's effective configuration (defaults merged with `config/skills.yaml` and the environment).
    /// Secrets appear only as references (`database_url_env`, `database_url_file`), never as values.
    public var configuration: JSONValue

    private let input: JSONSchema
    private let output: JSONSchema
    private let durations: [String: DurationBounds]

    /// The most problems an error message lists before it says how many more there are.
    public static let maxReportedProblems = 10

    /// Creates a descriptor and compiles its schemas.
    ///
    /// - Throws: ``JSONSchemaError`` when a schema does not compile or an `x-aria-duration` is malformed.
    public init(
        name: String, version: String, description: String, pool: String = defaultPool, defaultTimeout: AriaDuration,
        risk: SkillRisk = .external, pure: Bool = false, inputSchema: JSONValue = ["type": "object"], outputSchema: JSONValue = true,
        configuration: JSONValue = [:]
    ) throws(JSONSchemaError) {
        self.pure = pure && risk == .readOnly
        self.name = name
        self.version = version
        self.description = description
        self.pool = pool
        self.defaultTimeout = defaultTimeout
        self.risk = risk
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.configuration = configuration
        input = try JSONSchema(inputSchema)
        output = try JSONSchema(outputSchema)
        durations = try DurationBounds.declared(in: inputSchema)
    }

    /// Descriptors are equal when everything but the compiled schemas (which follow from the documents) is.
    public static func == (lhs: SkillDescriptor, rhs: SkillDescriptor) -> Bool {
        lhs.name == rhs.name && lhs.version == rhs.version && lhs.description == rhs.description && lhs.pool == rhs.pool
            && lhs.defaultTimeout == rhs.defaultTimeout && lhs.risk == rhs.risk && lhs.pure == rhs.pure && lhs.inputSchema == rhs.inputSchema
            && lhs.outputSchema == rhs.outputSchema && lhs.configuration == rhs.configuration
    }

    // MARK: Validation

    /// Checks a step's params at plan-validation time; returns the problems found (empty when valid).
    ///
    /// A string holding a `{{...}}` reference stands in for a value of any type: rules about the value at
    /// its place are not applied (the rendered params are checked again with ``validateInput(_:)`` by the
    /// worker), while rules about the fields around it (required, unknown fields) are.
    public func problems(in params: JSONValue) -> [String] {
        inputProblems(params, allowingReferences: true)
    }

    /// Checks fully rendered params: nil when they satisfy the input schema, else `invalid_params` naming
    /// every broken rule (`details.skill`). A `{{...}}` left in a string is plain text here.
    public func validateInput(_ params: JSONValue) -> AriaError? {
        let problems = inputProblems(params, allowingReferences: false)
        guard !problems.isEmpty else { return nil }
        return AriaError(.invalidParams, "\(name): \(Self.summary(problems))", details: ["skill": name])
    }

    /// Checks what the skill returned: nil when it satisfies the output schema, else `invalid_output`
    /// (permanent: the same call would break the contract again) naming every broken rule.
    public func validateOutput(_ output: JSONValue) -> AriaError? {
        let violations = self.output.validate(output)
        guard !violations.isEmpty else { return nil }
        let problems = violations.map { Self.phrase($0, root: "output") }
        return AriaError(.invalidOutput, "\(name) \(version) returned an output that breaks its output schema: \(Self.summary(problems))",
                         details: ["skill": name, "version": version])
    }

    /// The problems of `params`, as sentences; with `allowingReferences`, values that are `{{...}}` references are not judged.
    private func inputProblems(_ params: JSONValue, allowingReferences: Bool) -> [String] {
        guard let fields = params.objectValue else { return ["params must be an object"] }
        func isReference(_ value: JSONValue?) -> Bool {
            allowingReferences && (value?.stringValue.map(ParamTemplate.containsReference) ?? false)
        }
        var problems: [String] = []
        for violation in input.validate(params) {
            let tokens = Self.pointerTokens(violation.instancePath)
            // Duration strings are judged below, with a message that shows the format rather than a pattern.
            if tokens.count == 1, durations[tokens[0]] != nil, violation.keyword == "pattern" { continue }
            // Keywords about a member's presence still apply to a reference; keywords about its value do not.
            if !Self.presenceKeywords.contains(violation.keyword), isReference(params.value(atPointerTokens: tokens)) { continue }
            problems.append(Self.phrase(violation, root: "params"))
        }
        for (field, bounds) in durations.sorted(by: { $0.key < $1.key }) {
            guard let text = fields[field]?.stringValue, !isReference(fields[field]) else { continue }
            if let problem = bounds.problem(with: text) { problems.append("'\(field)' \(problem)") }
        }
        return problems
    }

    /// Keywords whose violation is about which members exist, not about a member's value.
    private static let presenceKeywords: Set<String> = ["additionalProperties", "properties", "patternProperties", "false"]

    /// A violation as a sentence: `'headers/Accept' must be a string`, or `params must have the required property "url"`.
    private static func phrase(_ violation: JSONSchemaViolation, root: String) -> String {
        guard !violation.instancePath.isEmpty else { return "\(root) \(violation.message)" }
        let tokens = pointerTokens(violation.instancePath)
        return "'\(String(tokens.joined(separator: "/").prefix(80)))' \(violation.message)"
    }

    /// The first ``maxReportedProblems`` problems joined, and how many more there are.
    private static func summary(_ problems: [String]) -> String {
        let shown = problems.prefix(maxReportedProblems).joined(separator: "; ")
        return problems.count > maxReportedProblems ? "\(shown); and \(problems.count - maxReportedProblems) more" : shown
    }

    /// The unescaped tokens of a JSON pointer (`/a~1b/0` → `["a/b", "0"]`).
    static func pointerTokens(_ pointer: String) -> [String] {
        guard !pointer.isEmpty else { return [] }
        return pointer.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }
}

extension JSONValue {
    /// The value at the unescaped JSON pointer `tokens` (object keys, or array indexes as decimal text).
    func value(atPointerTokens tokens: [String]) -> JSONValue? {
        var current = self
        for token in tokens {
            switch current {
            case .object(let fields):
                guard let next = fields[token] else { return nil }
                current = next
            case .array(let items):
                guard let index = Int(token), items.indices.contains(index) else { return nil }
                current = items[index]
            default:
                return nil
            }
        }
        return current
    }
}

/// The bounds of an `x-aria-duration` input field.
struct DurationBounds: Sendable, Equatable {
    /// The shortest accepted duration, if any.
    var minimum: AriaDuration?
    /// The longest accepted duration, if any.
    var maximum: AriaDuration?

    /// The bounds declared on the top-level properties of an input schema.
    static func declared(in schema: JSONValue) throws(JSONSchemaError) -> [String: DurationBounds] {
        var found: [String: DurationBounds] = [:]
        for (field, property) in schema["properties"]?.objectValue ?? [:] {
            guard let declaration = property["x-aria-duration"] else { continue }
            let path = "/properties/\(SchemaText.escapePointerToken(field))/x-aria-duration"
            guard let members = declaration.objectValue, Set(members.keys).isSubset(of: ["minimum", "maximum"]) else {
                throw JSONSchemaError(path: path, message: "must be an object with only \"minimum\" and \"maximum\"")
            }
            func bound(_ key: String) throws(JSONSchemaError) -> AriaDuration? {
                guard let value = members[key] else { return nil }
                guard let text = value.stringValue, let parsed = try? AriaDuration(parsing: text) else {
                    throw JSONSchemaError(path: "\(path)/\(key)", message: "must be a duration such as \"10m\"")
                }
                return parsed
            }
            let bounds = DurationBounds(minimum: try bound("minimum"), maximum: try bound("maximum"))
            if let minimum = bounds.minimum, let maximum = bounds.maximum, minimum > maximum {
                throw JSONSchemaError(path: path, message: "minimum is greater than maximum")
            }
            found[field] = bounds
        }
        return found
    }

    /// What is wrong with the duration text `text`, or nil.
    func problem(with text: String) -> String? {
        guard let duration = try? AriaDuration(parsing: text) else { return "must be a duration like \"250ms\" or \"2s\"" }
        if let minimum, duration < minimum { return "must be at least \(minimum)" }
        if let maximum, duration > maximum { return "must be at most \(maximum)" }
        return nil
    }
}
