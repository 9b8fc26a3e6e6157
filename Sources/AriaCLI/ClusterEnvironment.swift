import AriaBus
import AriaCore
import Foundation

/// Settings for the CLI: the process environment over the local cluster's `cluster.env` file
/// (written by `aria dev up`), so commands work against a dev cluster with no setup.
public struct ClusterEnvironment: Sendable {
    /// The merged variables.
    public let values: [String: String]

    /// The default state directory of `aria dev` (`ARIA_STATE_DIR`, else `./.aria-dev`).
    public static func defaultStateDirectory(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let path = environment["ARIA_STATE_DIR"] ?? FileManager.default.currentDirectoryPath + "/.aria-dev"
        return URL(fileURLWithPath: path).standardizedFileURL
    }

    /// Reads `cluster.env` from `stateDirectory` (if present) under the process environment.
    public init(stateDirectory: URL? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let directory = stateDirectory ?? Self.defaultStateDirectory(environment)
        var merged = Self.parse(file: directory.appendingPathComponent("cluster.env"))
        for (key, value) in environment where key.hasPrefix("ARIA_") { merged[key] = value }
        values = merged
    }

    /// Parses `KEY=VALUE` lines (comments and blank lines ignored).
    public static func parse(file: URL) -> [String: String] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [:] }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            values[String(trimmed[..<equals])] = String(trimmed[trimmed.index(after: equals)...])
        }
        return values
    }

    /// The NATS server URLs.
    public var natsURLs: [String] { reader.list("ARIA_NATS_URL", default: ["nats://127.0.0.1:4222"]) }
    /// The database URL.
    public var databaseURL: String { values["ARIA_DATABASE_URL"] ?? "postgres://aria@127.0.0.1:5432/aria" }

    /// The NATS password of `user`: `ARIA_NATS_PASSWORD` when `ARIA_NATS_USER` names that user, else the
    /// per-user variable from `cluster.env`.
    public func natsPassword(user: String) -> String? {
        if values["ARIA_NATS_USER"] == user, let password = values["ARIA_NATS_PASSWORD"] { return password }
        return values[NATSAuthConfig.passwordVariable(user: user)]
    }

    /// A config reader over the merged values.
    public var reader: ConfigReader { ConfigReader(environment: values) }
}
