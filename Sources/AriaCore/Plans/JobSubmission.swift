import Foundation

/// What a tenant asks for: an agent, a goal, and either an explicit plan or a named template.
public struct JobSpec: Sendable, Equatable, Codable {
    /// The agent the job runs as (recorded; checked against agents in a later issue).
    public var agent: AgentID
    /// The goal in the submitter's words.
    public var goal: String?
    /// Where the plan comes from.
    public var source: PlanSource
    /// Free-form data stored with the run.
    public var metadata: JSONValue

    /// Creates a job.
    public init(agent: AgentID, goal: String? = nil, source: PlanSource, metadata: JSONValue = .object([:])) {
        self.agent = agent
        self.goal = goal
        self.source = source
        self.metadata = metadata
    }
}

/// The origin of a job's plan.
public enum PlanSource: Sendable, Equatable, Codable {
    /// An explicit plan: goes straight to the scheduler.
    case plan(Plan)
    /// A named plan template with its parameters: goes to the planner.
    case template(name: String, params: JSONValue)
}

/// A parsed `job.submit` message: envelope fields plus the job.
public struct JobSubmission: Sendable, Equatable {
    /// The job.
    public var job: JobSpec
    /// When the submitter wants the run to have ended by.
    public var deadline: Date?
    /// The submitter's trace context, if any.
    public var traceparent: String?
}

/// Strict parser for user-submitted jobs: unknown fields, wrong types and limits are typed errors.
public struct JobSubmissionParser: Sendable {
    /// Largest accepted message in bytes.
    public var maxBytes: Int
    /// Most steps a plan may have.
    public var maxSteps: Int

    /// Creates a parser with the given limits.
    public init(maxBytes: Int = 512 * 1024, maxSteps: Int = 200) {
        self.maxBytes = maxBytes
        self.maxSteps = maxSteps
    }

    /// Parses and checks a submission published under `tenant`'s subject.
    ///
    /// Checks the size, JSON syntax, the envelope (`type` = `job.submit`, a known `version`, an optional
    /// `tenant` that must equal the subject's), then the job's shape. Plan *semantics* (dependencies,
    /// skills) are checked by ``PlanValidator``.
    public func parse(_ bytes: [UInt8], tenant: TenantID) throws(AriaError) -> JobSubmission {
        guard bytes.count <= maxBytes else {
            throw AriaError(.payloadTooLarge, "job is \(bytes.count) bytes; the limit is \(maxBytes)",
                            details: ["limit": String(maxBytes), "size": String(bytes.count)])
        }
        let root: JSONValue
        do { root = try JSONValue(parsing: bytes) } catch {
            throw AriaError(.malformedJSON, "job is not valid JSON: \(error)")
        }
        var envelope = try FieldReader(root, path: "$")
        let type = try envelope.requiredString("type")
        guard type == MessageType.jobSubmit.rawValue else {
            throw AriaError(.unsupportedVersion, "type must be '\(MessageType.jobSubmit.rawValue)', got '\(type.prefix(60))'")
        }
        let version = try envelope.requiredInt("version")
        guard version >= 1, version <= WireVersion.current else {
            throw AriaError(.unsupportedVersion, "job.submit version \(version) is not supported (1...\(WireVersion.current))")
        }
        if let named = try envelope.optionalString("tenant"), named != tenant.rawValue {
            throw AriaError(.tenantMismatch, "body names tenant '\(named.prefix(64))' but was sent on tenant '\(tenant)' subject")
        }
        _ = try envelope.optionalTimestamp("created_at")
        let deadline = try envelope.optionalTimestamp("deadline")
        let traceparent = try envelope.optionalString("traceparent")
        let bodyValue = try envelope.required("body")
        try envelope.rejectUnknown()

        var body = try FieldReader(bodyValue, path: "$.body")
        let agentName = try body.requiredString("agent")
        let agent: AgentID
        do { agent = try AgentID(agentName) } catch { throw AriaError(.invalidJob, "$.body.agent: \(error.message)") }
        let goal = try body.optionalString("goal")
        let metadata = try body.optional("metadata") ?? .object([:])
        guard metadata.objectValue != nil else { throw AriaError(.invalidJob, "$.body.metadata must be an object") }
        let planValue = try body.optional("plan")
        let template = try body.optionalString("template")
        let params = try body.optional("params")
        try body.rejectUnknown()

        let source: PlanSource
        switch (planValue, template) {
        case (let plan?, nil):
            guard params == nil else { throw AriaError(.invalidJob, "$.body.params is only allowed with a template") }
            source = .plan(try parsePlan(plan, goal: goal))
        case (nil, let name?):
            guard SubjectSafeName.isValid(name) else {
                throw AriaError(.invalidJob, "$.body.template must match [a-z0-9_-]{1,64}")
            }
            let params = params ?? .object([:])
            guard params.objectValue != nil else { throw AriaError(.invalidJob, "$.body.params must be an object") }
            source = .template(name: name, params: params)
        case (nil, nil):
            throw AriaError(.invalidJob, "$.body needs either 'plan' or 'template'")
        case (_?, _?):
            throw AriaError(.invalidJob, "$.body has both 'plan' and 'template'; give one")
        }
        return JobSubmission(job: JobSpec(agent: agent, goal: goal, source: source, metadata: metadata),
                             deadline: deadline, traceparent: traceparent)
    }

