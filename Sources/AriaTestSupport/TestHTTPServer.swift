import AriaLocalCluster
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real HTTP/1.1 server on a loopback address for HTTP client tests: Python's `http.server` on a port
/// the kernel picks, killed when the test process exits.
///
/// Endpoints (any method):
/// - `/status/<code>`: that status, body `status <code>`, header `X-Status: <code>`.
/// - `/echo`: JSON `{"method", "path", "headers": [[name, value]], "body": <base64>}`.
/// - `/bytes/<n>`: `n` bytes of `x` with a `Content-Length`.
/// - `/stream/<n>`: `n` bytes of `x`, chunked (no `Content-Length`).
/// - `/slow/<ms>`: waits `ms` milliseconds, then answers `slow`.
/// - `/redirect?to=<url>&code=<3xx>&delay=<ms>`: a redirect (302 by default) to `url`, after `delay` ms (0).
/// - `/chain/<n>`: redirects to `/chain/<n-1>` until `/chain/0`, which answers `done`.
/// - `/loop`: redirects to itself.
/// - `/headers`: two `Set-Cookie` headers and `X-Custom: value`.
/// Every request is logged as `REQUEST <method> <path> <client port>` (see `receivedRequests()`).
public final class TestHTTPServer: Sendable {
    /// The address the server listens on (`127.0.0.1`, `127.0.0.2`, ...).
    public let host: String
    /// The port the server listens on.
    public let port: Int
    /// `http://<host>:<port>`.
    public var baseURL: String { "http://\(host):\(port)" }

    private let process: ManagedProcess
    private let directory: URL

    private static let running = Mutex<[Int32]>([])
    private static let exitHandler: Void = { atexit { TestHTTPServer.killAll() } }()

    private init(host: String, port: Int, process: ManagedProcess, directory: URL) {
        self.host = host
        self.port = port
        self.process = process
        self.directory = directory
    }

    /// Starts a server listening on `host` (any loopback address: all of 127/8 reaches `lo` on Linux).
    public static func start(host: String = "127.0.0.1") async throws -> TestHTTPServer {
        _ = exitHandler
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("aria-http-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = directory.appendingPathComponent("server.py")
        try pythonServer.write(to: script, atomically: true, encoding: .utf8)
        let process = try ManagedProcess(
            name: "test-http-server", executable: "/usr/bin/env", arguments: ["python3", "-u", script.path, host],
            logFile: directory.appendingPathComponent("server.log"))
        running.withLock { $0.append(process.pid) }
        try await process.waitForLog("LISTENING ", timeout: .seconds(20))
        let line = process.log().split(separator: "\n").first { $0.hasPrefix("LISTENING ") }
        guard let line, let port = Int(line.dropFirst("LISTENING ".count)) else {
            await process.stop(grace: .seconds(1))
            throw LocalClusterError(code: .launchFailed, message: "test HTTP server did not report its port:\n\(process.log())")
        }
        return TestHTTPServer(host: host, port: port, process: process, directory: directory)
    }

    /// One request the server received.
    public struct Request: Sendable, Equatable {
        /// The method.
        public var method: String
        /// The path with its query, as sent.
        public var path: String
        /// The client's TCP port: equal ports mean one connection served both requests.
        public var clientPort: Int
    }

    /// The requests received so far, in arrival order.
    public func receivedRequests() -> [Request] {
        process.log().split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 4, fields[0] == "REQUEST", let port = Int(fields[3]) else { return nil }
            return Request(method: String(fields[1]), path: String(fields[2]), clientPort: port)
        }
    }

    /// The requests received so far, as `<METHOD> <path>` in arrival order.
    public func requests() -> [String] {
        receivedRequests().map { "\($0.method) \($0.path)" }
    }

    /// The server's whole log (requests and errors).
    public func log() -> String { process.log() }

    /// Stops the server and removes its folder.
    public func stop() async {
        await process.stop(grace: .seconds(2))
        Self.running.withLock { $0.removeAll { $0 == process.pid } }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Kills every server still running (at process exit).
    static func killAll() {
        for pid in running.withLock({ $0 }) { kill(pid, SIGKILL) }
    }

    private static let pythonServer = #"""
        import base64, json, os, signal, sys, time
        from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
        from urllib.parse import urlsplit, parse_qs

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def send(self, status, body=b"", headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                if status < 200 or status in (204, 304):
                    # These responses never have a body (a stray one would corrupt the connection).
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def handle_any(self):
                sys.stdout.write("REQUEST %s %s %d\n" % (self.command, self.path, self.client_address[1]))
                sys.stdout.flush()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                parts = url.path.strip("/").split("/")
                kind = parts[0]
                if kind == "status":
                    self.send(int(parts[1]), ("status %s" % parts[1]).encode(), [("X-Status", parts[1])])
                elif kind == "echo":
                    payload = {
                        "method": self.command,
                        "path": self.path,
                        "headers": [[k, v] for k, v in self.headers.items()],
                        "body": base64.b64encode(body).decode(),
                    }
                    self.send(200, json.dumps(payload).encode(), [("Content-Type", "application/json")])
                elif kind == "bytes":
                    self.send(200, b"x" * int(parts[1]))
                elif kind == "stream":
                    remaining = int(parts[1])
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        while remaining > 0:
                            chunk = b"x" * min(remaining, 65536)
                            remaining -= len(chunk)
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        self.close_connection = True
                elif kind == "slow":
                    time.sleep(int(parts[1]) / 1000.0)
                    try:
                        self.send(200, b"slow")
                    except (BrokenPipeError, ConnectionResetError):
                        self.close_connection = True
                elif kind == "redirect":
                    code = int(query.get("code", ["302"])[0])
                    time.sleep(int(query.get("delay", ["0"])[0]) / 1000.0)
                    self.send(code, b"", [("Location", query["to"][0])])
                elif kind == "chain":
                    n = int(parts[1])
                    if n > 0:
                        self.send(302, b"", [("Location", "/chain/%d" % (n - 1))])
                    else:
                        self.send(200, b"done")
                elif kind == "loop":
                    self.send(302, b"", [("Location", "/loop")])
                elif kind == "headers":
                    self.send(200, b"ok", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Custom", "value")])
                else:
                    self.send(404, b"not found")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

        # The test process may block SIGTERM, and a child inherits the mask: stop promptly anyway.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        ThreadingHTTPServer.daemon_threads = True
        # The default backlog of 5 makes bursts of concurrent connections wait for retries.
        ThreadingHTTPServer.request_queue_size = 64
        server = ThreadingHTTPServer((sys.argv[1], 0), Handler)
        print("LISTENING %d" % server.server_address[1], flush=True)
        server.serve_forever()
        """#
}
