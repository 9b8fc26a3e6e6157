/// What the cluster knows about a skill before calling it: enough to validate plans and route steps.
///
/// The full registry with JSON Schemas, risk classes and per-skill configuration arrives with the real
/// skills; this catalog carries the built-in test skills and the checks they need.
public struct SkillDescriptor: Sendable, Equatable {
    /// The name steps use.
    public var name: String
    /// Semantic version of the skill's contract.
    public var version: String
    /// One sentence for humans and models.
    public var description: String
    /// The worker pool whose workers execute it.
    public var pool: String
    /// The per-attempt timeout when a step sets none.
    public var defaultTimeout: AriaDuration
    /// The input fields the skill accepts.
    public var inputs: [ParamRule]
    /// Whether fields not listed in `inputs` are accepted.
    public var allowsOtherInputs: Bool

    /// Creates a descriptor.
    public init(name: String, version: String, description: String, pool: String = "default", defaultTimeout: AriaDuration, inputs: [ParamRule], allowsOtherInputs: Bool = false) {
        self.name = name
        self.version = version
        self.description = description
        self.pool = pool
        self.defaultTimeout = defaultTimeout
        self.inputs = inputs
        self.allowsOtherInputs = allowsOtherInputs
    }

    /// Checks `params` against the input rules; returns the problems found (empty when valid).
    ///
    /// Strings holding a `{{...}}` reference are accepted for any type: they are checked again, resolved,
    /// just before dispatch.
    public func problems(in params: JSONValue) -> [String] {
        guard let object = params.objectValue else { return ["params must be an object"] }
        var problems: [String] = []
        for rule in inputs {
            guard let value = object[rule.name], !value.isNull else {
                if rule.required { problems.append("'\(rule.name)' is required") }
                continue
            }
            if let text = value.stringValue, ParamTemplate.containsReference(text) { continue }
            if let problem = rule.problem(with: value) { problems.append(problem) }
        }
        if !allowsOtherInputs {
            let known = Set(inputs.map(\.name))
            for key in object.keys.sorted() where !known.contains(key) {
                problems.append("'\(key)' is not an input of \(name)")
            }
        }
        return problems
    }
}

/// One input field of a skill.
public struct ParamRule: Sendable, Equatable {
    /// The JSON types a field may have.
    public enum Kind: String, Sendable, Equatable {
        /// Any JSON value.
        case any
        /// A string.
        case string
        /// An integer.
        case integer
        /// A duration string (`AriaDuration`) or an integer of milliseconds.
        case duration
        /// A string from a fixed list.
        case oneOf
    }
    /// The field name.
    public var name: String
    /// The expected type.
    public var kind: Kind
    /// Whether the field must be present.
    public var required: Bool
    /// Inclusive bounds for integers and durations (milliseconds).
    public var range: ClosedRange<Int64>?
    /// Allowed values for `.oneOf`.
    public var allowed: [String]

    /// Creates a rule.
    public init(_ name: String, _ kind: Kind, required: Bool = false, range: ClosedRange<Int64>? = nil, allowed: [String] = []) {
        self.name = name
        self.kind = kind
        self.required = required
        self.range = range
        self.allowed = allowed
    }

    /// What is wrong with `value`, or nil.
    public func problem(with value: JSONValue) -> String? {
        switch kind {
        case .any:
            return nil
        case .string:
            return value.stringValue == nil ? "'\(name)' must be a string" : nil
        case .integer:
            guard let number = value.intValue else { return "'\(name)' must be an integer" }
            if let range, !range.contains(number) { return "'\(name)' must be within \(range.lowerBound)...\(range.upperBound)" }
            return nil
        case .duration:
            let ms: Int64
            if let text = value.stringValue {
                guard let parsed = try? AriaDuration(parsing: text) else { return "'\(name)' must be a duration like \"250ms\" or \"2s\"" }
                ms = parsed.milliseconds
            } else if let number = value.intValue {
                ms = number
            } else {
                return "'\(name)' must be a duration like \"250ms\" or \"2s\""
            }
            if let range, !range.contains(ms) { return "'\(name)' must be within \(range.lowerBound)...\(range.upperBound) ms" }
            return nil
        case .oneOf:
            guard let text = value.stringValue, allowed.contains(text) else {
                return "'\(name)' must be one of \(allowed.joined(separator: ", "))"
            }
            return nil
        }
    }
}

/// The skills a cluster offers, by name.
public struct SkillCatalog: Sendable {
    /// The descriptors, by name.
    public private(set) var skills: [String: SkillDescriptor]