    /// Parses a plan document (from a job or a rendered template) strictly.
    public func parsePlan(_ value: JSONValue, goal: String?, path: String = "$.body.plan") throws(AriaError) -> Plan {
        var reader = try FieldReader(value, path: path, code: .invalidPlan)
        let planID = try reader.optionalString("plan_id") ?? "plan"
        let planGoal = try reader.optionalString("goal") ?? goal
        let metadata = try reader.optional("metadata") ?? .object([:])
        let defaultsValue = try reader.optional("defaults")
        guard let stepsValue = try reader.optional("steps")?.arrayValue else {
            throw AriaError(.invalidPlan, "\(path).steps must be an array of steps")
        }
        try reader.rejectUnknown()
        guard stepsValue.count <= maxSteps else {
            throw AriaError(.invalidPlan, "plan has \(stepsValue.count) steps; the limit is \(maxSteps)",
                            details: ["limit": String(maxSteps)])
        }
        var defaults = StepDefaults()
        if let defaultsValue {
            var d = try FieldReader(defaultsValue, path: "\(path).defaults", code: .invalidPlan)
            defaults.timeout = try d.optionalDuration("timeout")
            try d.rejectUnknown()
        }
        var steps: [PlanStep] = []
        for (index, stepValue) in stepsValue.enumerated() {
            steps.append(try parseStep(stepValue, path: "\(path).steps[\(index)]"))
        }
        return Plan(planID: planID, goal: planGoal, steps: steps, metadata: metadata, defaults: defaults)
    }

