import AriaCore
import AriaHTTP
import AriaPostgres
import Foundation

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
        var skills: [any Skill] = pureBuiltInSkills(catalog) + [
            SleepSkill(descriptor: descriptor("sleep")), HTTPCallSkill(client: httpClient, descriptor: descriptor("http_call")),
            FileReadSkill(descriptor: descriptor("file_read")), FileWriteSkill(descriptor: descriptor("file_write")),
        ]
        if let userDatabase { skills.append(PostgresQuerySkill(pool: userDatabase, descriptor: descriptor("pg_query"))) }
        return SkillSet(skills)
    }
}
