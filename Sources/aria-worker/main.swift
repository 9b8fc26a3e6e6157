import AriaCore
import AriaHTTP
import AriaPostgres
import AriaRuntime
import AriaWorker
import Foundation

await ServiceMain.run(service: "worker") { context in
    // Outbound calls: public destinations only, plus what ARIA_HTTP_ALLOW_HOSTS / ARIA_HTTP_ALLOW_CIDRS allow.
    let reader = ConfigReader()
    let policy = DestinationPolicy(allowedHosts: reader.list("ARIA_HTTP_ALLOW_HOSTS", default: []),
                                   allowedCIDRs: reader.list("ARIA_HTTP_ALLOW_CIDRS", default: []))
    let client = HTTPClient(maxConcurrent: context.configuration.workerSlots, policy: policy, logger: context.logger)
    // Files: one folder per tenant under ARIA_WORKSPACE_ROOT.
    let workspaces = reader.string("ARIA_WORKSPACE_ROOT", default: FileManager.default.currentDirectoryPath + "/.aria-workspaces")
    // pg_query: a user database, never the cluster's own.
    var userDatabase: PostgresPool?
    if let url = try reader.secret("ARIA_PG_QUERY_DATABASE_URL") {
        let config = try PostgresConfig(url: url.value)
        let cluster = try PostgresConfig(url: context.configuration.databaseURL.value)
        guard !(config.host == cluster.host && config.port == cluster.port && config.database == cluster.database) else {
            throw AriaError(.invalidConfiguration, "ARIA_PG_QUERY_DATABASE_URL must not name the cluster's own database")
        }
        userDatabase = PostgresPool(config: config, maxConnections: 4, logger: context.logger)
    }
    // Pools: only the skills of ARIA_WORKER_POOL (ARIA_SKILL_POOLS may move skills between pools), or the
    // ARIA_WORKER_SKILLS subset of them.
    let available = SkillSet.standard(httpClient: client, workspaceRoot: workspaces, userDatabase: userDatabase)
    let skills = try await Worker.poolSkills(context: context, available: available, catalog: try SkillCatalog.configured(reader: reader))
    return try await Worker(context: context, skills: skills).services()
}
