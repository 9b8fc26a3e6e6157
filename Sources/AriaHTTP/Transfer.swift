internal import CCurl
import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A flag the calling task sets when it is cancelled; the transfer's progress callback reads it.
final class TransferCancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    /// Creates an unset flag.
    init() {}

    /// Asks the transfer to stop (at its next progress report, within about a second).
    func cancel() { flag.store(true, ordering: .relaxed) }

    /// Whether `cancel()` was called.
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// Settings of the client that every transfer uses.
struct TransferSettings: Sendable {
    /// Decides which addresses connections may go to.
    let policy: DestinationPolicy
    /// Host name (normalised) to address overrides, fed to curl as `CURLOPT_RESOLVE`.
    let resolve: [String: String]
    /// The `User-Agent` sent unless the request gives one.
    let userAgent: String
}

/// What one hop (one `curl_easy_perform`, no redirects followed by curl) sends.
struct HopRequest {
    /// The method token.
    var method: String
    /// The hop's URL, already checked.
    var target: TargetURL
    /// Request headers as given by the caller.
    var headers: [(String, String)]
    /// The body, if any.
    var body: [UInt8]?
    /// Time left for the whole exchange.
    var timeout: Duration
    /// The per-connection limit (already capped by `timeout`).
    var connectTimeout: Duration
    /// The response body limit.
    var maxResponseBytes: Int
}

/// What one hop received.
struct HopResponse {
    /// The status code (0 if curl got none).
    var status: Int
    /// The final (non-1xx) response's headers.
    var headers: [(String, String)]
    /// The body.
    var body: [UInt8]
    /// The URL curl used.
    var url: String
    /// The absolute `Location` of a 3xx response, resolved against `url`.
    var location: String?
}

/// Everything the C callbacks of one hop read and write, reached through their `void *` argument.
///
/// Only the transfer thread touches it, during `curl_easy_perform`; the cancellation flag is atomic.
final class TransferState {
    /// The most header bytes accepted for one hop (1xx responses included).
    static let maxHeaderBytes = 256 * 1024

    /// The policy that `openSocket` consults.
    let policy: DestinationPolicy
    /// The hop's URL host, as the policy's host allowlist sees it.
    let host: String
    /// The response body limit.
    let maxBodyBytes: Int
    /// Set by the calling task on cancellation.
    let cancellation: TransferCancellation
    /// curl's detail text for a failure (`CURLOPT_ERRORBUFFER`).
    let errorBuffer: UnsafeMutablePointer<CChar>

    /// The body received so far.
    var body: [UInt8] = []
    /// The current response's headers (reset at each status line, so 1xx headers are dropped).
    var headers: [(String, String)] = []
    /// Header bytes received so far.
    var headerBytes = 0
    /// Addresses the policy refused, in the order curl tried them.
    var refusedAddresses: [String] = []
    /// Which limit was exceeded, if any ("body" or "headers").
    var exceededLimit: String?

    /// Creates the state for one hop.
    init(policy: DestinationPolicy, host: String, maxBodyBytes: Int, cancellation: TransferCancellation) {
        self.policy = policy
        self.host = host
        self.maxBodyBytes = maxBodyBytes
        self.cancellation = cancellation
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit { errorBuffer.deallocate() }

    /// curl's detail text, if it wrote one.
    var errorDetail: String? {
        errorBuffer[0] == 0 ? nil : String(cString: errorBuffer)
    }

    /// The error for a failed hop: what the callbacks recorded explains curl's code better than the
    /// code alone (a refused socket looks like a failed connect; an aborted write like a disk error).
    func error(for result: CURLcode, method: String, url: String) -> HTTPError {
        if !refusedAddresses.isEmpty && result == CURLE_COULDNT_CONNECT {
            let addresses = refusedAddresses.joined(separator: ", ")
            return HTTPError(
                code: .destinationRefused, curlCode: Int(result.rawValue),
                message: "the destination policy refused a connection to \(addresses) for host \(host)", url: url)
        }
        if let exceededLimit {
            let limit = exceededLimit == "body" ? "\(maxBodyBytes) bytes" : "\(Self.maxHeaderBytes) bytes of headers"
            return HTTPError(
                code: .tooLarge, curlCode: Int(result.rawValue), message: "the response \(exceededLimit) exceeds \(limit)", url: url)
        }
        if result == CURLE_FILESIZE_EXCEEDED {
            return HTTPError(
                code: .tooLarge, curlCode: Int(result.rawValue),
                message: "the response's Content-Length exceeds \(maxBodyBytes) bytes", url: url)
        }
        if result == CURLE_ABORTED_BY_CALLBACK && cancellation.isCancelled {
            return HTTPError(code: .cancelled, curlCode: Int(result.rawValue), message: "\(method) cancelled", url: url)
        }
        return HTTPError(result: result, operation: method, detail: errorDetail, url: url)
    }
}

// MARK: - C callbacks (capture-free global functions; context through the `void *` argument)

private func state(_ context: UnsafeMutableRawPointer) -> TransferState {
    Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
}

/// `CURLOPT_WRITEFUNCTION`: appends to the body; returning less than given aborts past the limit.
private func receiveBody(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let transfer = state(context)
    let length = size * count
    guard transfer.body.count + length <= transfer.maxBodyBytes else {
        transfer.exceededLimit = "body"
        return 0
    }
    if let data, length > 0 {
        transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    }
    return length
}

/// `CURLOPT_HEADERFUNCTION`: curl passes one complete header line per call, status lines included.
private func receiveHeader(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let transfer = state(context)
    let length = size * count
    transfer.headerBytes += length
    guard transfer.headerBytes <= TransferState.maxHeaderBytes else {
        transfer.exceededLimit = "headers"
        return 0
    }
    guard let data, length > 0 else { return length }
    var bytes = UnsafeRawBufferPointer(start: data, count: length)[...]
    while let last = bytes.last, last == 0x0A || last == 0x0D { bytes = bytes.dropLast() }
    guard let first = bytes.first else { return length }
    if bytes.starts(with: "HTTP/".utf8) {
        // A new response begins (an interim 1xx was followed by another one or the final response).
        transfer.headers.removeAll()
    } else if first == 0x20 || first == 0x09 {
        // An obsolete folded continuation of the previous header's value.
        if !transfer.headers.isEmpty {
            transfer.headers[transfer.headers.count - 1].1 += " " + String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        }
    } else if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
        let name = String(decoding: bytes[..<colon], as: UTF8.self).trimmingWhitespace()
        let value = String(decoding: bytes[(colon + 1)...], as: UTF8.self).trimmingWhitespace()
        transfer.headers.append((name, value))
    }
    return length
}

