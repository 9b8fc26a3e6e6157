import AriaCore
import Foundation
import Yams

/// Loads the deployment's skill registry: the built-in skills configured by `config/skills.yaml` (or the
/// file `ARIA_SKILLS_CONFIG` names) and the environment (see ``SkillsConfiguration`` for precedence).
/// Every service that validates plans or routes steps (gateway, planner, scheduler) and every worker
/// loads it the same way, so they agree on pools, timeouts and limits.
public enum SkillConfigLoader {
    /// The variable naming the configuration file.
    public static let variable = "ARIA_SKILLS_CONFIG"
    /// The file read when the variable is unset; when it does not exist, every skill keeps its defaults.
    public static let defaultPath = "config/skills.yaml"

    /// The configured catalog.
    ///
    /// - Throws: `invalid_configuration` when the file named by ``variable`` is missing, the file is not
    ///   YAML of the expected shape, or a setting is unknown, invalid, or a secret written inline.
    /// `ARIA_SKILL_POOLS` (`skill=pool,...`) is applied last, so every service routes and runs skills alike.
    public static func catalog(environment: [String: String] = ProcessInfo.processInfo.environment) throws(AriaError) -> SkillCatalog {
        let base = try SkillCatalog.builtIn(configuration: configuration(environment: environment))
        return try SkillCatalog.configured(base: base, reader: ConfigReader(environment: environment))
    }

    /// The catalog, or exit with status 2 after printing the error (a service's start-up, before logging exists).
    public static func catalogOrExit(service: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> SkillCatalog {
        do { return try catalog(environment: environment) } catch {
            FileHandle.standardError.write(Data("aria-\(service): \(error)\n".utf8))
            exit(2)
        }
    }

    /// The configuration from the file (if any) and `environment`.
    public static func configuration(environment: [String: String] = ProcessInfo.processInfo.environment) throws(AriaError) -> SkillsConfiguration {
        let named = environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        let path = named ?? defaultPath
        guard let data = FileManager.default.contents(atPath: path) else {
            if named != nil || FileManager.default.fileExists(atPath: path) {
                throw AriaError(.invalidConfiguration, "\(variable) names '\(path)', which cannot be read")
            }
            return try SkillsConfiguration(document: nil, environment: environment, source: "\(defaultPath) (absent)")
        }
        return try configuration(yaml: String(decoding: data, as: UTF8.self), environment: environment, source: path)
    }

    /// The configuration written as YAML text (`source` names it in messages), with `environment` applied.
    public static func configuration(yaml: String, environment: [String: String] = [:], source: String) throws(AriaError) -> SkillsConfiguration {
        let loaded: Any?
        do { loaded = try Yams.load(yaml: yaml) } catch {
            throw AriaError(.invalidConfiguration, "\(source) is not valid YAML: \(String(describing: error).prefix(200))")
        }
        return try SkillsConfiguration(document: loaded.map(jsonValue), environment: environment, source: source)
    }

    /// A value produced by `Yams.load` as JSON.
    private static func jsonValue(_ value: Any) -> JSONValue {
        switch value {
        case let v as Bool: return .bool(v)
        case let v as Int: return .int(Int64(v))
        case let v as Double: return .double(v)
        case let v as String: return .string(v)
        case let v as [Any]: return .array(v.map(jsonValue))
        case let v as [String: Any]: return .object(v.mapValues(jsonValue))
        case let v as [AnyHashable: Any]:
            var object: [String: JSONValue] = [:]
            for (key, item) in v { object["\(key.base)"] = jsonValue(item) }
            return .object(object)
        default: return .null
        }
    }
}