    /// Creates a catalog from descriptors.
    public init(_ descriptors: [SkillDescriptor]) {
        skills = Dictionary(descriptors.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// The descriptor of `name`, if the cluster offers it.
    public subscript(name: String) -> SkillDescriptor? { skills[name] }

    /// The built-in skills every worker carries: `echo`, `sleep`, `fail`, `http_call`.
    public static let builtIn = SkillCatalog([
        SkillDescriptor(
            name: "file_read", version: "1.0.0",
            description: "Reads a file of the tenant's workspace: {path, size, content} (UTF-8) or content_base64; at most max_bytes (default 1 MiB, at most 10 MiB). Absolute paths, '..' and symbolic links are refused.",
            defaultTimeout: AriaDuration(milliseconds: 10_000),
            inputs: [
                ParamRule("path", .string, required: true),
                ParamRule("max_bytes", .integer, range: 1...(10 * 1024 * 1024)),
                ParamRule("encoding", .oneOf, allowed: ["utf8", "base64"]),
            ]),
        SkillDescriptor(
            name: "file_write", version: "1.0.0",
            description: "Writes content (or content_base64) to a file of the tenant's workspace: mode create (fails if it exists), overwrite (default) or append; make_dirs creates parent folders. At most 10 MiB. Absolute paths, '..' and symbolic links are refused.",
            defaultTimeout: AriaDuration(milliseconds: 10_000),
            inputs: [
                ParamRule("path", .string, required: true),
                ParamRule("content", .string),
                ParamRule("content_base64", .string),
                ParamRule("mode", .oneOf, allowed: ["create", "overwrite", "append"]),
                ParamRule("make_dirs", .any),
            ]),
        SkillDescriptor(
            name: "json_transform", version: "1.0.0",
            description: "Evaluates a JMESPath-style expression over input and returns {result}: fields, indexes, projections ([*], [], *), filters ([?a == 'b']), multiselect ({k: a} and [a, b]), pipes, comparisons, && || !, and the functions length, keys, values, join, to_string, to_number, sum, min, max, sort, contains, starts_with, not_null.",
            defaultTimeout: AriaDuration(milliseconds: 5_000),
            inputs: [ParamRule("input", .any, required: true), ParamRule("expression", .string, required: true)]),
        SkillDescriptor(
            name: "pg_query", version: "1.0.0",
            description: "Runs one parameterized, read-only SQL statement against the configured user database (never the cluster's own): {columns, rows, row_count, truncated}; max_rows default 1,000 (at most 10,000), statement timeout default 5s (at most 60s).",
            defaultTimeout: AriaDuration(milliseconds: 70_000),
            inputs: [
                ParamRule("sql", .string, required: true),
                ParamRule("params", .any),
                ParamRule("max_rows", .integer, range: 1...10_000),
                ParamRule("timeout", .duration, range: 1...60_000),
            ]),
        SkillDescriptor(
            name: "http_call", version: "1.0.0",
            description: "Calls an HTTP(S) URL and returns {status, headers, body, url, redirects}. Refuses loopback, private and link-local destinations (after DNS, on every redirect) unless allowlisted; response capped at max_bytes (default 1 MiB, at most 10 MiB).",
            defaultTimeout: AriaDuration(milliseconds: 30_000),
            inputs: [
                ParamRule("url", .string, required: true),
                ParamRule("method", .oneOf, allowed: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
                ParamRule("headers", .any),
                ParamRule("body", .any),
                ParamRule("max_bytes", .integer, range: 1...(10 * 1024 * 1024)),
                ParamRule("follow_redirects", .any),
            ]),
        SkillDescriptor(
            name: "echo", version: "1.0.0",
            description: "Returns its params as its output.",
            defaultTimeout: AriaDuration(milliseconds: 10_000),
            inputs: [ParamRule("message", .any)], allowsOtherInputs: true),
        SkillDescriptor(
            name: "sleep", version: "1.0.0",
            description: "Waits for `duration` (at most 10 minutes), then returns {\"slept_ms\": n}.",
            defaultTimeout: AriaDuration(milliseconds: 660_000),
            inputs: [ParamRule("duration", .duration, required: true, range: 0...600_000)]),
        SkillDescriptor(
            name: "fail", version: "1.0.0",
            description: "Fails with `message` and error `category` (default permanent).",
            defaultTimeout: AriaDuration(milliseconds: 10_000),
            inputs: [
                ParamRule("message", .string),
                ParamRule("category", .oneOf, allowed: ErrorCategory.allCases.map(\.rawValue)),
            ]),
    ])
}