/// `CURLOPT_OPENSOCKETFUNCTION`: the one place every connection starts, with the address already
/// resolved. Refused addresses are recorded and get `CURL_SOCKET_BAD`, so nothing is ever sent to them.
private func openSocket(
    _ context: UnsafeMutableRawPointer?, _ purpose: curlsocktype, _ address: UnsafeMutablePointer<curl_sockaddr>?
) -> curl_socket_t {
    guard let context, let address else { return aria_curl_socket_bad() }
    let transfer = state(context)
    let family = address.pointee.family
    let sockaddrPointer = UnsafeRawPointer(address) + MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr)!
    guard purpose == CURLSOCKTYPE_IPCXN,
        let ip = IPAddress(sockaddr: sockaddrPointer, family: family, length: Int(address.pointee.addrlen))
    else {
        transfer.refusedAddresses.append("(address family \(family))")
        return aria_curl_socket_bad()
    }
    guard transfer.policy.permits(ip, host: transfer.host) else {
        transfer.refusedAddresses.append(ip.description)
        return aria_curl_socket_bad()
    }
    // Close-on-exec, so processes the runtime starts never inherit connections.
    return socket(family, address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue), address.pointee.protocol)
}

/// `CURLOPT_XFERINFOFUNCTION`: a non-zero return aborts the transfer when its task was cancelled.
private func reportProgress(
    _ context: UnsafeMutableRawPointer?, _ downloadTotal: curl_off_t, _ downloaded: curl_off_t,
    _ uploadTotal: curl_off_t, _ uploaded: curl_off_t
) -> Int32 {
    guard let context else { return 0 }
    return state(context).cancellation.isCancelled ? 1 : 0
}

// MARK: - One hop

