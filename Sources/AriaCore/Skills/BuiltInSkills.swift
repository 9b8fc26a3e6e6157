/// The built-in skills' contracts, each a function of its configuration (`config/skills.yaml`, the
/// environment): a configured limit is both what the worker enforces and what the input schema states.
///
/// `docs/skills.md` describes every skill and its configuration keys; keep the two in step.
enum BuiltInSkills {
    /// Every built-in skill, by name.
    static let all: [String: BuiltInSkill] = Dictionary(
        uniqueKeysWithValues: [echo, sleep, fail, jsonTransform, httpCall, fileRead, fileWrite, pgQuery].map { ($0.name, $0) })

    /// The configuration keys every skill has: the pool that runs it and its default timeout.
    static let commonSettings: [String: JSONValue] = [
        "pool": json(#"{"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"}"#),
        "timeout": durationSetting,
    ]

    /// The text form of ``AriaDuration`` as a pattern (the parser checks the total).
    static let durationPattern = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"

    /// A duration in the configuration: a string such as `"30s"` or an integer of milliseconds.
    static let durationSetting = json(#"""
        {"anyOf": [{"type": "string", "pattern": "\#(durationPattern)"}, {"type": "integer", "minimum": 1, "maximum": \#(AriaDuration.maxMilliseconds)}],
         "x-aria-duration": {}}
        """#)

    /// A byte count in the configuration, at most 256 MiB.
    static let byteSetting = json(#"{"type": "integer", "minimum": 1, "maximum": 268435456}"#)

    /// A list of strings in the configuration.
    static let listSetting = json(#"{"type": "array", "items": {"type": "string", "minLength": 1}}"#)

    /// A workspace folder in the configuration.
    static let folderSetting = json(#"{"type": "string", "minLength": 1}"#)

    /// The most characters of base64 that encode `bytes` bytes.
    static func base64Length(_ bytes: Int64) -> Int64 { (bytes + 2) / 3 * 4 }

    /// Parses a JSON document written in this file; a malformed one is a programming error.
    static func json(_ text: String) -> JSONValue {
        do { return try JSONValue(parsing: text) } catch { preconditionFailure("built-in skill JSON does not parse: \(error)\n\(text)") }
    }

    // MARK: echo

    static let echo = BuiltInSkill(name: "echo", settings: [:], defaults: [:]) { _ in
        try SkillDescriptor(
            name: "echo", version: "1.0.0",
            description: "Returns its params as its output.",
            defaultTimeout: .seconds(10), risk: .readOnly, pure: true,
            inputSchema: json(#"{"type": "object", "description": "Any fields; they are returned unchanged."}"#),
            outputSchema: json(#"{"type": "object", "description": "The params, unchanged."}"#))
    }

    // MARK: sleep

    static let sleep = BuiltInSkill(
        name: "sleep", settings: ["max_duration": durationSetting], defaults: ["max_duration": "10m"]
    ) { settings in
        let maximum = try settings.duration("max_duration")
        return try SkillDescriptor(
            name: "sleep", version: "1.0.0",
            description: "Waits for `duration` (at most \(maximum)), then returns {\"slept_ms\": n}.",
            defaultTimeout: maximum.adding(.minutes(1)), risk: .readOnly,
            inputSchema: json(#"""
                {"type": "object", "required": ["duration"], "additionalProperties": false,
                 "properties": {
                   "duration": {"description": "How long to wait: a duration such as \"250ms\" or \"2s\", or an integer of milliseconds; at most \#(maximum).",
                                "anyOf": [{"type": "string", "pattern": "\#(durationPattern)"},
                                          {"type": "integer", "minimum": 0, "maximum": \#(maximum.milliseconds)}],
                                "x-aria-duration": {"maximum": "\#(maximum)"}}}}
                """#),
            outputSchema: json(#"""
                {"type": "object", "required": ["slept_ms"], "additionalProperties": false,
                 "properties": {"slept_ms": {"type": "integer", "minimum": 0, "maximum": \#(maximum.milliseconds)}}}
                """#))
    }

    // MARK: fail

    static let fail = BuiltInSkill(name: "fail", settings: [:], defaults: [:]) { _ in
        let categories = ErrorCategory.allCases.map { JSONValue.string($0.rawValue) }
        return try SkillDescriptor(
            name: "fail", version: "1.0.0",
            description: "Fails with `message` and error `category` (default permanent); never returns an output.",
            defaultTimeout: .seconds(10), risk: .readOnly, pure: true,
            inputSchema: json(#"""
                {"type": "object", "additionalProperties": false,
                 "properties": {
                   "message": {"type": "string", "maxLength": 4096, "description": "The error message (default: the fail skill failed as asked)."},
                   "category": {"enum": \#(JSONValue.array(categories).jsonString), "description": "The error category (default permanent)."}}}
                """#),
            outputSchema: false)
    }

    // MARK: json_transform

    static let jsonTransform = BuiltInSkill(name: "json_transform", settings: [:], defaults: [:]) { _ in
        try SkillDescriptor(
            name: "json_transform", version: "1.0.0",
            description: "Evaluates a JMESPath-style expression over input and returns {result}: fields, indexes, projections ([*], [], *), filters ([?a == 'b']), multiselect ({k: a} and [a, b]), pipes, comparisons, && || !, and the functions length, keys, values, join, to_string, to_number, sum, min, max, sort, contains, starts_with, not_null.",
            defaultTimeout: .seconds(5), risk: .readOnly, pure: true,
            inputSchema: json(#"""
                {"type": "object", "required": ["input", "expression"], "additionalProperties": false,
                 "properties": {
                   "input": {"description": "Any JSON value, usually an earlier step's output."},
                   "expression": {"type": "string", "minLength": 1, "description": "The expression, e.g. people[?age > `30`].name"}}}
                """#),
            outputSchema: json(#"""
                {"type": "object", "required": ["result"], "additionalProperties": false,
                 "properties": {"result": {"description": "The expression's value (null when it selects nothing)."}}}
                """#))
    }

    // MARK: http_call

    static let httpCall = BuiltInSkill(
        name: "http_call",
        settings: [
            "max_response_bytes": byteSetting, "default_response_bytes": byteSetting,
            "max_redirects": json(#"{"type": "integer", "minimum": 0, "maximum": 20}"#),
            "allow_hosts": listSetting, "allow_cidrs": listSetting,
        ],
        defaults: [
            "max_response_bytes": .int(10 * 1024 * 1024), "default_response_bytes": .int(1024 * 1024), "max_redirects": 5,
            "allow_hosts": [], "allow_cidrs": [],
        ]
    ) { settings in
        let cap = settings.int("max_response_bytes")
        let standard = settings.int("default_response_bytes")
        let redirects = settings.int("max_redirects")
        guard standard <= cap else {
            throw AriaError(.invalidConfiguration, "skills.http_call.default_response_bytes (\(standard)) exceeds max_response_bytes (\(cap))")
        }
        return try SkillDescriptor(
            name: "http_call", version: "1.0.0",
            description: "Calls an HTTP(S) URL and returns {status, headers, body, url, redirects}. Refuses loopback, private and link-local destinations (after DNS, on every redirect) unless allowlisted; response capped at max_bytes (default \(ByteCount(standard)), at most \(ByteCount(cap))); at most \(redirects) redirects.",
            defaultTimeout: .seconds(30), risk: .external,
            inputSchema: json(#"""
                {"type": "object", "required": ["url"], "additionalProperties": false,
                 "properties": {
                   "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://", "maxLength": 8192, "description": "An http or https URL."},
                   "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"], "description": "Default GET."},
                   "headers": {"type": "object", "description": "Request headers; names are RFC 9110 tokens, values single lines.",
                               "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
                               "additionalProperties": {"type": "string", "pattern": "^[^\\r\\n\\x00]*$"}},
                   "body": {"description": "A string is sent as is; any other JSON value is sent as application/json. Not with HEAD."},
                   "max_bytes": {"type": "integer", "minimum": 1, "maximum": \#(cap), "description": "The largest response body accepted (default \#(standard))."},
                   "follow_redirects": {"type": "boolean", "description": "Default true."}},
                 "if": {"required": ["method"], "properties": {"method": {"const": "HEAD"}}},
                 "then": {"properties": {"body": {"type": "null"}}}}
                """#),
            outputSchema: json(#"""
                {"type": "object", "required": ["status", "headers", "url", "redirects"], "additionalProperties": false,
                 "properties": {
                   "status": {"type": "integer", "minimum": 100, "maximum": 999},
                   "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "The final response's headers, names in lower case."},
                   "url": {"type": "string", "description": "The URL that answered (the last redirect target)."},
                   "redirects": {"type": "integer", "minimum": 0, "maximum": \#(redirects)},
                   "body": {"type": "string", "maxLength": \#(cap), "description": "The body, when it is UTF-8."},
                   "body_base64": {"type": "string", "maxLength": \#(base64Length(cap)), "description": "The body in base64, when it is not UTF-8."}},
                 "oneOf": [{"required": ["body"]}, {"required": ["body_base64"]}]}
                """#))
    }

    // MARK: file_read

    static let fileRead = BuiltInSkill(
        name: "file_read",
        settings: ["workspace_root": folderSetting, "max_file_bytes": byteSetting, "default_file_bytes": byteSetting],
        defaults: ["workspace_root": ".aria-workspaces", "max_file_bytes": .int(10 * 1024 * 1024), "default_file_bytes": .int(1024 * 1024)]
    ) { settings in
        let cap = settings.int("max_file_bytes")
        let standard = settings.int("default_file_bytes")
        guard standard <= cap else {
            throw AriaError(.invalidConfiguration, "skills.file_read.default_file_bytes (\(standard)) exceeds max_file_bytes (\(cap))")
        }
        return try SkillDescriptor(
            name: "file_read", version: "1.0.0",
            description: "Reads a file of the tenant's workspace: {path, size, content} (UTF-8) or content_base64; at most max_bytes (default \(ByteCount(standard)), at most \(ByteCount(cap))). Absolute paths, '..' and symbolic links are refused.",
            defaultTimeout: .seconds(10), risk: .readOnly,
            inputSchema: json(#"""
                {"type": "object", "required": ["path"], "additionalProperties": false,
                 "properties": {
                   "path": {"type": "string", "minLength": 1, "maxLength": 1024, "description": "Relative to the tenant's workspace; no '..', no symbolic links."},
                   "max_bytes": {"type": "integer", "minimum": 1, "maximum": \#(cap), "description": "The largest file accepted (default \#(standard))."},
                   "encoding": {"enum": ["utf8", "base64"], "description": "utf8 (default; falls back to base64 for other bytes) or base64."}}}
                """#),
            outputSchema: json(#"""
                {"type": "object", "required": ["path", "size"], "additionalProperties": false,
                 "properties": {
                   "path": {"type": "string"},
                   "size": {"type": "integer", "minimum": 0, "maximum": \#(cap)},
                   "content": {"type": "string", "maxLength": \#(cap)},
                   "content_base64": {"type": "string", "maxLength": \#(base64Length(cap))}},
                 "oneOf": [{"required": ["content"]}, {"required": ["content_base64"]}]}
                """#))
    }

    // MARK: file_write

    static let fileWrite = BuiltInSkill(
        name: "file_write",
        settings: ["workspace_root": folderSetting, "max_file_bytes": byteSetting],
        defaults: ["workspace_root": ".aria-workspaces", "max_file_bytes": .int(10 * 1024 * 1024)]
    ) { settings in
        let cap = settings.int("max_file_bytes")
        return try SkillDescriptor(
            name: "file_write", version: "1.0.0",
            description: "Writes content (or content_base64) to a file of the tenant's workspace: mode create (fails if it exists), overwrite (default) or append; make_dirs creates parent folders. At most \(ByteCount(cap)). Absolute paths, '..' and symbolic links are refused.",
            defaultTimeout: .seconds(10), risk: .sideEffect,
            inputSchema: json(#"""
                {"type": "object", "required": ["path"], "additionalProperties": false,
                 "properties": {
                   "path": {"type": "string", "minLength": 1, "maxLength": 1024, "description": "Relative to the tenant's workspace; no '..', no symbolic links."},
                   "content": {"type": "string", "maxLength": \#(cap), "description": "Text to write as UTF-8."},
                   "content_base64": {"type": "string", "maxLength": \#(base64Length(cap)), "description": "Bytes to write, in base64."},
                   "mode": {"enum": ["create", "overwrite", "append"], "description": "Default overwrite."},
                   "make_dirs": {"type": "boolean", "description": "Create missing parent folders (default false)."}},
                 "oneOf": [{"required": ["content"]}, {"required": ["content_base64"]}]}
                """#),
            outputSchema: json(#"""
                {"type": "object", "required": ["path", "size"], "additionalProperties": false,
                 "properties": {"path": {"type": "string"}, "size": {"type": "integer", "minimum": 0, "maximum": \#(cap), "description": "Bytes written."}}}
                """#))
    }

    // MARK: pg_query

    static let pgQuery = BuiltInSkill(
        name: "pg_query",
        settings: [
            "database_url_env": json(#"{"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}"#),
            "database_url_file": folderSetting,
            "connections": json(#"{"type": "integer", "minimum": 1, "maximum": 64}"#),
            "max_rows": json(#"{"type": "integer", "minimum": 1, "maximum": 1000000}"#),
            "default_rows": json(#"{"type": "integer", "minimum": 1, "maximum": 1000000}"#),
            "max_statement_timeout": durationSetting, "default_statement_timeout": durationSetting,
        ],
        defaults: [
            "database_url_env": "ARIA_PG_QUERY_DATABASE_URL", "connections": 4, "max_rows": 10_000, "default_rows": 1000,
            "max_statement_timeout": "1m", "default_statement_timeout": "5s",
        ],
        secrets: ["database_url"]
    ) { settings in
        let maxRows = settings.int("max_rows")
        let defaultRows = settings.int("default_rows")
        let maxTimeout = try settings.duration("max_statement_timeout")
        let defaultTimeout = try settings.duration("default_statement_timeout")
        guard defaultRows <= maxRows else {
            throw AriaError(.invalidConfiguration, "skills.pg_query.default_rows (\(defaultRows)) exceeds max_rows (\(maxRows))")
        }
        guard defaultTimeout <= maxTimeout else {
            throw AriaError(.invalidConfiguration, "skills.pg_query.default_statement_timeout (\(defaultTimeout)) exceeds max_statement_timeout (\(maxTimeout))")
        }
        return try SkillDescriptor(
            name: "pg_query", version: "1.0.0",
            description: "Runs one parameterized, read-only SQL statement against the configured user database (never the cluster's own): {columns, rows, row_count, truncated}; max_rows default \(defaultRows) (at most \(maxRows)), statement timeout default \(defaultTimeout) (at most \(maxTimeout)).",
            defaultTimeout: maxTimeout.adding(.seconds(10)), risk: .readOnly,
            inputSchema: json(#"""
                {"type": "object", "required": ["sql"], "additionalProperties": false,
                 "properties": {
                   "sql": {"type": "string", "pattern": "[^\\s;]", "description": "One statement; $1, $2... are placeholders for params."},
                   "params": {"type": "array", "maxItems": 65535, "items": {"type": ["string", "number", "boolean", "null"]},
                              "description": "Placeholder values, sent as text."},
                   "max_rows": {"type": "integer", "minimum": 1, "maximum": \#(maxRows), "description": "Rows returned at most (default \#(defaultRows)); truncated tells whether there were more."},
                   "timeout": {"description": "The statement timeout: a duration such as \"2s\", or an integer of milliseconds (default \#(defaultTimeout), at most \#(maxTimeout)).",
                               "anyOf": [{"type": "string", "pattern": "\#(durationPattern)"}, {"type": "integer", "minimum": 1, "maximum": \#(maxTimeout.milliseconds)}],
                               "x-aria-duration": {"maximum": "\#(maxTimeout)"}}}}
                """#),
            outputSchema: json(#"""
                {"type": "object", "required": ["columns", "rows", "row_count", "truncated"], "additionalProperties": false,
                 "properties": {
                   "columns": {"type": "array", "items": {"type": "string"}},
                   "rows": {"type": "array", "maxItems": \#(maxRows), "items": {"type": "array", "items": {"type": ["string", "null"]}},
                            "description": "Each row's values as text (null for SQL NULL), in column order."},
                   "row_count": {"type": "integer", "minimum": 0, "maximum": \#(maxRows)},
                   "truncated": {"type": "boolean"}}}
                """#))
    }
}

/// A built-in skill: its configuration keys, their defaults, and how its descriptor follows from them.
struct BuiltInSkill: Sendable {
    /// The skill's name.
    let name: String
    /// The schema of each configuration key of this skill (besides ``BuiltInSkills/commonSettings``).
    let settings: [String: JSONValue]
    /// The configuration when nothing is configured.
    let defaults: [String: JSONValue]
    /// Secret keys: configured as `<key>_env` (a variable holding it) or `<key>_file` (a file holding it), never inline.
    let secrets: [String]
    /// Builds the descriptor from the complete, schema-checked configuration.
    let build: @Sendable (_ settings: BuiltInSettings) throws -> SkillDescriptor

    /// Creates a definition.
    init(name: String, settings: [String: JSONValue], defaults: [String: JSONValue], secrets: [String] = [],
         build: @escaping @Sendable (_ settings: BuiltInSettings) throws -> SkillDescriptor) {
        self.name = name
        self.settings = settings
        self.defaults = defaults
        self.secrets = secrets
        self.build = build
    }

    /// The JSON Schema of the skill's whole configuration section.
    var settingsSchema: JSONValue {
        .object([
            "type": "object", "additionalProperties": false,
            "properties": .object(settings.merging(BuiltInSkills.commonSettings) { own, _ in own }),
        ])
    }

    /// Every key the skill's section accepts, sorted.
    var keys: [String] { (Array(settings.keys) + Array(BuiltInSkills.commonSettings.keys)).sorted() }
}

/// A skill's complete configuration, already checked against its settings schema.
struct BuiltInSettings: Sendable {
    /// The skill's name, for messages.
    let skill: String
    /// The values.
    let values: [String: JSONValue]

    /// An integer setting (present: defaults cover every key the build reads).
    func int(_ key: String) -> Int64 { values[key]?.intValue ?? 0 }

    /// A duration setting: a duration string or an integer of milliseconds.
    func duration(_ key: String) throws(AriaError) -> AriaDuration {
        let value = values[key]
        if let milliseconds = value?.intValue, let duration = try? AriaDuration(validatingMilliseconds: milliseconds) { return duration }
        if let text = value?.stringValue, let duration = try? AriaDuration(parsing: text) { return duration }
        throw AriaError(.invalidConfiguration, "skills.\(skill).\(key) must be a duration such as \"30s\"")
    }
}

/// A byte count for descriptions: `1 MiB`, `512 KiB`, `1000 bytes`.
struct ByteCount: CustomStringConvertible {
    /// The count.
    let bytes: Int64
    /// Wraps `bytes`.
    init(_ bytes: Int64) { self.bytes = bytes }
    /// The count in the largest binary unit that divides it.
    var description: String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }
}

extension AriaDuration {
    /// `self + other`, at most ``AriaDuration/maximum``.
    func adding(_ other: AriaDuration) -> AriaDuration {
        AriaDuration(milliseconds: Swift.min(milliseconds + other.milliseconds, AriaDuration.maxMilliseconds))
    }
}
