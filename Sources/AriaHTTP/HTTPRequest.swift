/// One HTTP request: method, URL, headers, optional body, and the limits that bound it.
public struct HTTPRequest: Sendable {
    /// The method token (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`, or any other valid token).
    public var method: String
    /// The absolute `http` or `https` URL.
    public var url: String
    /// Request headers in order; repeated names are sent repeatedly.
    ///
    /// Only the headers given are added to curl's (`Host`, `Accept: */*`, `User-Agent: aria-http`, and
    /// `Content-Length` for bodies). A body is sent without `Content-Type` unless one is given, and
    /// never with `Expect: 100-continue`.
    public var headers: [(String, String)]
    /// The body, or nil for none. `POST`, `PUT` and `PATCH` without a body send `Content-Length: 0`.
    public var body: [UInt8]?
    /// The longest the whole exchange may take, every redirect hop included.
    public var timeout: Duration
    /// The longest each connection attempt may take (capped by what is left of `timeout`).
    public var connectTimeout: Duration
    /// The largest response body accepted (per hop); a larger one fails with `HTTPError.Code.tooLarge`.
    public var maxResponseBytes: Int
    /// Whether 301, 302, 303, 307 and 308 responses with a `Location` are followed.
    public var followRedirects: Bool
    /// How many redirects may be followed; one more fails with `HTTPError.Code.tooManyRedirects`.
    public var maxRedirects: Int

    /// Creates a request; the defaults are a GET with no headers or body, 30 s in total, 10 MiB of
    /// response at most, and up to 5 redirects followed.
    public init(
        method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(30), connectTimeout: Duration = .seconds(10),
        maxResponseBytes: Int = 10 * 1024 * 1024, followRedirects: Bool = true, maxRedirects: Int = 5
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.maxResponseBytes = maxResponseBytes
        self.followRedirects = followRedirects
        self.maxRedirects = maxRedirects
    }
}

/// The final response of an exchange, after any redirects were followed.
public struct HTTPResponse: Sendable {
    /// The status code; 4xx and 5xx are responses too, not errors.
    public var status: Int
    /// The final response's headers in the order received (never those of redirect responses).
    public var headers: [(String, String)]
    /// The body (empty for `HEAD`).
    public var body: [UInt8]
    /// The URL that produced this response: the request's URL, or the last redirect target.
    public var url: String
    /// How many redirects were followed.
    public var redirects: Int

    /// Creates a response.
    public init(status: Int, headers: [(String, String)], body: [UInt8], url: String, redirects: Int) {
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.redirects = redirects
    }

    /// The first value of the header `name`, compared case-insensitively, or nil.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0.lowercased() == wanted }?.1
    }

    /// Every value of the header `name` (e.g. several `Set-Cookie`), compared case-insensitively.
    public func headers(named name: String) -> [String] {
        let wanted = name.lowercased()
        return headers.filter { $0.0.lowercased() == wanted }.map(\.1)
    }

    /// The body decoded as UTF-8 (invalid sequences replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }
}

extension HTTPRequest {
    /// Characters allowed in a method or header name (RFC 9110 `tchar`).
    private static let tokenCharacters = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    /// Whether `text` is a non-empty RFC 9110 token.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { tokenCharacters.contains($0) }
    }

    /// Checks what curl would otherwise send as given: a method or header that could split the request
    /// (CR, LF), impossible limits, a body on `HEAD`.
    func validate() throws {
        func invalid(_ message: String) -> HTTPError {
            HTTPError(code: .invalidRequest, message: message, url: url)
        }
        guard Self.isToken(method) else { throw invalid("invalid method \(String(reflecting: method))") }
        for (name, value) in headers {
            guard Self.isToken(name) else { throw invalid("invalid header name \(String(reflecting: name))") }
            guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                throw invalid("header \(name) has a line break or NUL in its value")
            }
        }
        guard !(method == "HEAD" && body != nil) else { throw invalid("a HEAD request takes no body") }
        guard maxResponseBytes >= 0 else { throw invalid("maxResponseBytes is negative") }
        guard maxRedirects >= 0 else { throw invalid("maxRedirects is negative") }
        guard timeout > .zero else { throw invalid("timeout is not positive") }
        guard connectTimeout > .zero else { throw invalid("connectTimeout is not positive") }
    }
}
