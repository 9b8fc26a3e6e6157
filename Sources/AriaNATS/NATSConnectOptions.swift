/// How to reach and authenticate to NATS, and how to behave when the server goes away.
///
/// Reconnection is always on and unlimited by default (`maxReconnectAttempts == nil`): a service keeps
/// trying until it is shut down.
public struct NATSConnectOptions: Sendable, CustomStringConvertible {
    /// Server URLs, e.g. `nats://127.0.0.1:4222`; tried in order (no randomisation).
    public var urls: [String]
    /// The user name, if the server requires one.
    public var user: String?
    /// The password (secret: redacted from `description`).
    public var password: String?
    /// The connection name the server shows in monitoring and logs.
    public var name: String
    /// The inbox prefix for replies (`natsOptions_SetCustomInboxPrefix`), so that each service or tenant
    /// needs subscribe permission only on `<prefix>.>`, e.g. `_INBOX.gateway` or `aria.t.demo.inbox`.
    /// nil uses nats.c's default `_INBOX`.
    public var inboxPrefix: String?
    /// The pause between reconnect rounds. Default 250 ms.
    public var reconnectWait: Duration = .milliseconds(250)
    /// Random extra pause added to `reconnectWait` so that many clients do not reconnect in lock step. Default 250 ms.
    public var reconnectJitter: Duration = .milliseconds(250)
    /// How many reconnect rounds before giving up and closing; nil (the default) retries forever.
    public var maxReconnectAttempts: Int? = nil
    /// When the first connect fails, keep retrying in the background and return a not-yet-connected
    /// connection instead of throwing. Default false.
    public var retryOnFailedConnect: Bool = false
    /// The time allowed to establish one TCP connection and handshake. Default 2 s.
    public var connectTimeout: Duration = .seconds(2)
    /// Write each publish to the socket at once instead of letting nats.c's flusher batch them: lower
    /// request latency for responders, more system calls. Default false.
    public var sendAsap: Bool = false
    /// How often the client pings the server to detect a dead connection. Default 10 s.
    public var pingInterval: Duration = .seconds(10)
    /// The bytes buffered while disconnected and sent on reconnect; nil keeps nats.c's default (8 MB).
    public var reconnectBufferSize: Int? = nil

    /// Creates options with the documented defaults.
    public init(urls: [String], user: String? = nil, password: String? = nil, name: String, inboxPrefix: String? = nil) {
        self.urls = urls
        self.user = user
        self.password = password
        self.name = name
        self.inboxPrefix = inboxPrefix
    }

    /// The options with the password redacted.
    public var description: String {
        var parts = ["urls: \(urls)", "name: \(name)"]
        if let user { parts.append("user: \(user)") }
        if password != nil { parts.append("password: <redacted>") }
        if let inboxPrefix { parts.append("inboxPrefix: \(inboxPrefix)") }
        parts.append("reconnectWait: \(reconnectWait)")
        parts.append("reconnectJitter: \(reconnectJitter)")
        parts.append("maxReconnectAttempts: \(maxReconnectAttempts.map(String.init) ?? "unlimited")")
        parts.append("retryOnFailedConnect: \(retryOnFailedConnect)")
        parts.append("connectTimeout: \(connectTimeout)")
        parts.append("sendAsap: \(sendAsap)")
        parts.append("pingInterval: \(pingInterval)")
        return "NATSConnectOptions(\(parts.joined(separator: ", ")))"
    }

    /// The inbox prefix in use, without a trailing dot.
    var effectiveInboxPrefix: String {
        guard let inboxPrefix, !inboxPrefix.isEmpty else { return "_INBOX" }
        return inboxPrefix.hasSuffix(".") ? String(inboxPrefix.dropLast()) : inboxPrefix
    }
}
