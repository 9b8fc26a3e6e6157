/// Where and how to reach a Postgres database.
///
/// The password is a secret: `description` never shows it.
public struct PostgresConfig: Sendable, CustomStringConvertible {
    /// The server's host name or IP address; a value starting with `/` is a unix socket directory.
    public var host: String
    /// The server's TCP port.
    public var port: Int
    /// The role to log in as.
    public var user: String
    /// The role's password, if the server asks for one.
    public var password: String?
    /// The database to connect to.
    public var database: String
    /// Shown in `pg_stat_activity.application_name`, to tell Aria's services apart on the server.
    public var applicationName: String
    /// How long establishing a connection may take (libpq counts whole seconds, at least 2).
    public var connectTimeout: Duration
    /// libpq's `sslmode` (`disable`, `prefer`, `require`, `verify-full`, …); nil keeps libpq's default (`prefer`).
    public var sslMode: String?
    /// Server settings every session starts with (`SET name = value` at connect, through libpq's `options`).
    public var sessionSettings: [String: String] = [:]

    /// Creates a configuration from its parts.
    public init(
        host: String = "127.0.0.1", port: Int = 5432, user: String, password: String?, database: String,
        applicationName: String = "aria", connectTimeout: Duration = .seconds(5), sslMode: String? = nil
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
        self.sslMode = sslMode
    }

    /// Parses `postgres://user:password@host:port/database?application_name=x`.
    ///
    /// The scheme may also be `postgresql`. User, password, database and query values are percent-decoded;
    /// an IPv6 host is written in brackets. A missing host or port takes the defaults of the memberwise
    /// initialiser, and a missing database defaults to the user name (as libpq does). Recognised query
    /// parameters: `application_name`, `connect_timeout` (seconds) and `sslmode`; any other parameter is
    /// rejected, so a misspelt security option never goes unnoticed.
    /// - Throws: `PostgresError` with code `.invalidURL`.
    public init(url: String) throws {
        func invalid(_ why: String) -> PostgresError {
            PostgresError(code: .invalidURL, message: "invalid Postgres URL: \(why)")
        }
        func decode(_ text: Substring, _ what: String) throws -> String {
            guard let decoded = Self.percentDecode(text) else { throw invalid("bad percent-encoding in \(what)") }
            return decoded
        }
        var rest = Substring(url)
        guard let schemeEnd = rest.firstRange(of: "://") else { throw invalid("missing scheme (postgres://)") }
        let scheme = rest[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else { throw invalid("unsupported scheme '\(scheme)'") }
        rest = rest[schemeEnd.upperBound...]

        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var userInfo: Substring = ""
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }

        let user: String
        var password: String?
        if let colon = userInfo.firstIndex(of: ":") {
            user = try decode(userInfo[..<colon], "user")
            password = try decode(userInfo[userInfo.index(after: colon)...], "password")
        } else {
            user = try decode(userInfo, "user")
        }
        guard !user.isEmpty else { throw invalid("missing user") }

        var host = "127.0.0.1"
        var port = 5432
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw invalid("unexpected text after the IPv6 address")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            if colon != rest.startIndex { host = String(rest[..<colon]) }
            portText = rest[rest.index(after: colon)...]
        } else if !rest.isEmpty {
            host = String(rest)
        }
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else { throw invalid("bad port '\(portText)'") }
            port = value
        }

        var database = try decode(path, "database")
        if database.isEmpty { database = user }

        var applicationName = "aria"
        var connectTimeout = Duration.seconds(5)
        var sslMode: String?
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0]
            let value = try decode(parts.count > 1 ? parts[1] : "", "parameter '\(key)'")
            switch key {
            case "application_name":
                applicationName = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds > 0 else { throw invalid("bad connect_timeout '\(value)'") }
                connectTimeout = .seconds(seconds)
            case "sslmode":
                sslMode = value
            default:
                throw invalid("unsupported parameter '\(key)'")
            }
        }
        self.init(
            host: host, port: port, user: user, password: password, database: database,
            applicationName: applicationName, connectTimeout: connectTimeout, sslMode: sslMode)
    }

    /// The configuration as a URL, with the password replaced by `********`.
    public var description: String {
        let secret = password == nil ? "" : ":********"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var text = "postgres://\(user)\(secret)@\(hostPart):\(port)/\(database)?application_name=\(applicationName)"
        if let sslMode { text += "&sslmode=\(sslMode)" }
        return text
    }

    /// libpq's `connect_timeout`: whole seconds, rounded up, at least 2 (libpq treats 1 as 2 anyway).
    var connectTimeoutSeconds: Int {
        let (seconds, attoseconds) = connectTimeout.components
        return max(2, Int(seconds) + (attoseconds > 0 ? 1 : 0))
    }

    /// Decodes `%XX` escapes as UTF-8; nil when an escape is malformed or the bytes are not UTF-8.
    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
