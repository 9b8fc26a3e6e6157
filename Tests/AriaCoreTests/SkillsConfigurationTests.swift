import AriaCore
import Foundation
import Testing

/// The catalog configured by `document` (JSON text; nil: no file) and `environment`.
private func catalog(_ document: String? = nil, _ environment: [String: String] = [:]) throws -> SkillCatalog {
    let parsed = try document.map { try JSONValue(parsing: $0) }
    return try SkillCatalog.builtIn(configuration: SkillsConfiguration(document: parsed, environment: environment, source: "skills.yaml"))
}

/// The configuration error for `document` and `environment`, or nil when they are valid.
private func configurationError(_ document: String? = nil, _ environment: [String: String] = [:]) throws -> AriaError? {
    let parsed = try document.map { try JSONValue(parsing: $0) }
    do {
        _ = try SkillCatalog.builtIn(configuration: SkillsConfiguration(document: parsed, environment: environment, source: "skills.yaml"))
        return nil
    } catch {
        return error
    }
}

/// Expects `invalid_configuration` (permanent) whose message contains `fragment`.
private func expectRefused(_ document: String?, _ environment: [String: String] = [:], _ fragment: String,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
    let error = try configurationError(document, environment)
    #expect(error?.code == .invalidConfiguration && error?.category == .permanent, "\(String(describing: error))", sourceLocation: sourceLocation)
    #expect(error?.message.contains(fragment) == true, "\(String(describing: error))", sourceLocation: sourceLocation)
}

@Suite("SkillsConfiguration: per-skill configuration from the file and the environment")
struct SkillsConfigurationTests {
    // MARK: Defaults

    @Test("No file and no variables: exactly the built-in catalog")
    func defaults() throws {
        let configured = try catalog()
        #expect(configured.descriptors == SkillCatalog.builtIn.descriptors)
        #expect(try catalog(#"{"skills": null}"#).descriptors == SkillCatalog.builtIn.descriptors)
        #expect(try catalog(#"{"skills": {"echo": null, "sleep": {}}}"#).descriptors == SkillCatalog.builtIn.descriptors)
    }

