import Foundation

/// A deployment's per-skill settings: the `skills` section of `config/skills.yaml` (parsed by the caller,
/// so this module stays free of YAML) with environment overrides applied. Only what is configured is
/// kept; ``SkillCatalog/builtIn(configuration:)`` merges it with each skill's defaults and checks it.
///
/// Precedence, lowest first: the skill's defaults, the file, the variables that predate the file
/// (``environmentAliases``), then `ARIA_SKILL_<SKILL>_<KEY>` (e.g. `ARIA_SKILL_PG_QUERY_MAX_ROWS=500`).
/// Secrets are never values here: a secret key `<key>` is configured as `<key>_env` (the name of a
/// variable holding it) or `<key>_file` (a file holding it).
public struct SkillsConfiguration: Sendable, Equatable {
    /// Configured settings by skill name, then by key.
    public var skills: [String: [String: JSONValue]]
    /// Where the settings came from, for messages (the file's path).
    public var source: String

    /// Creates a configuration from settings already in hand (nothing configured by default).
    public init(skills: [String: [String: JSONValue]] = [:], source: String = "skill configuration") {
        self.skills = skills
        self.source = source
    }

    /// Reads `{"skills": {"<skill>": {"<key>": value, ...}, ...}}` (nil: no file) and applies `environment`.
    ///
    /// - Throws: `invalid_configuration` when the document has another shape, or an `ARIA_SKILL_*`
    ///   variable names no skill or setting, has a value of the wrong type, or sets a secret inline.
    ///   Values are checked when the catalog is built.
    public init(document: JSONValue?, environment: [String: String] = [:], source: String) throws(AriaError) {
        self.source = source
        skills = [:]
        func invalid(_ message: String) -> AriaError { AriaError(.invalidConfiguration, "\(source): \(message)") }
        if let document, !document.isNull {
            guard let root = document.objectValue else { throw invalid("the document must be a mapping with a 'skills' key") }
            for key in root.keys.sorted() where key != "skills" {
                throw invalid("'\(key.prefix(64))' is not a section of the skill configuration (only 'skills')")
            }
            if let section = root["skills"], !section.isNull {
                guard let entries = section.objectValue else { throw invalid("'skills' must be a mapping from skill names to settings") }
                for (name, entry) in entries {
                    if entry.isNull { skills[name] = [:]; continue }
                    guard let settings = entry.objectValue else { throw invalid("skills.\(name.prefix(64)) must be a mapping of settings") }
                    skills[name] = settings
                }
            }
        }
        try applyEnvironment(environment)
    }

    /// A variable that predates the configuration file and still sets a skill's setting.
    public struct EnvironmentAlias: Sendable, Equatable {
        /// The variable, e.g. `ARIA_HTTP_ALLOW_HOSTS`.
        public var variable: String
        /// The skills it configures.
        public var skills: [String]
        /// The setting it sets in each.
        public var key: String
    }

    /// `ARIA_HTTP_ALLOW_HOSTS` and `ARIA_HTTP_ALLOW_CIDRS` (comma-separated) set `http_call`'s
    /// `allow_hosts` and `allow_cidrs`; `ARIA_WORKSPACE_ROOT` sets `workspace_root` of `file_read` and
    /// `file_write`. (`ARIA_PG_QUERY_DATABASE_URL` is `pg_query`'s default `database_url_env`.)
    public static let environmentAliases: [EnvironmentAlias] = [
        EnvironmentAlias(variable: "ARIA_HTTP_ALLOW_HOSTS", skills: ["http_call"], key: "allow_hosts"),
        EnvironmentAlias(variable: "ARIA_HTTP_ALLOW_CIDRS", skills: ["http_call"], key: "allow_cidrs"),
        EnvironmentAlias(variable: "ARIA_WORKSPACE_ROOT", skills: ["file_read", "file_write"], key: "workspace_root"),
    ]

    /// Variables with the prefix that are not skill settings: `ARIA_SKILL_POOLS` (``SkillPoolAssignments``).
    public static let otherVariables: Set<String> = ["ARIA_SKILL_POOLS"]

