/// A typed, documented error as it appears on the wire (`docs/errors.md` lists every code).
public struct AriaError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The stable machine-readable code.
    public var code: ErrorCode
    /// A human-readable explanation, safe to show the submitter (no secrets, no payload values).
    public var message: String
    /// The category that decides how a step failure is handled (a retry policy lists the categories it retries).
    public var category: ErrorCategory
    /// Extra context: the existing run id of an idempotency conflict, the field at fault, the limit exceeded.
    public var details: [String: String]

    /// Creates an error with the code's default category.
    public init(_ code: ErrorCode, _ message: String, details: [String: String] = [:], category: ErrorCategory? = nil) {
        self.code = code
        self.message = message
        self.details = details
        self.category = category ?? code.defaultCategory
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// Error codes on the wire. Adding one is backwards compatible; renaming one is not.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The snake_case code.
    public let rawValue: String
    /// Wraps a code (unknown codes from newer peers are kept as they are).
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The code.
    public var description: String { rawValue }

    // Submission
    /// The message is not valid JSON.
    public static let malformedJSON = ErrorCode(rawValue: "malformed_json")
    /// The JSON does not match the job schema (missing or unknown field, wrong type).
    public static let invalidJob = ErrorCode(rawValue: "invalid_job")
    /// The message exceeds the configured maximum job size.
    public static let payloadTooLarge = ErrorCode(rawValue: "payload_too_large")
    /// The tenant in the subject is not in the tenants table (or is disabled).
    public static let unknownTenant = ErrorCode(rawValue: "unknown_tenant")
    /// The body names a different tenant than the subject.
    public static let tenantMismatch = ErrorCode(rawValue: "tenant_mismatch")
    /// The idempotency key was used before with a different payload.
    public static let idempotencyConflict = ErrorCode(rawValue: "idempotency_conflict")
    /// The envelope's type or version is not one this service understands.
    public static let unsupportedVersion = ErrorCode(rawValue: "unsupported_version")
    /// A step names a skill that no worker pool provides.
    public static let unknownSkill = ErrorCode(rawValue: "unknown_skill")
    /// The job names a plan template that does not exist.
    public static let unknownTemplate = ErrorCode(rawValue: "unknown_template")
    /// The plan breaks a structural rule (duplicate ids, unknown dependency, cycle, too many steps, unsupported field).
    public static let invalidPlan = ErrorCode(rawValue: "invalid_plan")
    /// A step's params fail the skill's input rules, or a template parameter is missing.
    public static let invalidParams = ErrorCode(rawValue: "invalid_params")
    /// The cluster is at a configured limit (stream full, too many requests in flight); retry later.
    public static let overloaded = ErrorCode(rawValue: "overloaded")
    /// The request names a run (or other object) that does not exist for this tenant.
    public static let notFound = ErrorCode(rawValue: "not_found")
    /// The request is not a known API verb.
    public static let unknownVerb = ErrorCode(rawValue: "unknown_verb")
    /// The run is not in a state that allows the request (cancel a finished run, rerun a running one,
    /// rerun `from_failed` a run that did not fail).
    public static let invalidState = ErrorCode(rawValue: "invalid_state")

    // Execution
    /// A skill reported a failure.
    public static let skillFailed = ErrorCode(rawValue: "skill_failed")
    /// A step exceeded its timeout.
    public static let stepTimeout = ErrorCode(rawValue: "step_timeout")
    /// The watchdog failed a run that made no progress for the configured time; the message says what it
    /// was waiting for.
    public static let runStalled = ErrorCode(rawValue: "run_stalled")
    /// The run was cancelled on request (the run's `error` carries the reason).
    public static let runCancelled = ErrorCode(rawValue: "run_cancelled")
    /// An outbound call was refused by the destination policy (loopback, private, link-local, or a redirect
    /// to one), checked after DNS resolution and on every redirect.
    public static let destinationRefused = ErrorCode(rawValue: "destination_refused")
    /// A file path leaves the tenant's workspace (absolute, `..`, or through a symbolic link).
    public static let pathRefused = ErrorCode(rawValue: "path_refused")
    /// A file operation failed (not found, exists, too large, not a regular file); `details.reason`.
    public static let fileFailed = ErrorCode(rawValue: "file_failed")
    /// A `pg_query` statement failed (a write in the read-only transaction, a timeout, a syntax error);
    /// `details.sqlstate`.
    public static let queryFailed = ErrorCode(rawValue: "query_failed")
    /// An outbound HTTP call failed (resolution, connection, TLS, size cap, redirect limit, timeout).
    public static let httpFailed = ErrorCode(rawValue: "http_failed")
    /// A skill returned an output that breaks its declared output schema (a defect of the skill, not of the input).
    public static let invalidOutput = ErrorCode(rawValue: "invalid_output")

    // Internal
    /// An internal bus message could not be decoded; it was dead-lettered.
    public static let undecodableMessage = ErrorCode(rawValue: "undecodable_message")
    /// The database schema is newer than this binary knows.
    public static let schemaTooNew = ErrorCode(rawValue: "schema_too_new")
    /// The database schema is older than this binary needs (run `aria migrate`).
    public static let schemaOutdated = ErrorCode(rawValue: "schema_outdated")
    /// A migration already applied has a different checksum than the one embedded in this binary.
    public static let migrationChecksumMismatch = ErrorCode(rawValue: "migration_checksum_mismatch")
    /// A JetStream stream or consumer this service needs does not exist (run `aria migrate`).
    public static let busNotProvisioned = ErrorCode(rawValue: "bus_not_provisioned")
    /// Configuration is missing or invalid.
    public static let invalidConfiguration = ErrorCode(rawValue: "invalid_configuration")
    /// An unexpected failure inside a service; details are in its log.
    public static let `internal` = ErrorCode(rawValue: "internal")

    /// Every code this version defines (docs/errors.md documents each; a test keeps them equal).
    public static let all: [ErrorCode] = [
        .malformedJSON, .invalidJob, .payloadTooLarge, .unknownTenant, .tenantMismatch, .idempotencyConflict, .unsupportedVersion,
        .unknownSkill, .unknownTemplate, .invalidPlan, .invalidParams, .overloaded, .notFound, .unknownVerb, .invalidState,
        .skillFailed, .invalidOutput, .stepTimeout, .runStalled, .runCancelled, .destinationRefused, .pathRefused, .fileFailed, .queryFailed, .httpFailed,
        .undecodableMessage, .schemaTooNew, .schemaOutdated, .migrationChecksumMismatch, .busNotProvisioned, .invalidConfiguration, .internal,
    ]

    /// The category an error of this code has unless stated otherwise.
    public var defaultCategory: ErrorCategory {
        switch self {
        case .overloaded, .internal, .stepTimeout, .httpFailed: .transient
        case .payloadTooLarge: .resource
        case .unknownTenant, .tenantMismatch, .destinationRefused, .pathRefused: .permission
        case .skillFailed, .invalidOutput, .fileFailed, .queryFailed, .notFound, .runStalled, .runCancelled, .schemaTooNew, .schemaOutdated, .migrationChecksumMismatch,
             .busNotProvisioned, .invalidConfiguration: .permanent
        default: .validation
        }
    }
}

/// How an error is classified for retry and reporting decisions.
public enum ErrorCategory: String, Sendable, Hashable, Codable, CaseIterable {
    /// May succeed if tried again (timeouts, overload, connection loss).
    case transient
    /// Will fail again.
    case permanent
    /// A limit on size, memory or quota.
    case resource
    /// Not allowed.
    case permission
    /// The input is wrong.
    case validation
    /// A token or cost budget is exhausted.
    case budget
}
