/// A failure talking to Postgres: a code, the server's SQLSTATE when there is one, and the SQL text involved.
///
/// `description` leaves out `detail`, which may quote row values; `debugDescription` includes it.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The kind of failure, seen from the client; an extensible set of values.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable, snake_case name for the code.
        public let rawValue: String
        /// Creates a code; prefer the predefined values.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code's name.
        public var description: String { rawValue }

        /// A connection could not be established.
        public static let connectionFailed = Code(rawValue: "connection_failed")
        /// An established connection broke (server gone, backend terminated, network failure).
        public static let connectionLost = Code(rawValue: "connection_lost")
        /// The server rejected a statement; `sqlState` says why.
        public static let queryFailed = Code(rawValue: "query_failed")
        /// No pooled connection became free within the checkout timeout.
        public static let poolTimeout = Code(rawValue: "pool_timeout")
        /// The pool has been closed.
        public static let poolClosed = Code(rawValue: "pool_closed")
        /// A connection URL could not be parsed.
        public static let invalidURL = Code(rawValue: "invalid_url")
        /// The server answered with something this client does not handle (e.g. COPY mode).
        public static let unexpectedResult = Code(rawValue: "unexpected_result")
        /// The connection broke after COMMIT was sent: the transaction may or may not have committed.
        /// Not counted as a connection loss, so generic retry logic does not repeat a possibly committed transaction.
        public static let commitOutcomeUnknown = Code(rawValue: "commit_outcome_unknown")
    }

    /// The kind of failure.
    public var code: Code
    /// The five-character SQLSTATE reported by the server, if any (e.g. `23505` unique_violation).
    public var sqlState: String?
    /// The primary, human-readable message.
    public var message: String
    /// The server's optional detail message; may quote row values.
    public var detail: String?
    /// The SQL text that failed (never the parameter values).
    public var query: String?

    /// Creates an error.
    public init(code: Code, message: String, sqlState: String? = nil, detail: String? = nil, query: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.query = query
    }

    /// Whether repeating the whole transaction may succeed: SQLSTATE 40001 (serialization_failure) or
    /// 40P01 (deadlock_detected).
    public var isRetryableTransaction: Bool {
        sqlState == "40001" || sqlState == "40P01"
    }

    /// Whether the connection is unusable: a connect failure, a lost connection, SQLSTATE class 08
    /// (connection exception), or 57P01/57P02/57P03 (the server shut down or is starting).
    public var isConnectionLoss: Bool {
        if code == .connectionFailed || code == .connectionLost { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03"
    }

    /// Code, SQLSTATE, message and query; no detail.
    public var description: String {
        var text = "PostgresError(\(code)"
        if let sqlState { text += ", sqlState: \(sqlState)" }
        text += "): \(message)"
        if let query { text += " [query: \(Self.abbreviate(query))]" }
        return text
    }

    /// Everything, including the server's detail message.
    public var debugDescription: String {
        var text = description
        if let detail { text += " [detail: \(detail)]" }
        return text
    }

    private static func abbreviate(_ sql: String) -> String {
        let flat = sql.split(whereSeparator: \.isNewline).map { $0.trimmingPrefix(while: \.isWhitespace) }.joined(separator: " ")
        return flat.count > 200 ? String(flat.prefix(200)) + "…" : flat
    }
}
