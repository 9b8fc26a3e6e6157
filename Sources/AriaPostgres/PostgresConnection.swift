internal import CLibPQ

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// One libpq connection.
///
/// NOT thread-safe: used by one caller at a time, inside `PostgresPool` closures, which run on the
/// connection's own serial queue and never on Swift's cooperative pool. Its methods block.
/// Statements run through `query` are prepared once per connection and then executed by name.
public final class PostgresConnection: @unchecked Sendable {
    /// A statement prepared on this connection: its server-side name and how many parameters it takes.
    private struct PreparedStatement {
        let name: String
        let parameterCount: Int
    }

    /// Beyond this many distinct SQL texts, statements run unprepared, so generated SQL cannot grow the cache forever.
    static let statementCacheLimit = 512

    private var handle: OpaquePointer?
    private var statements: [String: PreparedStatement] = [:]
    private var statementCounter = 0
    /// Set when the protocol state is no longer known (e.g. the server entered COPY mode).
    private var poisoned = false
    /// Statements queued by ``queue(_:_:then:)``, sent ahead of the next statement that needs an answer,
    /// each with what to do with its result.
    private var queued: [(sql: String, parameters: () -> [String?]?, then: ((PostgresResult) -> Void)?)] = []
    /// Runs once the next pipeline's statements are on the wire (``whenNextSent(_:)``).
    private var afterNextSend: (() -> Void)?
    /// Runs once the open transaction has committed (``whenCommitted(_:)``).
    var afterCommit: (() -> Void)?