    private func parseStep(_ value: JSONValue, path: String) throws(AriaError) -> PlanStep {
        var s = try FieldReader(value, path: path, code: .invalidPlan)
        let idText = try s.requiredString("step_id")
        let stepID: StepID
        do { stepID = try StepID(idText) } catch { throw AriaError(.invalidPlan, "\(path).step_id: \(error.message)") }
        let skill = try s.requiredString("skill")
        let params = try s.optional("params") ?? .object([:])
        guard params.objectValue != nil else { throw AriaError(.invalidParams, "\(path).params must be an object") }
        var dependsOn: [StepID] = []
        if let deps = try s.optional("depends_on") {
            guard let list = deps.arrayValue else { throw AriaError(.invalidPlan, "\(path).depends_on must be an array of step ids") }
            for dep in list {
                guard let text = dep.stringValue, let id = try? StepID(text) else {
                    throw AriaError(.invalidPlan, "\(path).depends_on holds an invalid step id")
                }
                dependsOn.append(id)
            }
        }
        var onError = OnError.abort
        if let policy = try s.optionalString("on_error") {
            guard let parsed = OnError(rawValue: policy) else {
                throw AriaError(.invalidPlan, "\(path).on_error '\(policy.prefix(20))' is not one of abort, continue, retry, fallback")
            }
            onError = parsed
        }
        let timeout = try s.optionalDuration("timeout")
        let outputKey = try s.optionalString("output_key")
        let condition = try s.optional("condition").map { value throws(AriaError) in try parseCondition(value, path: "\(path).condition") }
        let retry = try s.optional("retry").map { value throws(AriaError) in try parseRetry(value, path: "\(path).retry") }
        let fallbackSkill = try s.optionalString("fallback_skill")
        let fallbackParams = try s.optional("fallback_params")
        if let fallbackParams, fallbackParams.objectValue == nil {
            throw AriaError(.invalidParams, "\(path).fallback_params must be an object")
        }
        var join: JoinRule?
        if let rule = try s.optionalString("join") {
            guard let parsed = JoinRule(rawValue: rule) else {
                throw AriaError(.invalidPlan, "\(path).join '\(rule.prefix(20))' is not one of all_succeeded, all_done")
            }
            join = parsed
        }
        try s.rejectUnknown()
        return PlanStep(stepID: stepID, skill: skill, params: params, dependsOn: dependsOn, onError: onError, timeout: timeout, outputKey: outputKey,
                        condition: condition, retry: retry, fallbackSkill: fallbackSkill, fallbackParams: fallbackParams, join: join)
    }

