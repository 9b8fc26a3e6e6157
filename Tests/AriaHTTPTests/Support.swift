import AriaHTTP
import AriaTestSupport
import Foundation
import Logging
import Testing

/// Every test that talks to a real server; serialized so timing checks do not compete with each other.
@Suite(.serialized) struct HTTPServerTests {}

/// A logger that shows warnings and errors only.
let testLogger: Logger = {
    var logger = Logger(label: "aria.http.tests")
    logger.logLevel = .warning
    return logger
}()

/// A policy for functional tests: public addresses plus the loopback addresses the test servers use.
let loopbackPolicy = DestinationPolicy(allowedCIDRs: ["127.0.0.1/32", "127.0.0.2/32"])

/// Runs `body` with a fresh server on `host` and stops it afterwards.
func withServer(host: String = "127.0.0.1", _ body: (TestHTTPServer) async throws -> Void) async throws {
    let server = try await TestHTTPServer.start(host: host)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// Runs `body` with a client that is shut down afterwards.
func withClient(
    maxConcurrent: Int = 4, policy: DestinationPolicy = loopbackPolicy, resolve: [String: String] = [:],
    _ body: (HTTPClient) async throws -> Void
) async throws {
    let client = HTTPClient(maxConcurrent: maxConcurrent, policy: policy, resolve: resolve, logger: testLogger)
    defer { client.shutdown() }
    try await body(client)
}

/// The JSON the test server's `/echo` answers with.
struct Echo: Decodable {
    /// The method received.
    var method: String
    /// The path and query received.
    var path: String
    /// The headers received.
    var headers: [[String]]
    /// The body received, base64.
    var body: String

    /// The body's bytes.
    var bodyBytes: [UInt8] { Array(Data(base64Encoded: body) ?? Data()) }

    /// The first value of header `name` (case-insensitive).
    func header(_ name: String) -> String? {
        headers.first { $0[0].lowercased() == name.lowercased() }?[1]
    }

    /// Decodes a response body.
    init(_ response: HTTPResponse) throws {
        self = try JSONDecoder().decode(Echo.self, from: Data(response.body))
    }
}

/// Runs `body`, expects an `HTTPError` with `code`, and returns it.
@discardableResult
func expectError(
    _ code: HTTPError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> HTTPResponse
) async -> HTTPError? {
    do {
        let response = try await body()
        Issue.record("expected \(code), got status \(response.status)", sourceLocation: sourceLocation)
        return nil
    } catch let error as HTTPError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected HTTPError(\(code)), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