    @Test("ARIA_SKILL_POOLS is not read as a skill setting; the file's pools and it combine, the variable last")
    func skillPoolsVariable() throws {
        #expect(try configurationError(nil, ["ARIA_SKILL_POOLS": "sleep=slow"]) == nil)
        let base = try catalog(#"{"skills": {"http_call": {"pool": "io"}}}"#, ["ARIA_SKILL_POOLS": "sleep=slow"])
        let configured = try SkillCatalog.configured(base: base, reader: ConfigReader(environment: ["ARIA_SKILL_POOLS": "sleep=slow,http_call=net"]))
        #expect(configured["sleep"]?.pool == "slow" && configured["http_call"]?.pool == "net" && configured["echo"]?.pool == "default")
    }

    @Test("Restating a default changes nothing")
    func restatedDefaults() throws {
        let configured = try catalog(#"""
            {"skills": {"http_call": {"pool": "default", "timeout": "30s", "max_response_bytes": 10485760, "max_redirects": 5},
                        "pg_query": {"database_url_env": "ARIA_PG_QUERY_DATABASE_URL", "max_statement_timeout": "1m"}}}
            """#)
        #expect(configured.descriptors == SkillCatalog.builtIn.descriptors)
    }

    // MARK: The file

    @Test("The file overrides a skill's pool and default timeout (a string duration or milliseconds)")
    func poolAndTimeout() throws {
        let configured = try catalog(#"{"skills": {"http_call": {"pool": "net", "timeout": "45s"}, "echo": {"timeout": 2500}}}"#)
        #expect(configured["http_call"]?.pool == "net")
        #expect(configured["http_call"]?.defaultTimeout == .seconds(45))
        #expect(configured["echo"]?.defaultTimeout.milliseconds == 2500)
        #expect(configured["echo"]?.pool == "default")
        #expect(configured["http_call"]?.configuration["pool"] == nil, "pool and timeout are fields, not configuration")
    }

    @Test("A limit in the file is also the limit the input and output schemas state")
    func limitsReachTheSchemas() throws {
        let configured = try catalog(#"""
            {"skills": {"http_call": {"max_response_bytes": 2048, "default_response_bytes": 1024, "max_redirects": 1},
                        "pg_query": {"max_rows": 50, "default_rows": 10, "max_statement_timeout": "5s", "default_statement_timeout": "1s"},
                        "file_write": {"max_file_bytes": 4},
                        "sleep": {"max_duration": "1s"}}}
            """#)
        let http = try #require(configured["http_call"])
        #expect(http.problems(in: ["url": "https://x", "max_bytes": 2048]) == [])
        #expect(http.problems(in: ["url": "https://x", "max_bytes": 2049]) == ["'max_bytes' must be less than or equal to 2048"])
        #expect(http.validateOutput(["status": 200, "headers": [:], "url": "u", "redirects": 2, "body": ""])?.code == .invalidOutput)
        #expect(http.configuration["default_response_bytes"] == 1024)
        let query = try #require(configured["pg_query"])
        #expect(query.problems(in: ["sql": "select 1", "max_rows": 51]) == ["'max_rows' must be less than or equal to 50"])
        #expect(query.problems(in: ["sql": "select 1", "timeout": "6s"]) == ["'timeout' must be at most 5s"])
        #expect(query.defaultTimeout == .seconds(15), "the statement timeout plus 10s")
        #expect(query.validateOutput(["columns": [], "rows": [], "row_count": 51, "truncated": true])?.code == .invalidOutput)
        let write = try #require(configured["file_write"])
        #expect(write.problems(in: ["path": "a", "content": "12345"]) == ["'content' must be at most 4 characters"])
        #expect(write.configuration["max_file_bytes"] == 4)
        let sleep = try #require(configured["sleep"])
        #expect(sleep.problems(in: ["duration": "2s"]) == ["'duration' must be at most 1s"])
        #expect(sleep.problems(in: ["duration": 1001]) == ["'duration' must be less than or equal to 1000"])
        #expect(sleep.defaultTimeout == AriaDuration(milliseconds: 61_000))
    }

    @Test("An unknown skill in the file is refused, naming the known ones")
    func unknownSkill() throws {
        try expectRefused(#"{"skills": {"teleport": {"pool": "x"}}}"#, [:], "skills.teleport is not a skill (known: echo, fail, file_read")
        try expectRefused(#"{"skills": {"teleport": {"pool": "x"}}}"#, [:], "skills.yaml: ")
    }

    @Test("An unknown setting is refused, naming the skill's settings")
    func unknownSetting() throws {
        try expectRefused(#"{"skills": {"http_call": {"max_body": 5}}}"#, [:],
                          "skills.http_call.max_body is not a setting of http_call (known: allow_cidrs, allow_hosts, default_response_bytes, max_redirects, max_response_bytes, pool, timeout)")
        try expectRefused(#"{"skills": {"echo": {"limit": 1}}}"#, [:], "skills.echo.limit is not a setting of echo (known: pool, timeout)")
    }

    @Test("A secret written inline is refused, and the message says how to reference it")
    func inlineSecretRefused() throws {
        try expectRefused(#"{"skills": {"pg_query": {"database_url": "postgres://u:hunter2@db/x"}}}"#, [:],
                          "skills.pg_query.database_url is a secret and is never written in the configuration; set database_url_env")
        let error = try configurationError(#"{"skills": {"pg_query": {"database_url": "postgres://u:hunter2@db/x"}}}"#)
        #expect(error?.message.contains("hunter2") == false, "the refused value is not echoed")
        try expectRefused(nil, ["ARIA_SKILL_PG_QUERY_DATABASE_URL": "postgres://u:pw@db/x"], "ARIA_SKILL_PG_QUERY_DATABASE_URL: skills.pg_query.database_url is a secret")
    }

    @Test("A secret reference: a file reference replaces the default variable; both at once are refused")
    func secretReferences() throws {
        let fromFile = try catalog(#"{"skills": {"pg_query": {"database_url_file": "/run/secrets/pg"}}}"#)
        #expect(fromFile["pg_query"]?.configuration["database_url_file"] == "/run/secrets/pg")
        #expect(fromFile["pg_query"]?.configuration["database_url_env"] == nil)
        let fromOther = try catalog(#"{"skills": {"pg_query": {"database_url_env": "USER_DB"}}}"#)
        #expect(fromOther["pg_query"]?.configuration["database_url_env"] == "USER_DB")
        try expectRefused(#"{"skills": {"pg_query": {"database_url_env": "A", "database_url_file": "/b"}}}"#, [:],
                          "give one of database_url_env and database_url_file, not both")
        try expectRefused(#"{"skills": {"pg_query": {"database_url_env": "not a name"}}}"#, [:], "skills.pg_query.database_url_env must match the pattern")
    }

    @Test("Invalid values are refused with the setting's name", arguments: [
        (#"{"skills": {"http_call": {"max_response_bytes": "10MB"}}}"#, "skills.http_call.max_response_bytes must be an integer, but is a string"),
        (#"{"skills": {"http_call": {"max_response_bytes": 0}}}"#, "skills.http_call.max_response_bytes must be greater than or equal to 1"),
        (#"{"skills": {"http_call": {"max_redirects": 21}}}"#, "skills.http_call.max_redirects must be less than or equal to 20"),
        (#"{"skills": {"http_call": {"allow_hosts": "a.example"}}}"#, "skills.http_call.allow_hosts must be an array"),
        (#"{"skills": {"http_call": {"default_response_bytes": 2048, "max_response_bytes": 1024}}}"#, "default_response_bytes (2048) exceeds max_response_bytes (1024)"),
        (#"{"skills": {"file_read": {"default_file_bytes": 20000000}}}"#, "default_file_bytes (20000000) exceeds max_file_bytes (10485760)"),
        (#"{"skills": {"pg_query": {"default_rows": 20000}}}"#, "default_rows (20000) exceeds max_rows (10000)"),
        (#"{"skills": {"pg_query": {"default_statement_timeout": "2m"}}}"#, "default_statement_timeout (2m) exceeds max_statement_timeout (1m)"),
        (#"{"skills": {"pg_query": {"connections": 0}}}"#, "skills.pg_query.connections must be greater than or equal to 1"),
        (#"{"skills": {"sleep": {"max_duration": "0s"}}}"#, "skills.sleep.max_duration must be a duration"),
        (#"{"skills": {"sleep": {"max_duration": "ten minutes"}}}"#, "skills.sleep.max_duration must be"),
        (#"{"skills": {"echo": {"timeout": "0ms"}}}"#, "skills.echo.timeout must be a duration"),
        (#"{"skills": {"echo": {"pool": "GPU Pool"}}}"#, "skills.echo.pool must match the pattern"),
        (#"{"skills": {"file_read": {"workspace_root": ""}}}"#, "skills.file_read.workspace_root must be at least 1 character"),
    ])
    func invalidValues(document: String, fragment: String) throws {
        try expectRefused(document, [:], fragment)
    }

    @Test("A document of the wrong shape is refused", arguments: [
        (#"[1]"#, "the document must be a mapping with a 'skills' key"),
        (#"{"skills": {}, "plugins": {}}"#, "'plugins' is not a section of the skill configuration"),
        (#"{"skills": ["echo"]}"#, "'skills' must be a mapping from skill names to settings"),
        (#"{"skills": {"echo": "fast"}}"#, "skills.echo must be a mapping of settings"),
    ])
    func documentShape(document: String, fragment: String) throws {
        try expectRefused(document, [:], fragment)
    }

    // MARK: The environment

    @Test("ARIA_HTTP_ALLOW_HOSTS, ARIA_HTTP_ALLOW_CIDRS and ARIA_WORKSPACE_ROOT keep working and override the file")
    func legacyVariables() throws {
        let configured = try catalog(#"{"skills": {"http_call": {"allow_hosts": ["file.example"]}, "file_read": {"workspace_root": "/from/file"}}}"#, [
            "ARIA_HTTP_ALLOW_HOSTS": "api.internal, *.corp.example", "ARIA_HTTP_ALLOW_CIDRS": "10.0.0.0/8,127.0.0.1/32",
            "ARIA_WORKSPACE_ROOT": "/srv/aria/workspaces",
        ])
        #expect(configured["http_call"]?.configuration["allow_hosts"] == ["api.internal", "*.corp.example"])
        #expect(configured["http_call"]?.configuration["allow_cidrs"] == ["10.0.0.0/8", "127.0.0.1/32"])
        #expect(configured["file_read"]?.configuration["workspace_root"] == "/srv/aria/workspaces")
        #expect(configured["file_write"]?.configuration["workspace_root"] == "/srv/aria/workspaces")
        let fileOnly = try catalog(#"{"skills": {"http_call": {"allow_hosts": ["file.example"]}}}"#, ["ARIA_HTTP_ALLOW_HOSTS": ""])
        #expect(fileOnly["http_call"]?.configuration["allow_hosts"] == ["file.example"], "an empty variable is unset")
    }

    @Test("ARIA_SKILL_<SKILL>_<KEY> sets any setting, typed by the setting, over the file and the older variables")
    func genericVariables() throws {
        let configured = try catalog(#"{"skills": {"pg_query": {"max_rows": 100}, "http_call": {"allow_hosts": ["file.example"]}}}"#, [
            "ARIA_SKILL_PG_QUERY_MAX_ROWS": "500", "ARIA_SKILL_PG_QUERY_DEFAULT_ROWS": "50",
            "ARIA_SKILL_PG_QUERY_MAX_STATEMENT_TIMEOUT": "90000",
            "ARIA_SKILL_HTTP_CALL_POOL": "net", "ARIA_SKILL_HTTP_CALL_ALLOW_HOSTS": "a.example,b.example",
            "ARIA_HTTP_ALLOW_HOSTS": "legacy.example",
            "ARIA_SKILL_SLEEP_TIMEOUT": "20m", "ARIA_SKILL_FILE_WRITE_WORKSPACE_ROOT": "/w",
            "ARIA_SKILL_PG_QUERY_DATABASE_URL_ENV": "USER_DB",
        ])
        #expect(configured["pg_query"]?.configuration["max_rows"] == 500)
        #expect(configured["pg_query"]?.configuration["default_rows"] == 50)
        #expect(configured["pg_query"]?.configuration["max_statement_timeout"] == 90_000)
        #expect(configured["pg_query"]?.defaultTimeout == AriaDuration(milliseconds: 100_000))
        #expect(configured["pg_query"]?.configuration["database_url_env"] == "USER_DB")
        #expect(configured["http_call"]?.pool == "net")
        #expect(configured["http_call"]?.configuration["allow_hosts"] == ["a.example", "b.example"])
        #expect(configured["sleep"]?.defaultTimeout == .minutes(20))
        #expect(configured["file_write"]?.configuration["workspace_root"] == "/w")
        #expect(configured["file_read"]?.configuration["workspace_root"] == ".aria-workspaces")
        #expect(SkillsConfiguration.variable(skill: "http_call", key: "max_redirects") == "ARIA_SKILL_HTTP_CALL_MAX_REDIRECTS")
    }

    @Test("A variable that names no skill or setting, or has a value of the wrong type, is refused", arguments: [
        (["ARIA_SKILL_TELEPORT_POOL": "x"], "ARIA_SKILL_TELEPORT_POOL names no skill"),
        (["ARIA_SKILL_HTTP_CALL_MAX_BODY": "5"], "ARIA_SKILL_HTTP_CALL_MAX_BODY names no setting of http_call"),
        (["ARIA_SKILL_PG_QUERY_MAX_ROWS": "lots"], "skills.pg_query.max_rows must be an integer, but is a string"),
        (["ARIA_SKILL_HTTP_CALL_MAX_REDIRECTS": "99"], "skills.http_call.max_redirects must be less than or equal to 20"),
        (["ARIA_SKILL_ECHO_TIMEOUT": "soon"], "skills.echo.timeout must"),
    ])
    func badVariables(environment: [String: String], fragment: String) throws {
        try expectRefused(nil, environment, fragment)
    }

    @Test("Variables that are not skill settings are ignored")
    func unrelatedVariables() throws {
        #expect(try catalog(nil, ["ARIA_SKILLS_CONFIG": "/etc/aria/skills.yaml", "ARIA_WORKER_POOL": "gpu", "PATH": "/bin"]).descriptors
                == SkillCatalog.builtIn.descriptors)
    }

    // MARK: Secrets

    @Test("A referenced secret is read from the named variable, its _FILE, or the named file; never from the configuration")
    func secretResolution() throws {
        let standard = try #require(SkillCatalog.builtIn["pg_query"])
        #expect(try standard.secret("database_url", environment: [:]) == nil)
        #expect(try standard.secret("database_url", environment: ["ARIA_PG_QUERY_DATABASE_URL": "postgres://a/b"])?.value == "postgres://a/b")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("aria-skill-secret-\(UUID().uuidString)").path
        try Data("postgres://from/file\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try standard.secret("database_url", environment: ["ARIA_PG_QUERY_DATABASE_URL_FILE": path])?.value == "postgres://from/file")
        let byFile = try #require(try catalog(#"{"skills": {"pg_query": {"database_url_file": "\#(path)"}}}"#)["pg_query"])
        #expect(try byFile.secret("database_url", environment: ["ARIA_PG_QUERY_DATABASE_URL": "ignored"])?.value == "postgres://from/file")
        #expect(String(describing: try byFile.secret("database_url", environment: [:])) .contains("from/file") == false, "redacted")
        let missing = try #require(try catalog(#"{"skills": {"pg_query": {"database_url_file": "/nonexistent/aria-secret"}}}"#)["pg_query"])
        #expect(throws: AriaError.self) { try missing.secret("database_url", environment: [:]) }
        let other = try #require(try catalog(#"{"skills": {"pg_query": {"database_url_env": "USER_DB"}}}"#)["pg_query"])
        #expect(try other.secret("database_url", environment: ["ARIA_PG_QUERY_DATABASE_URL": "postgres://old/x"]) == nil)
        #expect(try other.secret("database_url", environment: ["USER_DB": "postgres://new/x"])?.value == "postgres://new/x")
    }
}