    private func parseCondition(_ value: JSONValue, path: String) throws(AriaError) -> StepCondition {
        var c = try FieldReader(value, path: path, code: .invalidPlan)
        let stepText = try c.requiredString("step_id")
        let stepID: StepID
        do { stepID = try StepID(stepText) } catch { throw AriaError(.invalidPlan, "\(path).step_id: \(error.message)") }
        let field = try c.optionalString("field")
        let opText = try c.requiredString("operator")
        guard let op = ConditionOperator(rawValue: opText) else {
            throw AriaError(.invalidPlan, "\(path).operator '\(opText.prefix(20))' is not one of \(ConditionOperator.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let operand = try c.optional("value")
        try c.rejectUnknown()
        if op.needsValue, operand == nil { throw AriaError(.invalidPlan, "\(path).value is required for '\(op.rawValue)'") }
        if !op.needsValue, operand != nil { throw AriaError(.invalidPlan, "\(path).value is not allowed for '\(op.rawValue)'") }
        if op == .matches {
            guard let pattern = operand?.stringValue, (try? NSRegularExpression(pattern: pattern)) != nil else {
                throw AriaError(.invalidPlan, "\(path).value must be a valid regular expression for 'matches'")
            }
        }
        if op == .gt || op == .lt, operand?.doubleValue == nil, operand?.stringValue == nil {
            throw AriaError(.invalidPlan, "\(path).value must be a number or a string for '\(op.rawValue)'")
        }
        if let field, field.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            throw AriaError(.invalidPlan, "\(path).field '\(field.prefix(60))' is not a dotted path")
        }
        return StepCondition(stepID: stepID, field: field, op: op, value: operand)
    }

    private func parseRetry(_ value: JSONValue, path: String) throws(AriaError) -> RetryPolicy {
        var r = try FieldReader(value, path: path, code: .invalidPlan)
        var policy = RetryPolicy.standard
        if let attempts = try r.optional("max_attempts") {
            guard let count = attempts.intValue, (1...20).contains(count) else {
                throw AriaError(.invalidPlan, "\(path).max_attempts must be an integer from 1 to 20")
            }
            policy.maxAttempts = Int(count)
        }
        if let backoff = try r.optionalString("backoff") {
            guard let parsed = Backoff(rawValue: backoff) else {
                throw AriaError(.invalidPlan, "\(path).backoff '\(backoff.prefix(20))' is not one of constant, linear, exponential")
            }
            policy.backoff = parsed
        }
        if let initial = try r.optionalDuration("initial_delay") { policy.initialDelay = initial }
        if let cap = try r.optionalDuration("max_delay") { policy.maxDelay = cap }
        if let jitter = try r.optional("jitter") {
            guard let fraction = jitter.doubleValue, (0...1).contains(fraction) else {
                throw AriaError(.invalidPlan, "\(path).jitter must be a number from 0 to 1")
            }
            policy.jitter = fraction
        }
        if let categories = try r.optional("retryable_categories") {
            guard let list = categories.arrayValue else { throw AriaError(.invalidPlan, "\(path).retryable_categories must be an array") }
            var parsed: [ErrorCategory] = []
            for item in list {
                guard let text = item.stringValue, let category = ErrorCategory(rawValue: text) else {
                    throw AriaError(.invalidPlan, "\(path).retryable_categories holds an unknown category (known: \(ErrorCategory.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                if !parsed.contains(category) { parsed.append(category) }
            }
            policy.retryable = parsed
        }
        try r.rejectUnknown()
        guard policy.initialDelay <= policy.maxDelay else {
            throw AriaError(.invalidPlan, "\(path).initial_delay is longer than max_delay")
        }
        guard policy.maxDelay <= .hours(1) else { throw AriaError(.invalidPlan, "\(path).max_delay must be at most 1h") }
        return policy
    }
}

/// Reads the fields of a JSON object one by one and rejects the ones nobody asked for.
struct FieldReader {
    private let object: [String: JSONValue]
    private var consumed: Set<String> = []
    private let path: String
    private let code: ErrorCode

    init(_ value: JSONValue, path: String, code: ErrorCode = .invalidJob) throws(AriaError) {
        guard let object = value.objectValue else { throw AriaError(code, "\(path) must be an object") }
        self.object = object
        self.path = path
        self.code = code
    }

    func has(_ key: String) -> Bool { object[key] != nil }

    mutating func optional(_ key: String) throws(AriaError) -> JSONValue? {
        consumed.insert(key)
        guard let value = object[key], !value.isNull else { return nil }
        return value
    }

    mutating func required(_ key: String) throws(AriaError) -> JSONValue {
        guard let value = try optional(key) else { throw AriaError(code, "\(path).\(key) is required") }
        return value
    }

    mutating func requiredString(_ key: String) throws(AriaError) -> String {
        guard let value = try required(key).stringValue else { throw AriaError(code, "\(path).\(key) must be a string") }
        return value
    }

    mutating func optionalString(_ key: String) throws(AriaError) -> String? {
        guard let value = try optional(key) else { return nil }
        guard let text = value.stringValue else { throw AriaError(code, "\(path).\(key) must be a string") }
        return text
    }

    mutating func requiredInt(_ key: String) throws(AriaError) -> Int64 {
        guard let value = try required(key).intValue else { throw AriaError(code, "\(path).\(key) must be an integer") }
        return value
    }

    mutating func optionalTimestamp(_ key: String) throws(AriaError) -> Date? {
        guard let text = try optionalString(key) else { return nil }
        guard let date = Timestamp.parse(text) else { throw AriaError(code, "\(path).\(key) must be an RFC 3339 timestamp") }
        return date
    }

    mutating func optionalDuration(_ key: String) throws(AriaError) -> AriaDuration? {
        guard let value = try optional(key) else { return nil }
        if let text = value.stringValue {
            do { return try AriaDuration(parsing: text) } catch {
                throw AriaError(code, "\(path).\(key): \(error)")
            }
        }
        if let ms = value.intValue, let duration = try? AriaDuration(validatingMilliseconds: ms) { return duration }
        throw AriaError(code, "\(path).\(key) must be a duration like \"30s\" or \"1m30s\"")
    }

    func rejectUnknown() throws(AriaError) {
        let unknown = object.keys.filter { !consumed.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw AriaError(code, "\(path) has unknown field(s): \(unknown.prefix(5).joined(separator: ", "))")
        }
    }
}
