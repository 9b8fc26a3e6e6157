internal import CNATS

/// A failure reported by nats.c or the NATS server, with a stable code to branch on.
public struct NATSError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; an open set compared with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable text, used in logs and metadata.
        public let rawValue: String
        /// Creates a code from its text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code's text.
        public var description: String { rawValue }

        /// An operation did not complete in time (including requests nobody answered in time).
        public static let timeout = Code(rawValue: "timeout")
        /// A request was published on a subject nobody subscribes to.
        public static let noResponders = Code(rawValue: "no_responders")
        /// The connection (or subscription) is closed or draining.
        public static let connectionClosed = Code(rawValue: "connection_closed")
        /// No server could be reached, or authentication failed.
        public static let connectionFailed = Code(rawValue: "connection_failed")
        /// The server refused a publish or subscribe (permissions violation).
        public static let notPermitted = Code(rawValue: "not_permitted")
        /// A stream, consumer or message does not exist.
        public static let notFound = Code(rawValue: "not_found")
        /// The JetStream API refused a request; see `jetStreamErrorCode`.
        public static let jetStream = Code(rawValue: "jetstream")
        /// A caller passed an invalid subject, queue name, timeout or configuration.
        public static let invalidArgument = Code(rawValue: "invalid_argument")
        /// A subscriber could not keep up and messages were dropped.
        public static let slowConsumer = Code(rawValue: "slow_consumer")
        /// Anything else.
        public static let other = Code(rawValue: "other")
    }

    /// The kind of failure.
    public var code: Code
    /// nats.c's text for its status (`natsStatus_GetText`), e.g. "Timeout".
    public var status: String
    /// The JetStream API error code (e.g. 10077 maximum messages exceeded, 10059 stream not found,
    /// 10014 consumer not found), when the server sent one.
    public var jetStreamErrorCode: Int?
    /// What went wrong, with the operation and nats.c's detail.
    public var message: String
    /// The subject involved, when known.
    public var subject: String?

    /// Creates an error.
    public init(code: Code, status: String, jetStreamErrorCode: Int? = nil, message: String, subject: String? = nil) {
        self.code = code
        self.status = status
        self.jetStreamErrorCode = jetStreamErrorCode
        self.message = message
        self.subject = subject
    }

    /// The code, message, JetStream code and subject on one line.
    public var description: String {
        var text = "NATSError(\(code.rawValue)): \(message)"
        if let jetStreamErrorCode { text += " [jetstream \(jetStreamErrorCode)]" }
        if let subject { text += " subject=\(subject)" }
        return text
    }
}

extension NATSError {
    /// JetStream error codes that mean "does not exist".
    static let notFoundJetStreamCodes: Set<Int> = [
        10059,  // stream not found
        10014,  // consumer not found
        10037,  // no message found
    ]

    /// Builds the error for a failed nats.c status. `detail` is nats.c's text for it (read on the thread
    /// that made the call, since nats.c keeps it per thread).
    init(status: natsStatus, jetStreamErrorCode: Int?, operation: String, detail: String?, subject: String?) {
        let statusText = String(cString: natsStatus_GetText(status))
        let jsCode = (jetStreamErrorCode ?? 0) == 0 ? nil : jetStreamErrorCode
        let statusCode = Self.code(for: status)
        let code: Code
        if let jsCode, ![.timeout, .noResponders, .connectionClosed, .connectionFailed].contains(statusCode) {
            code = Self.notFoundJetStreamCodes.contains(jsCode) ? .notFound : .jetStream
        } else {
            // nats.c adds 10076 ("JetStream not enabled") to a no-responders status: for a publish that
            // means no stream listens on the subject, so the status says more.
            code = statusCode
        }
        var message = operation
        if let detail, !detail.isEmpty, detail != statusText {
            message += ": \(detail)"
        } else {
            message += ": \(statusText)"
        }
        self.init(code: code, status: statusText, jetStreamErrorCode: jsCode, message: message, subject: subject)
    }

    /// The code for a nats.c status without a JetStream code.
    static func code(for status: natsStatus) -> Code {
        switch status {
        case NATS_TIMEOUT: return .timeout
        case NATS_NO_RESPONDERS: return .noResponders
        case NATS_CONNECTION_CLOSED, NATS_INVALID_SUBSCRIPTION, NATS_DRAINING: return .connectionClosed
        case NATS_NO_SERVER, NATS_CONNECTION_AUTH_FAILED, NATS_IO_ERROR, NATS_STALE_CONNECTION,
            NATS_SECURE_CONNECTION_REQUIRED, NATS_SECURE_CONNECTION_WANTED, NATS_CONNECTION_DISCONNECTED,
            NATS_NOT_YET_CONNECTED:
            return .connectionFailed
        case NATS_NOT_PERMITTED: return .notPermitted
        case NATS_NOT_FOUND: return .notFound
        case NATS_INVALID_ARG, NATS_INVALID_SUBJECT, NATS_INVALID_TIMEOUT, NATS_INVALID_QUEUE_NAME,
            NATS_ADDRESS_MISSING, NATS_MAX_PAYLOAD:
            return .invalidArgument
        case NATS_SLOW_CONSUMER: return .slowConsumer
        default: return .other
        }
    }
}

/// The one checkpoint every nats.c status goes through: returns the status when it is `NATS_OK` or one
/// of the `expected` outcomes (a fetch that found nothing, a connect that goes on in the background),
/// otherwise throws a `NATSError` carrying the operation, nats.c's per-thread detail text and the
/// JetStream code.
///
/// Must be called on the thread that made the call, right after it.
@discardableResult
func natsCheck(
    _ status: natsStatus, _ operation: @autoclosure () -> String, subject: String? = nil,
    jetStreamErrorCode: jsErrCode = jsErrCode(rawValue: 0), expecting expected: [natsStatus] = []
) throws -> natsStatus {
    guard status != NATS_OK, !expected.contains(status) else { return status }
    var lastStatus = NATS_OK
    let lastText = nats_GetLastError(&lastStatus)
    let detail = (lastStatus == status) ? swiftString(lastText) : nil
    throw NATSError(
        status: status, jetStreamErrorCode: Int(jetStreamErrorCode.rawValue), operation: operation(),
        detail: detail, subject: subject)
}