extension EasyHandle {
    /// Performs one request without following redirects; blocks the calling thread.
    func perform(_ hop: HopRequest, settings: TransferSettings, cancellation: TransferCancellation) throws -> HopResponse {
        let transfer = TransferState(
            policy: settings.policy, host: hop.target.host, maxBodyBytes: hop.maxResponseBytes, cancellation: cancellation)
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        let url = hop.target.text
        reset()
        defer { reset() }  // No pointer into this hop's memory outlives it.

        // Resolution override for this hop's host (tests map names to loopback addresses).
        var resolveEntries: [String] = []
        if let address = settings.resolve[DestinationPolicy.normalizedHost(hop.target.host)] {
            let literal = address.contains(":") ? "[\(address)]" : address
            resolveEntries.append("\(hop.target.host):\(hop.target.port):\(literal)")
        }
        let resolveList = try CurlStringList(resolveEntries)

        let sendsBody = hop.body != nil || ["POST", "PUT", "PATCH"].contains(hop.method)
        let given = Set(hop.headers.map { $0.0.lowercased() })
        var headerLines = hop.headers.map { name, value in value.isEmpty ? "\(name);" : "\(name): \(value)" }
        // curl would wait up to a second for a 100 Continue before sending a large body.
        if !given.contains("expect") { headerLines.append("Expect:") }
        // curl would label every body as a form (application/x-www-form-urlencoded).
        if sendsBody && !given.contains("content-type") { headerLines.append("Content-Type:") }
        let headerList = try CurlStringList(headerLines)

        try set(CURLOPT_NOSIGNAL, 1, "CURLOPT_NOSIGNAL")
        try set(CURLOPT_URL, url, "CURLOPT_URL")
        try set(CURLOPT_PROTOCOLS_STR, "http,https", "CURLOPT_PROTOCOLS_STR")
        try set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https", "CURLOPT_REDIR_PROTOCOLS_STR")
        try set(CURLOPT_FOLLOWLOCATION, 0, "CURLOPT_FOLLOWLOCATION")
        // Ignore http_proxy and friends: a proxy would be the only address the policy sees.
        try set(CURLOPT_PROXY, "", "CURLOPT_PROXY")
        try set(CURLOPT_USERAGENT, settings.userAgent, "CURLOPT_USERAGENT")
        try set(CURLOPT_TCP_KEEPALIVE, 1, "CURLOPT_TCP_KEEPALIVE")
        try set(CURLOPT_TIMEOUT_MS, Self.milliseconds(hop.timeout), "CURLOPT_TIMEOUT_MS")
        try set(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(hop.connectTimeout), "CURLOPT_CONNECTTIMEOUT_MS")
        try set(CURLOPT_MAXFILESIZE_LARGE, offset: Int64(hop.maxResponseBytes), "CURLOPT_MAXFILESIZE_LARGE")
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(transfer.errorBuffer), "CURLOPT_ERRORBUFFER")
        try set(CURLOPT_WRITEFUNCTION, writer: receiveBody, "CURLOPT_WRITEFUNCTION")
        try set(CURLOPT_WRITEDATA, pointer: context, "CURLOPT_WRITEDATA")
        try set(CURLOPT_HEADERFUNCTION, writer: receiveHeader, "CURLOPT_HEADERFUNCTION")
        try set(CURLOPT_HEADERDATA, pointer: context, "CURLOPT_HEADERDATA")
        try set(CURLOPT_OPENSOCKETFUNCTION, opener: openSocket, "CURLOPT_OPENSOCKETFUNCTION")
        try set(CURLOPT_OPENSOCKETDATA, pointer: context, "CURLOPT_OPENSOCKETDATA")
        try set(CURLOPT_NOPROGRESS, 0, "CURLOPT_NOPROGRESS")
        try set(CURLOPT_XFERINFOFUNCTION, progress: reportProgress, "CURLOPT_XFERINFOFUNCTION")
        try set(CURLOPT_XFERINFODATA, pointer: context, "CURLOPT_XFERINFODATA")
        try set(CURLOPT_HTTPHEADER, list: headerList, "CURLOPT_HTTPHEADER")
        if !resolveEntries.isEmpty { try set(CURLOPT_RESOLVE, list: resolveList, "CURLOPT_RESOLVE") }

        let payload = hop.body ?? []
        let result: CURLcode = try payload.withUnsafeBytes { bytes in
            if hop.method == "HEAD" {
                try set(CURLOPT_NOBODY, 1, "CURLOPT_NOBODY")
            } else if sendsBody {
                try set(CURLOPT_POST, 1, "CURLOPT_POST")
                try set(CURLOPT_POSTFIELDSIZE_LARGE, offset: Int64(bytes.count), "CURLOPT_POSTFIELDSIZE_LARGE")
                if let base = bytes.baseAddress, bytes.count > 0 {
                    // Not copied: `bytes` stays valid until perform returns.
                    try set(CURLOPT_POSTFIELDS, pointer: UnsafeMutableRawPointer(mutating: base), "CURLOPT_POSTFIELDS")
                } else {
                    // A NULL body would make curl read one from standard input.
                    try set(CURLOPT_COPYPOSTFIELDS, "", "CURLOPT_COPYPOSTFIELDS")
                }
                if hop.method != "POST" { try set(CURLOPT_CUSTOMREQUEST, hop.method, "CURLOPT_CUSTOMREQUEST") }
            } else {
                try set(CURLOPT_HTTPGET, 1, "CURLOPT_HTTPGET")
                if hop.method != "GET" { try set(CURLOPT_CUSTOMREQUEST, hop.method, "CURLOPT_CUSTOMREQUEST") }
            }
            return withExtendedLifetime((transfer, headerList, resolveList)) { perform() }
        }
        guard result == CURLE_OK else {
            throw transfer.error(for: result, method: hop.method, url: url)
        }
        let status = info(long: CURLINFO_RESPONSE_CODE) ?? 0
        return HopResponse(
            status: status, headers: transfer.headers, body: transfer.body,
            url: info(string: CURLINFO_EFFECTIVE_URL) ?? url,
            location: (300..<400).contains(status) ? info(string: CURLINFO_REDIRECT_URL) : nil)
    }

    /// Whole milliseconds, rounded up so a positive duration never becomes 0 ("no limit" to curl).
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 1 }
        let millis = seconds * 1_000 + attoseconds / 1_000_000_000_000_000
        let rounded = attoseconds % 1_000_000_000_000_000 > 0 ? millis + 1 : millis
        return Int(max(1, min(rounded, Int64(Int32.max))))
    }
}
