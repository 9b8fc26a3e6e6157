public import Logging

/// An HTTP/HTTPS client on libcurl that enforces a `DestinationPolicy` on every connection.
///
/// Each request runs on one of the client's own threads (never Swift's cooperative pool), at most
/// `maxConcurrent` at a time; further requests wait their turn. Each thread keeps one curl handle, so
/// connections to a host are reused. Redirects are followed by the client, one checked hop at a time.
public final class HTTPClient: Sendable {
    private static let redirectStatuses: Set<Int> = [301, 302, 303, 307, 308]
    /// Headers that carry credentials: not resent when a redirect leaves the origin.
    private static let credentialHeaders: Set<String> = ["authorization", "cookie", "proxy-authorization"]
    /// Headers that describe the body: dropped when a redirect turns the request into a GET.
    private static let bodyHeaders: Set<String> = ["content-type", "content-length", "content-encoding", "transfer-encoding"]

    private let threads: TransferThreads
    private let settings: TransferSettings
    private let logger: Logger

    /// The policy every connection of this client is checked against.
    public var policy: DestinationPolicy { settings.policy }

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - maxConcurrent: how many requests may be in flight at once (each has a thread of its own).
    ///   - policy: which addresses connections may go to; `.publicOnly` refuses loopback, private,
    ///     link-local and other internal addresses.
    ///   - resolve: host name to IP address overrides used instead of DNS (curl's `CURLOPT_RESOLVE`),
    ///     for tests that need a name to point at a loopback server. The policy still checks the address.
    ///   - userAgent: the `User-Agent` sent unless a request sets one.
    ///   - logger: receives refused destinations (warning) and finished requests (debug).
    public init(
        maxConcurrent: Int = 16, policy: DestinationPolicy = .publicOnly, resolve: [String: String] = [:],
        userAgent: String = "aria-http", logger: Logger
    ) {
        var normalized: [String: String] = [:]
        for (host, address) in resolve { normalized[DestinationPolicy.normalizedHost(host)] = address }
        self.settings = TransferSettings(policy: policy, resolve: normalized, userAgent: userAgent)
        self.threads = TransferThreads(name: "aria.http", limit: maxConcurrent)
        self.logger = logger
        if !CurlRuntime.isInitialized {
            logger.error("libcurl global initialisation failed; every request will fail")
        }
        if !policy.rejectedEntries.isEmpty {
            logger.warning(
                "destination policy entries ignored (unparsable)",
                metadata: ["entries": .array(policy.rejectedEntries.map { .string($0) })])
        }
    }

    deinit { threads.shutdown() }

    /// Sends `request` and returns the final response, following redirects if the request says so.
    ///
    /// Any status is a response (a 404 is not an error). Cancelling the calling task aborts the transfer
    /// within about a second.
    /// - Throws: `HTTPError`: `.destinationRefused` when the policy refused an address (of any hop) or a
    ///   redirect left http/https; `.timeout`, `.tooLarge`, `.tooManyRedirects`, `.invalidURL`,
    ///   `.invalidRequest`, `.couldNotResolve`, `.couldNotConnect`, `.tls`, `.cancelled`, `.shutdown`, `.other`.
    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        try request.validate()
        let first = try TargetURL(request.url, isRedirect: false)
        let cancellation = TransferCancellation()
        let settings = self.settings
        let logger = self.logger
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                threads.submit { slot in
                    switch slot {
                    case .unavailable(let error):
                        continuation.resume(throwing: HTTPError(code: error.code, message: error.message, url: request.url))
                    case .handle(let handle):
                        continuation.resume(with: Result {
                            try Self.exchange(
                                request, first: first, handle: handle, settings: settings, cancellation: cancellation,
                                logger: logger)
                        })
                    }
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// Stops the client: queued requests fail with `.shutdown`, requests in flight finish, and the
    /// threads end (closing their connections). Later requests fail with `.shutdown`.
    public func shutdown() {
        threads.shutdown()
    }

    /// Runs the whole exchange on the calling (transfer) thread: one checked hop per redirect.
    private static func exchange(
        _ request: HTTPRequest, first: TargetURL, handle: EasyHandle, settings: TransferSettings,
        cancellation: TransferCancellation, logger: Logger
    ) throws -> HTTPResponse {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + request.timeout
        var target = first
        var method = request.method
        var headers = request.headers
        var body = request.body
        var redirects = 0
        while true {
            guard !cancellation.isCancelled else {
                throw HTTPError(code: .cancelled, message: "\(method) cancelled", url: target.text)
            }
            let remaining = deadline - clock.now
            guard remaining > .zero else {
                throw HTTPError(
                    code: .timeout, message: "\(method) did not finish within \(request.timeout) (\(redirects) redirects)",
                    url: target.text)
            }
            let hop = HopRequest(
                method: method, target: target, headers: headers, body: body, timeout: remaining,
                connectTimeout: min(request.connectTimeout, remaining), maxResponseBytes: request.maxResponseBytes)
            let response: HopResponse
            do {
                response = try handle.perform(hop, settings: settings, cancellation: cancellation)
            } catch let error as HTTPError {
                if error.code == .destinationRefused {
                    logger.warning(
                        "HTTP destination refused",
                        metadata: ["host": "\(target.host)", "hop": "\(redirects)", "reason": "\(error.message)"])
                }
                throw error
            }

            guard request.followRedirects, redirectStatuses.contains(response.status), let location = response.location else {
                logger.debug(
                    "HTTP request finished",
                    metadata: [
                        "method": "\(method)", "host": "\(target.host)", "status": "\(response.status)",
                        "redirects": "\(redirects)", "bytes": "\(response.body.count)",
                        "ms": "\(EasyHandle.milliseconds(clock.now - start))",
                    ])
                return HTTPResponse(
                    status: response.status, headers: response.headers, body: response.body, url: response.url,
                    redirects: redirects)
            }
            guard redirects < request.maxRedirects else {
                throw HTTPError(
                    code: .tooManyRedirects, message: "more than \(request.maxRedirects) redirects", url: target.text)
            }
            let next: TargetURL
            do {
                next = try TargetURL(location, isRedirect: true)
            } catch {
                if error.code == .destinationRefused {
                    logger.warning(
                        "HTTP redirect refused", metadata: ["host": "\(target.host)", "reason": "\(error.message)"])
                }
                throw error
            }
            redirects += 1
            // Method rewriting as browsers and curl do it: 303 makes anything but HEAD a GET; 301 and
            // 302 make a POST a GET; 307 and 308 keep method and body.
            if (response.status == 303 && method != "HEAD") || ((response.status == 301 || response.status == 302) && method == "POST") {
                method = "GET"
                body = nil
                headers.removeAll { bodyHeaders.contains($0.0.lowercased()) }
            }
            if !next.isSameOrigin(as: target) {
                headers.removeAll { credentialHeaders.contains($0.0.lowercased()) }
            }
            target = next
        }
    }
}