    private init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        close()
    }

    /// Opens a connection; blocks for up to `config.connectTimeout`.
    ///
    /// The session gets `client_min_messages=warning`, the configured `application_name` and
    /// `sessionSettings`, TCP keepalives, and a notice processor that drops notices instead of printing them
    /// to standard error.
    /// - Throws: `PostgresError` with code `.connectionFailed`.
    public static func connect(_ config: PostgresConfig) throws -> PostgresConnection {
        var parameters: [(String, String)] = [
            ("host", config.host),
            ("port", String(config.port)),
            ("user", config.user),
            ("dbname", config.database),
            ("application_name", config.applicationName),
            ("connect_timeout", String(config.connectTimeoutSeconds)),
            ("client_encoding", "UTF8"),
            ("options", options(config.sessionSettings.merging(["client_min_messages": "warning"]) { own, _ in own })),
            // A server that vanishes without closing the socket (host crash, network cut) is noticed within a minute.
            ("keepalives", "1"),
            ("keepalives_idle", "30"),
            ("keepalives_interval", "10"),
            ("keepalives_count", "3"),
        ]
        if let password = config.password { parameters.append(("password", password)) }
        if let sslMode = config.sslMode { parameters.append(("sslmode", sslMode)) }

        let handle = withCStringArray(parameters.map(\.0), nullTerminated: true) { keywords in
            withCStringArray(parameters.map(\.1), nullTerminated: true) { values in
                PQconnectdbParams(keywords, values, 0)
            }
        }
        guard let handle else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let error = makeError(handle, result: nil, query: nil, connecting: true)
            PQfinish(handle)
            throw error
        }
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        return PostgresConnection(handle: handle)
    }

    /// libpq's `options` value for `settings`: `-c name=value` each, spaces and backslashes escaped.
    static func options(_ settings: [String: String]) -> String {
        func escaped(_ text: String) -> String {
            var result = ""
            for character in text {
                if character == " " || character == "\\" { result.append("\\") }
                result.append(character)
            }
            return result
        }
        return settings.sorted { $0.key < $1.key }.map { "-c \(escaped($0.key))=\(escaped($0.value))" }.joined(separator: " ")
    }

    /// Runs one statement with text parameters (`$1`, `$2`, …; nil is NULL) and returns text-format values.
    ///
    /// The statement is prepared on first use and executed by name afterwards. If the server forgot the
    /// statement (`DISCARD ALL`) or its cached plan no longer fits (a migration changed a table) while no
    /// transaction is open, the statement is prepared afresh and run once more.
    /// - Throws: `PostgresError`; `.queryFailed` with the server's `sqlState` for rejected SQL.
    ///
    /// Statements queued with ``queue(_:_:)`` go first, in the same round trip; if one of them fails, its
    /// error is thrown here and this statement does not run.
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> PostgresResult {
        if !queued.isEmpty {
            return try pipeline([PostgresStatement(sql, parameters)])[0]
        }
        let handle = try liveHandle()
        let wasIdle = PQtransactionStatus(handle) == PQTRANS_IDLE
        do {
            return try runStatement(handle, sql, parameters)
        } catch let error as PostgresError where wasIdle && Self.isStaleStatement(error) {
            return try runStatement(handle, sql, parameters)
        }
    }

    /// Queues a statement whose answer the caller does not need right away (a write inside a transaction). It
    /// is sent with the next statement that needs an answer (``query(_:_:)``, ``pipeline(_:)``, the pool's
    /// COMMIT), all in one round trip (libpq pipeline mode), and its failure is thrown there. `then` gets its
    /// result once that round trip succeeded (on this connection's thread, before the call that sent it returns).
    public func queue(_ sql: String, _ parameters: [String?] = [], then: ((PostgresResult) -> Void)? = nil) {
        queued.append((sql, { parameters }, then))
    }

    /// Queues a statement like ``queue(_:_:then:)`` whose parameters are computed when it is sent: a write
    /// that statements queued after it may still add rows to (they run after it on the server, so they see
    /// its rows).
    public func queue(_ sql: String, parameters: @escaping () -> [String?], then: ((PostgresResult) -> Void)? = nil) {
        queue(sql, parametersIfNeeded: parameters, then: then)
    }

    /// Queues a statement like ``queue(_:parameters:then:)`` that is left out when, at the time it would be
    /// sent, `parameters` returns nil (what it was for did not happen); `then` is not called then.
    public func queue(_ sql: String, parametersIfNeeded parameters: @escaping () -> [String?]?, then: ((PostgresResult) -> Void)? = nil) {
        queued.append((sql, parameters, then))
    }

    /// Runs `action` (on this connection's thread) once the next round trip's statements are written to the
    /// socket, before their answers are read: the COMMIT of a transaction when set after its last statement
    /// that needs an answer. Dropped, unrun, when the queued statements are discarded (a rollback).
    public func whenNextSent(_ action: @escaping () -> Void) {
        afterNextSend = action
    }

    /// Runs `action` (on this connection's thread) once the open transaction has committed: after the
    /// COMMIT's answer, before the transaction's caller resumes. Dropped, unrun, when it rolls back. Only
    /// for transactions of ``PostgresPool/transaction(isolation:maxAttempts:_:)``.
    public func whenCommitted(_ action: @escaping () -> Void) {
        afterCommit = action
    }

    /// Whether statements are queued and not yet sent.
    public var hasQueuedStatements: Bool { !queued.isEmpty }

    /// Sends the queued statements and then `statements` in one round trip (libpq pipeline mode) and returns
    /// the results of `statements`, in order.
    ///
    /// The statements run one after another on the server, exactly as separate calls would, but without
    /// waiting for each answer. The first failure is thrown (with its statement); the statements after it
    /// are skipped by the server, and inside a transaction the transaction is then failed. Outside a
    /// transaction, one pipeline runs as one implicit transaction: a failure undoes the statements before it.
    /// - Throws: `PostgresError`.
    public func pipeline(_ statements: [PostgresStatement]) throws -> [PostgresResult] {
        let pending = queued
        queued.removeAll()
        var handlers: [((PostgresResult) -> Void)?] = []
        var all: [PostgresStatement] = []
        for entry in pending {
            guard let parameters = entry.parameters() else { continue }
            all.append(PostgresStatement(entry.sql, parameters))
            handlers.append(entry.then)
        }
        all += statements
        guard !all.isEmpty else { return [] }
        let handle = try liveHandle()
        let results = try runPipeline(handle, all)
        for (index, handler) in handlers.enumerated() { handler?(results[index]) }
        return Array(results.suffix(statements.count))
    }

    /// Runs SQL through the simple-query protocol: no parameters, any number of `;`-separated statements
    /// (migrations, `BEGIN`/`COMMIT`). Stops at the first failing statement. Queued statements are sent first.
    /// - Throws: `PostgresError`.
    public func execute(_ sql: String) throws {
        if !queued.isEmpty { _ = try pipeline([]) }
        _ = try executeReturningTag(sql)
    }

    /// Whether the connection can take the next statement: connected, and not inside a failed transaction
    /// or an unknown protocol state.
    public var isHealthy: Bool {
        guard let handle, !poisoned, PQstatus(handle) == CONNECTION_OK else { return false }
        let transaction = PQtransactionStatus(handle)
        return transaction == PQTRANS_IDLE || transaction == PQTRANS_INTRANS
    }

    /// The process id of the server backend serving this connection (0 once closed).
    public var backendPID: Int32 {
        guard let handle else { return 0 }
        return PQbackendPID(handle)
    }

    /// Closes the connection (`PQfinish`); later calls throw `.connectionLost`. Safe to call twice.
    public func close() {
        queued.removeAll()
        afterNextSend = nil
        afterCommit = nil
        guard let handle else { return }
        PQfinish(handle)
        self.handle = nil
        statements.removeAll()
    }

    // MARK: - Used by the pool

    /// Where the session stands with respect to transactions.
    enum TransactionState {
        /// No transaction open.
        case idle
        /// Inside a transaction that can still commit.
        case inTransaction
        /// Inside a transaction that a failed statement aborted: only ROLLBACK helps.
        case failed
        /// Disconnected, or a statement is in flight.
        case unknown
    }

    /// The session's transaction state, as last reported by the server.
    var transactionState: TransactionState {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return .unknown }
        switch PQtransactionStatus(handle) {
        case PQTRANS_IDLE: return .idle
        case PQTRANS_INTRANS: return .inTransaction
        case PQTRANS_INERROR: return .failed
        default: return .unknown
        }
    }

    /// Drops the queued statements unsent (the transaction they belonged to is being rolled back).
    func discardQueued() {
        queued.removeAll()
        afterNextSend = nil
        afterCommit = nil
    }

    /// Commits the open transaction, sending the queued statements first in the same round trip; returns
    /// the command tag (`COMMIT`, or `ROLLBACK` when the transaction had already failed).
    func commit() throws -> String {
        guard !queued.isEmpty || afterNextSend != nil else { return try executeReturningTag("COMMIT") }
        return try pipeline([PostgresStatement("COMMIT")])[0].commandTag
    }

    /// Runs simple-query SQL and returns the last command tag (`COMMIT`, or `ROLLBACK` when a COMMIT
    /// found the transaction already failed).
    func executeReturningTag(_ sql: String) throws -> String {
        let handle = try liveHandle()
        return try checkpoint(PQexec(handle, sql), sql) { String(cString: PQcmdStatus($0)) }
    }

    /// Notices, without blocking, a server that has gone away since the last statement: reads whatever
    /// the socket holds (a termination notice, end of file) and reports whether the connection still stands.
    func probeAlive() -> Bool {
        guard isHealthy, let handle else { return false }
        let socket = PQsocket(handle)
        guard socket >= 0 else { return false }
        // A termination notice and the end of file may arrive in separate reads: look a few times.
        for _ in 0..<4 {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { break }
            if PQconsumeInput(handle) == 0 { return false }
            while let notification = PQnotifies(handle) { PQfreemem(notification) }
            if PQstatus(handle) != CONNECTION_OK { return false }
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    // MARK: - Statements

    private func liveHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(code: .connectionLost, message: "the connection is closed")
        }
        return handle
    }

    private static func isStaleStatement(_ error: PostgresError) -> Bool {
        // 26000 invalid_sql_statement_name; 0A000 "cached plan must not change result type".
        error.sqlState == "26000" || error.sqlState == "0A000"
    }

    private func runStatement(_ handle: OpaquePointer, _ sql: String, _ parameters: [String?]) throws -> PostgresResult {
        guard let statement = try prepare(handle, sql) else {
            let result = withCStringArray(parameters) { values in
                PQexecParams(handle, sql, Int32(values.count), nil, values, nil, nil, 0)
            }
            return try checkpoint(result, sql, Self.readResult)
        }
        guard statement.parameterCount == parameters.count else {
            throw PostgresError(
                code: .queryFailed,
                message: "the statement takes \(statement.parameterCount) parameters but \(parameters.count) were given",
                query: sql)
        }
        let result = withCStringArray(parameters) { values in
            PQexecPrepared(handle, statement.name, Int32(values.count), values, nil, nil, 0)
        }
        do {
            return try checkpoint(result, sql, Self.readResult)
        } catch let error as PostgresError where Self.isStaleStatement(error) {
            statements[sql] = nil
            throw error
        }
    }

    /// Sends `statements` and a sync point in pipeline mode, then reads every result.
    ///
    /// Sending happens with the socket non-blocking, reading what the server answers meanwhile, so a
    /// large pipeline cannot deadlock on full socket buffers in both directions.
    private func runPipeline(_ handle: OpaquePointer, _ statements: [PostgresStatement]) throws -> [PostgresResult] {
        // Prepare (synchronously, once per connection) what the cache does not hold yet.
        var prepared: [PreparedStatement?] = []
        prepared.reserveCapacity(statements.count)
        for statement in statements {
            let entry = try prepare(handle, statement.sql)
            if let entry, entry.parameterCount != statement.parameters.count {
                throw PostgresError(
                    code: .queryFailed,
                    message: "the statement takes \(entry.parameterCount) parameters but \(statement.parameters.count) were given",
                    query: statement.sql)
            }
            prepared.append(entry)
        }
        guard PQenterPipelineMode(handle) == 1 else { throw Self.makeError(handle, result: nil, query: statements.first?.sql, connecting: false) }
        var inPipeline = true
        defer {
            if inPipeline, PQexitPipelineMode(handle) != 1 { poisoned = true }
        }
        guard PQsetnonblocking(handle, 1) == 0 else { throw Self.makeError(handle, result: nil, query: statements.first?.sql, connecting: false) }
        for (statement, entry) in zip(statements, prepared) {
            let sent = withCStringArray(statement.parameters) { values in
                if let entry {
                    return PQsendQueryPrepared(handle, entry.name, Int32(values.count), values, nil, nil, 0)
                }
                return PQsendQueryParams(handle, statement.sql, Int32(values.count), nil, values, nil, nil, 0)
            }
            guard sent == 1 else {
                poisoned = true
                throw Self.makeError(handle, result: nil, query: statement.sql, connecting: false)
            }
        }
        guard PQpipelineSync(handle) == 1 else {
            poisoned = true
            throw Self.makeError(handle, result: nil, query: statements.last?.sql, connecting: false)
        }
        try flushNonBlocking(handle, query: statements.last?.sql)
        _ = PQsetnonblocking(handle, 0)
        if let action = afterNextSend {
            afterNextSend = nil
            action()
        }

        var results = [PostgresResult](repeating: PostgresResult(columns: [], rows: [], affectedRows: 0), count: statements.count)
        var failure: PostgresError?
        var index = 0
        while true {
            guard let result = PQgetResult(handle) else {
                // The end of one statement's results.
                if PQstatus(handle) != CONNECTION_OK {
                    poisoned = true
                    throw failure ?? Self.makeError(handle, result: nil, query: statements[min(index, statements.count - 1)].sql, connecting: false)
                }
                index += 1
                if index > statements.count {
                    poisoned = true
                    throw PostgresError(code: .unexpectedResult, message: "the pipeline answered more statements than it sent")
                }
                continue
            }
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_SYNC { break }
            guard index < statements.count else {
                poisoned = true
                throw PostgresError(code: .unexpectedResult, message: "the pipeline answered more statements than it sent")
            }
            switch status {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                results[index] = Self.readResult(result)
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                let error = Self.makeError(handle, result: result, query: statements[index].sql, connecting: false)
                if Self.isStaleStatement(error) { self.statements[statements[index].sql] = nil }
                if failure == nil { failure = error }
            case PGRES_PIPELINE_ABORTED:
                break
            default:
                poisoned = true
                let text = String(cString: PQresStatus(status))
                throw PostgresError(code: .unexpectedResult, message: "unsupported result status \(text)", query: statements[index].sql)
            }
        }
        inPipeline = false
        guard PQexitPipelineMode(handle) == 1 else {
            poisoned = true
            throw PostgresError(code: .unexpectedResult, message: "could not leave pipeline mode: \(Self.trimmed(PQerrorMessage(handle)))")
        }
        if let failure { throw failure }
        return results
    }

    /// Flushes libpq's output buffer on a non-blocking socket, consuming the server's answers meanwhile.
    private func flushNonBlocking(_ handle: OpaquePointer, query: String?) throws {
        while true {
            let flushed = PQflush(handle)
            if flushed == 0 { return }
            guard flushed == 1 else {
                poisoned = true
                throw Self.makeError(handle, result: nil, query: query, connecting: false)
            }
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN | POLLOUT), revents: 0)
            guard poll(&descriptor, 1, -1) >= 0 || errno == EINTR else {
                poisoned = true
                throw PostgresError(code: .connectionLost, message: "poll failed while sending a pipeline (errno \(errno))", query: query)
            }
            if descriptor.revents & Int16(POLLIN) != 0, PQconsumeInput(handle) == 0 {
                poisoned = true
                throw Self.makeError(handle, result: nil, query: query, connecting: false)
            }
        }
    }

    /// The cached prepared statement for `sql`, preparing it if needed; nil when the cache is full.
    private func prepare(_ handle: OpaquePointer, _ sql: String) throws -> PreparedStatement? {
        if let statement = statements[sql] { return statement }
        guard statements.count < Self.statementCacheLimit else { return nil }
        statementCounter += 1
        let name = "aria_\(statementCounter)"
        try checkpoint(PQprepare(handle, name, sql, 0, nil), sql) { _ in () }
        // Knowing the parameter count lets a wrong argument count fail as a query error here, instead of
        // as a protocol violation (SQLSTATE 08P01) that would look like a lost connection.
        let parameterCount = try checkpoint(PQdescribePrepared(handle, name), sql) { Int(PQnparams($0)) }
        let statement = PreparedStatement(name: name, parameterCount: parameterCount)
        statements[sql] = statement
        return statement
    }

    /// The one place where a libpq result becomes a Swift value or a `PostgresError`; always clears the result.
    @discardableResult
    private func checkpoint<R>(_ result: OpaquePointer?, _ sql: String, _ read: (OpaquePointer) -> R) throws -> R {
        guard let result else {
            // No result at all: out of memory, or the connection broke while sending.
            throw Self.makeError(handle, result: nil, query: sql, connecting: false)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return read(result)
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            throw Self.makeError(handle, result: result, query: sql, connecting: false)
        default:
            // COPY and pipeline results are not supported; the protocol state is now unknown.
            poisoned = true
            let status = String(cString: PQresStatus(PQresultStatus(result)))
            throw PostgresError(code: .unexpectedResult, message: "unsupported result status \(status)", query: sql)
        }
    }

    /// Builds the error for a failed call from the result's diagnostic fields and the connection's state.
    private static func makeError(_ handle: OpaquePointer?, result: OpaquePointer?, query: String?, connecting: Bool) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let result, let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        var message = field(DiagnosticField.primaryMessage) ?? ""
        if message.isEmpty, let result { message = trimmed(PQresultErrorMessage(result)) }
        if message.isEmpty, let handle { message = trimmed(PQerrorMessage(handle)) }
        if message.isEmpty { message = "unknown libpq failure" }

        let connected = handle.map { PQstatus($0) == CONNECTION_OK } ?? false
        let code: PostgresError.Code = connecting ? .connectionFailed : (connected ? .queryFailed : .connectionLost)
        return PostgresError(
            code: code, message: message, sqlState: field(DiagnosticField.sqlState),
            detail: field(DiagnosticField.detail), query: query)
    }

    private static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        var message = String(cString: text)
        while message.last?.isWhitespace == true { message.removeLast() }
        return message
    }

    private static func readResult(_ result: OpaquePointer) -> PostgresResult {
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                if PQgetisnull(result, row, column) == 1 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, row, column))
                    let bytes = UnsafeRawPointer(PQgetvalue(result, row, column)!).assumingMemoryBound(to: UInt8.self)
                    values.append(String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self))
                }
            }
            rows.append(values)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresResult(
            columns: columns, rows: rows, affectedRows: affected, commandTag: String(cString: PQcmdStatus(result)))
    }
}

/// A statement and its text parameters (`$1`, `$2`, …; nil is NULL), for ``PostgresConnection/pipeline(_:)``.
public struct PostgresStatement: Sendable {
    /// The SQL text: one statement.
    public var sql: String
    /// The parameters.
    public var parameters: [String?]

    /// Creates a statement.
    public init(_ sql: String, _ parameters: [String?] = []) {
        self.sql = sql
        self.parameters = parameters
    }
}

/// libpq's `PG_DIAG_*` field codes, character-literal macros that Swift does not import.
private enum DiagnosticField {
    static let sqlState = Int32(UInt8(ascii: "C"))
    static let primaryMessage = Int32(UInt8(ascii: "M"))
    static let detail = Int32(UInt8(ascii: "D"))
}

/// Calls `body` with C copies of `strings` (nil stays NULL) that live exactly as long as the call.
private func withCStringArray<R>(
    _ strings: [String?], nullTerminated: Bool = false, _ body: ([UnsafePointer<CChar>?]) -> R
) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { string in string.map { strdup($0)! } }
    defer { for copy in copies { free(copy) } }
    var pointers = copies.map { $0.map { UnsafePointer($0) } }
    if nullTerminated { pointers.append(nil) }
    return body(pointers)
}