    /// The prefix of the variables that set any skill setting: `ARIA_SKILL_<SKILL>_<KEY>`.
    public static let variablePrefix = "ARIA_SKILL_"

    /// The variable that sets `key` of `skill`, e.g. `ARIA_SKILL_HTTP_CALL_MAX_REDIRECTS`.
    public static func variable(skill: String, key: String) -> String {
        variablePrefix + skill.uppercased() + "_" + key.uppercased()
    }

    /// Applies the aliases, then the `ARIA_SKILL_*` variables.
    private mutating func applyEnvironment(_ environment: [String: String]) throws(AriaError) {
        for alias in Self.environmentAliases {
            guard let text = environment[alias.variable], !text.isEmpty else { continue }
            let value = Self.convert(text, for: BuiltInSkills.all[alias.skills[0]]!.settings[alias.key]!)
            for skill in alias.skills { skills[skill, default: [:]][alias.key] = value }
        }
        let skillNames = BuiltInSkills.all.keys.sorted { $0.count > $1.count }
        for variable in environment.keys.sorted() where variable.hasPrefix(Self.variablePrefix) && !Self.otherVariables.contains(variable) {
            guard let text = environment[variable], !text.isEmpty else { continue }
            let rest = variable.dropFirst(Self.variablePrefix.count)
            guard let name = skillNames.first(where: { rest.hasPrefix($0.uppercased() + "_") }), let skill = BuiltInSkills.all[name] else {
                throw AriaError(.invalidConfiguration, "\(variable) names no skill (known: \(SkillCatalog.builtInNames.joined(separator: ", ")))")
            }
            let key = rest.dropFirst(name.count + 1).lowercased()
            if skill.secrets.contains(key) {
                throw AriaError(.invalidConfiguration, "\(variable): \(Self.inlineSecretMessage(skill: name, key: key))")
            }
            guard let schema = skill.settings[key] ?? BuiltInSkills.commonSettings[key] else {
                throw AriaError(.invalidConfiguration, "\(variable) names no setting of \(name) (known: \(skill.keys.joined(separator: ", ")))")
            }
            skills[name, default: [:]][key] = Self.convert(text, for: schema)
        }
    }

    /// The JSON value a variable's text stands for, given the setting's schema: an integer, a Boolean, a
    /// comma-separated list, a duration (digits mean milliseconds), or the text itself. Text that does not
    /// convert stays text, so the schema check reports it with the setting's name.
    static func convert(_ text: String, for schema: JSONValue) -> JSONValue {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch schema["type"]?.stringValue {
        case "integer":
            return Int64(trimmed).map(JSONValue.int) ?? .string(text)
        case "boolean":
            switch trimmed.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: return .string(text)
            }
        case "array":
            return .array(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map(JSONValue.string))
        default:
            if schema["x-aria-duration"] != nil, let milliseconds = Int64(trimmed) { return .int(milliseconds) }
            return .string(text)
        }
    }

    /// Why a secret may not be written as a value, and what to write instead.
    static func inlineSecretMessage(skill: String, key: String) -> String {
        "skills.\(skill).\(key) is a secret and is never written in the configuration; set \(key)_env to the name of the environment variable that holds it, or \(key)_file to a file that holds it"
    }
}

extension SkillDescriptor {
    /// The secret `key` (e.g. `database_url`) this skill's configuration references: the trimmed content
    /// of the file named by `<key>_file`, else the variable named by `<key>_env` (or the file its
    /// `<variable>_FILE` names); nil when nothing is referenced or the variable is unset.
    ///
    /// - Throws: `invalid_configuration` when a referenced file cannot be read or is empty.
    public func secret(_ key: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(AriaError) -> Secret? {
        if let path = configuration["\(key)_file"]?.stringValue {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw AriaError(.invalidConfiguration, "skills.\(name).\(key)_file names '\(path)', which cannot be read")
            }
            let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else { throw AriaError(.invalidConfiguration, "skills.\(name).\(key)_file names '\(path)', which is empty") }
            return Secret(value)
        }
        guard let variable = configuration["\(key)_env"]?.stringValue else { return nil }
        return try ConfigReader(environment: environment).secret(variable)
    }
}
