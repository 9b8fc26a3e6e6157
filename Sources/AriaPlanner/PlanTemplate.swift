import AriaCore
import Foundation
import Yams

/// A named, parameterized standard operating procedure (`config/plans/<name>.yaml`) that renders to a plan.
///
/// ```yaml
/// name: echo_chain
/// description: Three echo steps in a chain.
/// params:
///   message: {type: string, required: true}
///   count: {type: integer, default: 3}
/// plan:
///   steps:
///     - {step_id: first, skill: echo, params: {message: "{{params.message}}"}}
/// ```
public struct PlanTemplate: Sendable, Equatable {
    /// A declared parameter.
    public struct Parameter: Sendable, Equatable {
        /// The JSON type required (`string`, `integer`, `number`, `boolean`, `object`, `array`, `any`).
        public var type: String
        /// Whether the job must give it.
        public var required: Bool
        /// The value when the job gives none.
        public var defaultValue: JSONValue?
    }

    /// The template's name (its file name without `.yaml`).
    public var name: String
    /// What it does.
    public var description: String
    /// Declared parameters, by name.
    public var parameters: [String: Parameter]
    /// The plan document with `{{params.<name>}}` references.
    public var plan: JSONValue

    /// Parses a template from YAML text.
    public init(yaml: String, fileName: String) throws(AriaError) {
        let loaded: Any?
        do { loaded = try Yams.load(yaml: yaml) } catch {
            throw AriaError(.invalidConfiguration, "plan template \(fileName): invalid YAML: \(error)")
        }
        guard let document = loaded.map(JSONValue.init(yamlValue:)), let root = document.objectValue else {
            throw AriaError(.invalidConfiguration, "plan template \(fileName) must be a mapping")
        }
        let allowed: Set<String> = ["name", "description", "params", "plan"]
        if let unknown = root.keys.first(where: { !allowed.contains($0) }) {
            throw AriaError(.invalidConfiguration, "plan template \(fileName): unknown field '\(unknown)'")
        }
        guard let name = root["name"]?.stringValue, SubjectSafeName.isValid(name) else {
            throw AriaError(.invalidConfiguration, "plan template \(fileName): 'name' must match [a-z0-9_-]{1,64}")
        }
        guard let plan = root["plan"], plan.objectValue != nil else {
            throw AriaError(.invalidConfiguration, "plan template \(fileName): 'plan' must be a mapping")
        }
        var parameters: [String: Parameter] = [:]
        for (key, spec) in root["params"]?.objectValue ?? [:] {
            let type = spec["type"]?.stringValue ?? "any"
            guard ["string", "integer", "number", "boolean", "object", "array", "any"].contains(type) else {
                throw AriaError(.invalidConfiguration, "plan template \(fileName): parameter '\(key)' has unknown type '\(type)'")
            }
            parameters[key] = Parameter(type: type, required: spec["required"]?.boolValue ?? false, defaultValue: spec["default"])
        }
        self.name = name
        self.description = root["description"]?.stringValue ?? ""
        self.parameters = parameters
        self.plan = plan
    }

    /// Checks `params` against the declarations and substitutes them into the plan document.
    public func render(params: JSONValue) throws(AriaError) -> JSONValue {
        let given = params.objectValue ?? [:]
        if let unknown = given.keys.sorted().first(where: { parameters[$0] == nil }) {
            throw AriaError(.invalidParams, "template '\(name)' has no parameter '\(unknown)'")
        }
        var values: [String: JSONValue] = [:]
        for (key, parameter) in parameters {
            guard let value = given[key] ?? parameter.defaultValue else {
                if parameter.required { throw AriaError(.invalidParams, "template '\(name)' needs parameter '\(key)'") }
                continue
            }
            guard Self.matches(value, type: parameter.type) else {
                throw AriaError(.invalidParams, "template '\(name)' parameter '\(key)' must be of type \(parameter.type)")
            }
            values[key] = value
        }
        return try Self.renderParams(plan, values: values)
    }

    /// Replaces `{{params.x}}` and leaves `{{steps...}}` references for the scheduler.
    static func renderParams(_ value: JSONValue, values: [String: JSONValue]) throws(AriaError) -> JSONValue {
        switch value {
        case .string(let text) where ParamTemplate.containsReference(text):
            let references = ParamTemplate.references(in: value)
            guard references.contains(where: { $0[0] == "params" }) else { return value }
            return try ParamTemplate.render(value) { path in
                guard path[0] == "params" else { return nil }
                return values[path[1]].flatMap { $0.value(atPath: Array(path.dropFirst(2))) }
            }
        case .array(let items):
            var out: [JSONValue] = []
            for item in items { out.append(try renderParams(item, values: values)) }
            return .array(out)
        case .object(let fields):
            var out: [String: JSONValue] = [:]
            for (key, field) in fields { out[key] = try renderParams(field, values: values) }
            return .object(out)
        default:
            return value
        }
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("any", _): true
        case ("string", .string), ("integer", .int), ("number", .int), ("number", .double), ("boolean", .bool),
             ("object", .object), ("array", .array): true
        default: false
        }
    }
}

/// The plan templates of a deployment, loaded from a directory of `*.yaml` files.
public struct PlanTemplateLibrary: Sendable {
    /// Templates by name.
    public let templates: [String: PlanTemplate]

    /// Creates a library from templates.
    public init(_ templates: [PlanTemplate]) {
        self.templates = Dictionary(templates.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Loads every `*.yaml`/`*.yml` file in `directory`; a broken file is a configuration error.
    public static func load(directory: String) throws(AriaError) -> PlanTemplateLibrary {
        let files: [String]
        do { files = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw AriaError(.invalidConfiguration, "cannot read plan templates from \(directory): \(error.localizedDescription)")
        }
        var templates: [PlanTemplate] = []
        for file in files.sorted() where file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
            let path = (directory as NSString).appendingPathComponent(file)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw AriaError(.invalidConfiguration, "cannot read plan template \(path)")
            }
            templates.append(try PlanTemplate(yaml: String(decoding: data, as: UTF8.self), fileName: file))
        }
        return PlanTemplateLibrary(templates)
    }

    /// Renders `name` with `params` into a validated plan.
    public func plan(template name: String, params: JSONValue, goal: String?, parser: JobSubmissionParser, validator: PlanValidator) throws(AriaError) -> Plan {
        guard let template = templates[name] else {
            throw AriaError(.unknownTemplate, "plan template '\(name)' does not exist", details: ["template": name])
        }
        let document = try template.render(params: params)
        var plan = try parser.parsePlan(document, goal: goal, path: "template \(name)")
        if plan.planID == "plan" { plan.planID = name }
        if case .object(var metadata) = plan.metadata {
            metadata["template"] = .string(name)
            plan.metadata = .object(metadata)
        }
        try validator.validate(plan)
        return plan
    }
}

extension JSONValue {
    /// Converts a value produced by `Yams.load`.
    init(yamlValue value: Any) {
        switch value {
        case let v as Bool: self = .bool(v)
        case let v as Int: self = .int(Int64(v))
        case let v as Double: self = .double(v)
        case let v as String: self = .string(v)
        case let v as [Any]: self = .array(v.map(JSONValue.init(yamlValue:)))
        case let v as [String: Any]: self = .object(v.mapValues(JSONValue.init(yamlValue:)))
        case let v as [AnyHashable: Any]:
            var object: [String: JSONValue] = [:]
            for (key, item) in v { object["\(key.base)"] = JSONValue(yamlValue: item) }
            self = .object(object)
        default: self = .null
        }
    }
}
