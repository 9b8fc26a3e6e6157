internal import CCurl

/// A failed HTTP exchange: a code to branch on, curl's code when curl reported it, and the URL involved.
///
/// A response with any status (404, 500) is not an error. `description` leaves out the URL's user
/// information, query and fragment, which may carry credentials; `url` keeps the full text.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; an open set compared with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable text, used in logs and metadata.
        public let rawValue: String
        /// Creates a code from its text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code's text.
        public var description: String { rawValue }

        /// The exchange did not finish within the request's timeout.
        public static let timeout = Code(rawValue: "timeout")
        /// The host name did not resolve.
        public static let couldNotResolve = Code(rawValue: "could_not_resolve")
        /// No connection could be made (refused, unreachable, connect timeout is `.timeout`).
        public static let couldNotConnect = Code(rawValue: "could_not_connect")
        /// The response body (or its headers) exceeded the request's limit.
        public static let tooLarge = Code(rawValue: "too_large")
        /// More redirects than the request allows.
        public static let tooManyRedirects = Code(rawValue: "too_many_redirects")
        /// The client's `DestinationPolicy` refused the address a connection would go to, or a redirect
        /// pointed at a scheme other than http or https. Nothing was sent to that destination.
        public static let destinationRefused = Code(rawValue: "destination_refused")
        /// The URL (or a redirect's `Location`) is malformed or not http/https.
        public static let invalidURL = Code(rawValue: "invalid_url")
        /// The request itself is invalid (method, header, limits) and was not sent.
        public static let invalidRequest = Code(rawValue: "invalid_request")
        /// TLS failed: handshake, certificate verification, CA bundle.
        public static let tls = Code(rawValue: "tls")
        /// The calling task was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
        /// The client was shut down before the request ran.
        public static let shutdown = Code(rawValue: "shutdown")
        /// Anything else (connection reset mid-response, protocol error, out of memory).
        public static let other = Code(rawValue: "other")
    }

    /// The kind of failure.
    public var code: Code
    /// libcurl's `CURLcode` when the failure came from a transfer.
    public var curlCode: Int?
    /// What went wrong, with curl's detail when it gave one.
    public var message: String
    /// The URL being fetched when it failed (the redirect hop's URL for a later hop), if any.
    public var url: String?

    /// Creates an error.
    public init(code: Code, curlCode: Int? = nil, message: String, url: String? = nil) {
        self.code = code
        self.curlCode = curlCode
        self.message = message
        self.url = url
    }

    /// The code, message, curl code and redacted URL on one line.
    public var description: String {
        var text = "HTTPError(\(code.rawValue)): \(message)"
        if let curlCode { text += " [curl \(curlCode)]" }
        if let url { text += " url=\(Self.redact(url))" }
        return text
    }

    /// `url` without user information, query and fragment.
    static func redact(_ url: String) -> String {
        var text = Substring(url)
        if let end = text.firstIndex(where: { $0 == "?" || $0 == "#" }) { text = text[..<end] }
        if let schemeEnd = text.range(of: "://") {
            let authorityStart = schemeEnd.upperBound
            let authorityEnd = text[authorityStart...].firstIndex(of: "/") ?? text.endIndex
            if let at = text[authorityStart..<authorityEnd].lastIndex(of: "@") {
                text = text[..<authorityStart] + text[text.index(after: at)...]
            }
        }
        return String(text)
    }
}

extension HTTPError {
    /// The code for a failed transfer's `CURLcode`, when nothing recorded during the transfer says more.
    static func code(for result: CURLcode) -> Code {
        switch result {
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .couldNotResolve
        case CURLE_COULDNT_CONNECT:
            return .couldNotConnect
        case CURLE_FILESIZE_EXCEEDED:
            return .tooLarge
        case CURLE_TOO_MANY_REDIRECTS:
            return .tooManyRedirects
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            return .invalidURL
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
            CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
            CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT, CURLE_USE_SSL_FAILED:
            return .tls
        default:
            return .other
        }
    }

    /// Builds the error for a failed curl call; `detail` is the transfer's error buffer, if filled.
    init(result: CURLcode, operation: String, detail: String?, url: String?) {
        let text = String(cString: curl_easy_strerror(result))
        var message = operation
        if let detail, !detail.isEmpty {
            message += ": \(detail)"
        } else {
            message += ": \(text)"
        }
        self.init(code: Self.code(for: result), curlCode: Int(result.rawValue), message: message, url: url)
    }
}

/// The one checkpoint every libcurl status goes through: returns when `result` is `CURLE_OK`, otherwise
/// throws an `HTTPError` with the operation and curl's text. Failed transfers go through
/// `TransferState.error(for:url:)` first, which knows what the callbacks recorded.
func curlCheck(_ result: CURLcode, _ operation: @autoclosure () -> String, url: String? = nil) throws(HTTPError) {
    guard result != CURLE_OK else { return }
    throw HTTPError(result: result, operation: operation(), detail: nil, url: url)
}
