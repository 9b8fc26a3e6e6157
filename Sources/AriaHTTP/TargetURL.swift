internal import CCurl

/// The parts of an absolute URL the client checks before connecting, parsed by curl's own URL parser
/// (so the checks see what the transfer will use).
struct TargetURL {
    /// The full URL as curl normalised it.
    let text: String
    /// The scheme, lowercased (`http`, `https`).
    let scheme: String
    /// The host as written (IPv6 literals in brackets).
    let host: String
    /// The port, explicit or the scheme's default.
    let port: Int

    /// Parses `text`; throws `.invalidURL` when curl cannot parse it, it has no host, or its scheme is
    /// not http or https (`.destinationRefused` instead when `isRedirect`, since a server chose it).
    init(_ text: String, isRedirect: Bool) throws(HTTPError) {
        guard let handle = curl_url() else {
            throw HTTPError(code: .other, message: "curl_url: out of memory", url: text)
        }
        defer { curl_url_cleanup(handle) }
        let what = isRedirect ? "redirect location" : "URL"
        let parsed = curl_url_set(handle, CURLUPART_URL, text, UInt32(CURLU_NON_SUPPORT_SCHEME))
        guard parsed == CURLUE_OK else {
            throw HTTPError(
                code: .invalidURL, message: "invalid \(what): \(String(cString: curl_url_strerror(parsed)))", url: text)
        }
        func part(_ which: CURLUPart, _ flags: Int32 = 0) -> String? {
            var value: UnsafeMutablePointer<CChar>?
            guard curl_url_get(handle, which, &value, UInt32(flags)) == CURLUE_OK, let value else { return nil }
            defer { curl_free(value) }
            return String(cString: value)
        }
        let scheme = part(CURLUPART_SCHEME)?.lowercased() ?? ""
        guard scheme == "http" || scheme == "https" else {
            throw HTTPError(
                code: isRedirect ? .destinationRefused : .invalidURL,
                message: "\(what) has scheme \(String(reflecting: scheme)); only http and https are allowed", url: text)
        }
        guard let host = part(CURLUPART_HOST), !host.isEmpty else {
            throw HTTPError(code: .invalidURL, message: "\(what) has no host", url: text)
        }
        guard let port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT).flatMap({ Int($0) }) else {
            throw HTTPError(code: .invalidURL, message: "\(what) has no port", url: text)
        }
        self.text = part(CURLUPART_URL) ?? text
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// Whether `other` is the same origin (scheme, host, port): credentials are only resent to it.
    func isSameOrigin(as other: TargetURL) -> Bool {
        scheme == other.scheme && host.lowercased() == other.host.lowercased() && port == other.port
    }
}
