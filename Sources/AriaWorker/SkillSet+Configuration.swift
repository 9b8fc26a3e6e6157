import AriaCore
import AriaHTTP
import AriaPostgres
import Logging

extension SkillSet {
    /// The skills a worker process runs, as `catalog` (the deployment's `config/skills.yaml` and
    /// environment) configures them: `http_call` through a client with the catalog's allowlist, the file
    /// skills under their `workspace_root`, and `pg_query` when its `database_url` secret is referenced
    /// and set.
    ///
    /// - Parameters:
    ///   - environment: where `pg_query`'s `database_url_env` variable is looked up.
    ///   - clusterDatabaseURL: the cluster's own database, which `pg_query` must never be pointed at.
    ///   - maxConcurrentCalls: outbound HTTP calls at once (the worker's slots).
    /// - Throws: `invalid_configuration` for an allowlist entry that parses as neither host nor block, an
    ///   unreadable secret file, a malformed database URL, or a user database that is the cluster's own.
    public static func configured(
        catalog: SkillCatalog, environment: [String: String], clusterDatabaseURL: Secret, maxConcurrentCalls: Int, logger: Logger
    ) throws -> SkillSet {
        let http = catalog["http_call"] ?? SkillCatalog.builtIn["http_call"]!
        let client = HTTPClient(maxConcurrent: maxConcurrentCalls, policy: try HTTPCallSkill.destinationPolicy(for: http), logger: logger)
        var userDatabase: PostgresPool?
        let query = catalog["pg_query"] ?? SkillCatalog.builtIn["pg_query"]!
        if let url = try query.secret("database_url", environment: environment) {
            let config: PostgresConfig
            let cluster: PostgresConfig
            do {
                config = try PostgresConfig(url: url.value)
                cluster = try PostgresConfig(url: clusterDatabaseURL.value)
            } catch {
                throw AriaError(.invalidConfiguration, "pg_query's database_url is not a valid Postgres URL")
            }
            guard !(config.host == cluster.host && config.port == cluster.port && config.database == cluster.database) else {
                throw AriaError(.invalidConfiguration, "pg_query's database_url (\(query.configuration["database_url_env"]?.stringValue ?? "database_url_file")) must not name the cluster's own database")
            }
            let connections = Int(query.configuration["connections"]?.intValue ?? 4)
            userDatabase = PostgresPool(config: config, maxConnections: connections, logger: logger)
        }
        return standard(catalog: catalog, httpClient: client, userDatabase: userDatabase)
    }
}
