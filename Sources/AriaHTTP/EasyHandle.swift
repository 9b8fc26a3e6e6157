internal import CCurl

/// One libcurl easy handle, owned by one transfer thread for its whole life.
///
/// Not thread-safe (a curl easy handle has one user at a time). Kept across requests so its connection
/// cache, DNS cache and TLS session cache are reused; `curl_easy_reset` before each transfer clears the
/// options but keeps those caches.
final class EasyHandle {
    private let pointer: UnsafeMutableRawPointer

    /// Creates a handle, or nil when libcurl cannot (out of memory, failed global initialisation).
    init?() {
        guard CurlRuntime.isInitialized, let pointer = curl_easy_init() else { return nil }
        self.pointer = pointer
    }

    deinit { curl_easy_cleanup(pointer) }

    /// Clears every option (keeping live connections and caches).
    func reset() { curl_easy_reset(pointer) }

    /// Sets a `long` option.
    func set(_ option: CURLoption, _ value: Int, _ name: @autoclosure () -> String) throws(HTTPError) {
        try curlCheck(aria_curl_setopt_long(pointer, option, value), "setting \(name())")
    }

    /// Sets a string option (libcurl copies it).
    func set(_ option: CURLoption, _ value: String, _ name: @autoclosure () -> String) throws(HTTPError) {
        try curlCheck(aria_curl_setopt_string(pointer, option, value), "setting \(name())")
    }

    /// Sets a pointer option; the memory must stay valid until the transfer ends.
    func set(_ option: CURLoption, pointer value: UnsafeMutableRawPointer?, _ name: @autoclosure () -> String) throws(HTTPError) {
        try curlCheck(aria_curl_setopt_pointer(pointer, option, value), "setting \(name())")
    }

    /// Sets a string-list option; the list must stay valid until the transfer ends.
    func set(_ option: CURLoption, list: CurlStringList, _ name: @autoclosure () -> String) throws(HTTPError) {
        try curlCheck(aria_curl_setopt_slist(pointer, option, list.head), "setting \(name())")
    }

    /// Sets a `curl_off_t` option.
    func set(_ option: CURLoption, offset value: Int64, _ name: @autoclosure () -> String) throws(HTTPError) {
        try curlCheck(aria_curl_setopt_off_t(pointer, option, curl_off_t(value)), "setting \(name())")
    }

    /// Installs a write or header callback.
    func set(_ option: CURLoption, writer: curl_write_callback, _ name: @autoclosure () -> String) throws(HTTPError) {
        try curlCheck(aria_curl_setopt_write_callback(pointer, option, writer), "setting \(name())")
    }

    /// Installs the open-socket callback.
    func set(_ option: CURLoption, opener: curl_opensocket_callback, _ name: @autoclosure () -> String) throws(HTTPError) {
        try curlCheck(aria_curl_setopt_opensocket_callback(pointer, option, opener), "setting \(name())")
    }

    /// Installs the progress callback.
    func set(_ option: CURLoption, progress: curl_xferinfo_callback, _ name: @autoclosure () -> String) throws(HTTPError) {
        try curlCheck(aria_curl_setopt_xferinfo_callback(pointer, option, progress), "setting \(name())")
    }

    /// Runs the configured transfer; blocks the calling thread until it ends. Returns curl's code
    /// unchecked: the caller interprets it with what the callbacks recorded.
    func perform() -> CURLcode { curl_easy_perform(pointer) }

    /// Reads a `long` from the last transfer.
    func info(long info: CURLINFO) -> Int? {
        var value = 0
        guard aria_curl_getinfo_long(pointer, info, &value) == CURLE_OK else { return nil }
        return value
    }

    /// Reads a string from the last transfer (copied; nil when curl has none).
    func info(string info: CURLINFO) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard aria_curl_getinfo_string(pointer, info, &value) == CURLE_OK, let value else { return nil }
        return String(cString: value)
    }
}

/// A `struct curl_slist` that frees itself.
final class CurlStringList {
    /// The first node, or NULL for an empty list.
    private(set) var head: UnsafeMutablePointer<curl_slist>?

    /// Creates a list of `items` (libcurl copies each string).
    init(_ items: [String]) throws(HTTPError) {
        for item in items {
            guard let next = curl_slist_append(head, item) else {
                throw HTTPError(code: .other, message: "curl_slist_append: out of memory")
            }
            head = next
        }
    }

    deinit { curl_slist_free_all(head) }
}

/// libcurl's process-wide initialisation, done once before the first handle.
enum CurlRuntime {
    /// Whether `curl_global_init` succeeded; evaluated once, thread-safely, on first use.
    static let isInitialized: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
}
