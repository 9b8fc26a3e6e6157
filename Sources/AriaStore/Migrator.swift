import AriaCore
import AriaPostgres
import Logging

/// Applies the embedded migrations and checks a database's schema version.
public struct Migrator: Sendable {
    /// The pool to migrate through.
    public let pool: PostgresPool
    /// Where progress is logged.
    public let logger: Logger
    /// The migrations (all of them by default).
    public let migrations: [Migration]

    /// Creates a migrator.
    public init(pool: PostgresPool, logger: Logger, migrations: [Migration] = Migrations.all) {
        self.pool = pool
        self.logger = logger
        self.migrations = migrations
    }

    /// Applies every migration not yet applied, each in its own transaction, under a session advisory lock
    /// so that concurrent `aria migrate` runs apply each migration exactly once. Verifies the checksums of
    /// the ones already applied. Returns the versions applied by this call.
    @discardableResult
    public func migrate() async throws -> [Int] {
        let migrations = migrations
        let applied: [Int] = try await pool.withConnection { connection in
            try connection.query("SELECT pg_advisory_lock($1)", [String(Migrations.advisoryLockKey)])
            defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [String(Migrations.advisoryLockKey)]) }
            try connection.execute("""
                SET client_min_messages = warning;
                CREATE TABLE IF NOT EXISTS aria_schema_migrations (
                    version    int PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                );
                """)
            var known: [Int: String] = [:]
            for row in try connection.query("SELECT version, checksum FROM aria_schema_migrations").rows {
                known[Int(row[0] ?? "0") ?? 0] = row[1] ?? ""
            }
            if let newest = known.keys.max(), newest > (migrations.last?.version ?? 0) {
                throw AriaError(.schemaTooNew, "database schema version \(newest) is newer than this binary's \(migrations.last?.version ?? 0)")
            }
            var appliedNow: [Int] = []
            for migration in migrations {
                if let checksum = known[migration.version] {
                    guard checksum == migration.checksum else {
                        throw AriaError(.migrationChecksumMismatch, "migration \(migration.version) (\(migration.name)) was changed after it was applied")
                    }
                    continue
                }
                try connection.execute("BEGIN")
                do {
                    try connection.execute(migration.sql)
                    try connection.query("INSERT INTO aria_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                                         [String(migration.version), migration.name, migration.checksum])
                    try connection.execute("COMMIT")
                } catch {
                    try? connection.execute("ROLLBACK")
                    throw error
                }
                appliedNow.append(migration.version)
            }
            return appliedNow
        }
        for version in applied { logger.info("applied migration", metadata: ["version": "\(version)"]) }
        return applied
    }

    /// Throws unless the database is at exactly the schema version this binary was built for.
    public func checkSchema() async throws {
        let expected = migrations.last?.version ?? 0
        let current: Int = try await pool.withConnection { connection in
            let exists = try connection.query("SELECT to_regclass('aria_schema_migrations') IS NOT NULL")
            guard exists.rows.first?[0] == "t" else { return 0 }
            return Int(try connection.query("SELECT coalesce(max(version), 0) FROM aria_schema_migrations").rows.first?[0] ?? "0") ?? 0
        }
        if current > expected {
            throw AriaError(.schemaTooNew, "database schema version \(current) is newer than this binary's \(expected); upgrade the binary")
        }
        if current < expected {
            throw AriaError(.schemaOutdated, "database schema version \(current) is older than this binary's \(expected); run `aria migrate`")
        }
    }
}
