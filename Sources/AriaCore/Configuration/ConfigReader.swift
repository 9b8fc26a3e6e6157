import Foundation

/// Reads typed settings from environment variables (`ARIA_*`), with secrets from `<NAME>_FILE` files.
public struct ConfigReader: Sendable {
    /// The variables read.
    public let environment: [String: String]

    /// Reads from `environment` (the process's by default).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The value of `key`, or `defaultValue` when unset or empty.
    public func string(_ key: String, default defaultValue: String) -> String {
        if let value = environment[key], !value.isEmpty { return value }
        return defaultValue
    }

    /// The value of `key`, or nil when unset or empty.
    public func optionalString(_ key: String) -> String? {
        guard let value = environment[key], !value.isEmpty else { return nil }
        return value
    }

    /// An integer setting within `range`.
    public func int(_ key: String, default defaultValue: Int, range: ClosedRange<Int> = 0...Int.max) throws(AriaError) -> Int {
        guard let text = optionalString(key) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw AriaError(.invalidConfiguration, "\(key)='\(text.prefix(40))' must be an integer within \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A duration setting in the product's duration format (`250ms`, `30s`, `1m30s`).
    public func duration(_ key: String, default defaultValue: AriaDuration) throws(AriaError) -> AriaDuration {
        guard let text = optionalString(key) else { return defaultValue }
        do { return try AriaDuration(parsing: text) } catch {
            throw AriaError(.invalidConfiguration, "\(key)='\(text.prefix(40))' is not a duration: \(error)")
        }
    }

    /// A boolean setting (`true`/`false`/`1`/`0`).
    public func bool(_ key: String, default defaultValue: Bool) throws(AriaError) -> Bool {
        guard let text = optionalString(key)?.lowercased() else { return defaultValue }
        switch text {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw AriaError(.invalidConfiguration, "\(key)='\(text.prefix(40))' must be true or false")
        }
    }

    /// A secret: the value of `key`, else the trimmed content of the file named by `<key>_FILE`.
    public func secret(_ key: String) throws(AriaError) -> Secret? {
        if let value = optionalString(key) { return Secret(value) }
        guard let path = optionalString("\(key)_FILE") else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AriaError(.invalidConfiguration, "\(key)_FILE names '\(path)', which cannot be read")
        }
        let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { throw AriaError(.invalidConfiguration, "\(key)_FILE names '\(path)', which is empty") }
        return Secret(value)
    }

    /// A comma-separated list, items trimmed, empty items dropped.
    public func list(_ key: String, default defaultValue: [String]) -> [String] {
        guard let text = optionalString(key) else { return defaultValue }
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return items.isEmpty ? defaultValue : items
    }
}

/// A secret value whose description, debug description and reflection never show it.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The secret itself; pass it only to the library that needs it.
    public let value: String
    /// Wraps a secret.
    public init(_ value: String) { self.value = value }
    /// `<redacted>`.
    public var description: String { "<redacted>" }
    /// `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// A mirror without children, so `dump` shows nothing of the value.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
