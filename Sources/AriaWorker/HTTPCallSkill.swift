import AriaCore
import AriaHTTP
import Foundation

/// `http_call`: one outbound HTTP request under the worker's destination policy.
///
/// Params: `url` (http/https), `method` (default GET), `headers` (object of strings), `body` (a string
/// sent as is, or any other JSON value sent as `application/json`), `max_bytes` (default
/// `default_response_bytes`, 1 MiB), `follow_redirects` (default true, at most `max_redirects`, 5).
/// Output: `{status, headers, body, url, redirects}` where `body` is the text when it is UTF-8 (else
/// `body_base64`). Any status is a result; failures are `destination_refused` (policy) or `http_failed`
/// (resolution, connection, TLS, size, redirects, time).
public struct HTTPCallSkill: Skill {
    let client: HTTPClient
    /// The contract and configuration (`default_response_bytes`, `max_redirects`, `allow_hosts`, `allow_cidrs`).
    public let descriptor: SkillDescriptor

    /// Creates the skill over a client built with ``destinationPolicy(for:)`` of the same descriptor.
    public init(client: HTTPClient, descriptor: SkillDescriptor = SkillCatalog.builtIn["http_call"]!) {
        self.client = client
        self.descriptor = descriptor
    }

    /// The destination policy `descriptor` configures: public destinations, plus `allow_hosts` and `allow_cidrs`.
    ///
    /// - Throws: `invalid_configuration` for an entry that is not a host name or an address block
    ///   (it would admit nothing, silently).
    public static func destinationPolicy(for descriptor: SkillDescriptor) throws(AriaError) -> DestinationPolicy {
        func list(_ key: String) -> [String] { descriptor.configuration[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        let policy = DestinationPolicy(allowedHosts: list("allow_hosts"), allowedCIDRs: list("allow_cidrs"))
        guard policy.rejectedEntries.isEmpty else {
            throw AriaError(.invalidConfiguration, "http_call allowlist entries that are neither host names nor address blocks: \(policy.rejectedEntries.joined(separator: ", "))")
        }
        return policy
    }

    /// Sends the request.
    public func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue {
        guard let url = params["url"]?.stringValue else { throw AriaError(.invalidParams, "'url' is required") }
        var headers: [(String, String)] = []
        for (name, value) in (params["headers"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let text = value.stringValue else { throw AriaError(.invalidParams, "header '\(name.prefix(40))' must be a string") }
            headers.append((name, text))
        }
        if !headers.contains(where: { $0.0.lowercased() == "idempotency-key" }) {
            // The same key on every attempt of this execution lets the receiver deduplicate a repeat.
            headers.append(("Idempotency-Key", context.idempotencyKey))
        }
        var body: [UInt8]?
        switch params["body"] {
        case nil, .null?: body = nil
        case .string(let text)?: body = Array(text.utf8)
        case let value?:
            body = value.serialized()
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { headers.append(("Content-Type", "application/json")) }
        }
        let request = HTTPRequest(
            method: params["method"]?.stringValue ?? "GET", url: url, headers: headers, body: body,
            timeout: .seconds(600),  // the step's timeout cancels the task first
            maxResponseBytes: Int(params["max_bytes"]?.intValue ?? descriptor.configuration["default_response_bytes"]?.intValue ?? 1024 * 1024),
            followRedirects: params["follow_redirects"]?.boolValue ?? true,
            maxRedirects: Int(descriptor.configuration["max_redirects"]?.intValue ?? 5))
        let response: HTTPResponse
        do {
            response = try await client.execute(request)
        } catch let error as HTTPError {
            if error.code == .destinationRefused {
                throw AriaError(.destinationRefused, error.message, details: ["reason": error.code.rawValue])
            }
            let category: ErrorCategory = [.invalidURL, .invalidRequest].contains(error.code) ? .validation
                : error.code == .tooLarge ? .resource : .transient
            throw AriaError(.httpFailed, error.message, details: ["reason": error.code.rawValue], category: category)
        }
        var headerObject: [String: JSONValue] = [:]
        for (name, value) in response.headers { headerObject[name.lowercased()] = .string(value) }
        var output: [String: JSONValue] = [
            "status": .int(Int64(response.status)), "headers": .object(headerObject),
            "url": .string(response.url), "redirects": .int(Int64(response.redirects)),
        ]
        if let text = String(validating: response.body, as: UTF8.self) {
            output["body"] = .string(text)
        } else {
            output["body_base64"] = .string(Data(response.body).base64EncodedString())
        }
        return .object(output)
    }
}
