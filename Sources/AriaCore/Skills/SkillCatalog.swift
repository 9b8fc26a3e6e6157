/// The skill registry: the skills a cluster offers, by name, with their contracts (see ``SkillDescriptor``).
///
/// Services build it once at start: ``builtIn`` with every default, or ``builtIn(configuration:)`` with
/// the deployment's `config/skills.yaml` and environment (loaded by `SkillConfigLoader` in AriaRuntime).
public struct SkillCatalog: Sendable {
    /// The descriptors, by name.
    public private(set) var skills: [String: SkillDescriptor]

    /// Creates a catalog from descriptors; with duplicate names the last one wins.
    public init(_ descriptors: [SkillDescriptor]) {
        skills = Dictionary(descriptors.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// The descriptor of `name`, if the cluster offers it.
    public subscript(name: String) -> SkillDescriptor? { skills[name] }

    /// Every descriptor, sorted by name (for listings).
    public var descriptors: [SkillDescriptor] { skills.values.sorted { $0.name < $1.name } }

    /// Checks fully rendered params for `skill`: nil when valid, `invalid_params` when they break its input
    /// schema, `unknown_skill` when the catalog has no such skill.
    public func validateInput(skill: String, params: JSONValue) -> AriaError? {
        guard let descriptor = skills[skill] else { return Self.unknown(skill) }
        return descriptor.validateInput(params)
    }

    /// Checks a skill's output: nil when valid, `invalid_output` when it breaks the output schema,
    /// `unknown_skill` when the catalog has no such skill.
    public func validateOutput(skill: String, output: JSONValue) -> AriaError? {
        guard let descriptor = skills[skill] else { return Self.unknown(skill) }
        return descriptor.validateOutput(output)
    }

    /// The error for a skill the catalog lacks.
    private static func unknown(_ skill: String) -> AriaError {
        AriaError(.unknownSkill, "no skill is called '\(skill.prefix(64))'", details: ["skill": String(skill.prefix(64))])
    }

    /// The built-in skills with their default configuration: `echo`, `sleep`, `fail`, `json_transform`,
    /// `http_call`, `file_read`, `file_write`, `pg_query`.
    public static let builtIn: SkillCatalog = {
        do { return try builtIn(configuration: SkillsConfiguration()) } catch {
            preconditionFailure("the built-in skills do not build with their defaults: \(error)")
        }
    }()

    /// The names of the built-in skills, sorted.
    public static var builtInNames: [String] { BuiltInSkills.all.keys.sorted() }

    /// The built-in skills configured by `configuration` (pool, timeout, limits, secret references).
    ///
    /// - Throws: `invalid_configuration` for an unknown skill or key, a value of the wrong type or out of
    ///   range, inconsistent values (a default above its maximum), or a secret written inline.
    public static func builtIn(configuration: SkillsConfiguration) throws(AriaError) -> SkillCatalog {
        for name in configuration.skills.keys.sorted() where BuiltInSkills.all[name] == nil {
            throw AriaError(.invalidConfiguration,
                            "\(configuration.source): skills.\(name.prefix(64)) is not a skill (known: \(builtInNames.joined(separator: ", ")))")
        }
        var descriptors: [SkillDescriptor] = []
        for name in builtInNames {
            descriptors.append(try configured(BuiltInSkills.all[name]!, overrides: configuration.skills[name] ?? [:], source: configuration.source))
        }
        return SkillCatalog(descriptors)
    }

    /// One built-in skill's descriptor under `overrides`.
    private static func configured(_ skill: BuiltInSkill, overrides: [String: JSONValue], source: String) throws(AriaError) -> SkillDescriptor {
        func invalid(_ message: String) -> AriaError { AriaError(.invalidConfiguration, "\(source): \(message)") }
        var values = skill.defaults
        for secret in skill.secrets {
            if overrides[secret] != nil { throw invalid(SkillsConfiguration.inlineSecretMessage(skill: skill.name, key: secret)) }
            let references = ["\(secret)_env", "\(secret)_file"]
            // A configured reference replaces the default one, whichever kind it is.
            if references.contains(where: { overrides[$0] != nil }) { references.forEach { values[$0] = nil } }
            if references.allSatisfy({ overrides[$0] != nil }) {
                throw invalid("skills.\(skill.name): give one of \(references.joined(separator: " and ")), not both")
            }
        }
        values.merge(overrides) { _, configured in configured }
        let checked: JSONSchema
        do { checked = try JSONSchema(skill.settingsSchema) } catch { throw invalid("skills.\(skill.name): \(error)") }
        if let violation = checked.validate(.object(values)).first {
            let key = SkillDescriptor.pointerTokens(violation.instancePath).first ?? ""
            if violation.keyword == "additionalProperties" {
                throw invalid("skills.\(skill.name).\(key.prefix(64)) is not a setting of \(skill.name) (known: \(skill.keys.joined(separator: ", ")))")
            }
            let schema = skill.settings[key] ?? BuiltInSkills.commonSettings[key]
            let message = schema?["x-aria-duration"] != nil ? "must be a duration such as \"30s\", or an integer of milliseconds" : violation.message
            throw invalid("skills.\(skill.name)\(key.isEmpty ? "" : ".\(key)") \(message)")
        }
        let settings = BuiltInSettings(skill: skill.name, values: values)
        var descriptor: SkillDescriptor
        do { descriptor = try skill.build(settings) } catch let error as AriaError {
            throw invalid(error.message)
        } catch {
            throw invalid("skills.\(skill.name): \(error)")
        }
        if let pool = values["pool"]?.stringValue { descriptor.pool = pool }
        if values["timeout"] != nil {
            do { descriptor.defaultTimeout = try settings.duration("timeout") } catch { throw invalid(error.message) }
        }
        values["pool"] = nil
        values["timeout"] = nil
        descriptor.configuration = .object(values)
        return descriptor
    }
}
