/// `{{...}}` references inside step params: `{{steps.<id>.output.<path>}}` (resolved before dispatch)
/// and `{{params.<name>}}` (resolved when a template is rendered).
///
/// A string that is exactly one reference is replaced by the referenced JSON value, keeping its type; a
/// reference inside a longer string is replaced by the value's text (strings as they are, other values as
/// JSON). An unresolvable reference is an error, never left in place.
public enum ParamTemplate {
    /// Whether `text` contains a `{{` ... `}}` reference.
    public static func containsReference(_ text: String) -> Bool {
        guard let open = text.range(of: "{{") else { return false }
        return text[open.upperBound...].contains("}}")
    }

    /// Every reference path in `value`, split on dots (`["steps", "a", "output", "x"]`).
    public static func references(in value: JSONValue) -> [[String]] {
        switch value {
        case .string(let text):
            return (try? segments(of: text))?.compactMap { segment in
                if case .reference(let path) = segment { return path } else { return nil }
            } ?? []
        case .array(let items):
            return items.flatMap { references(in: $0) }
        case .object(let fields):
            return fields.keys.sorted().flatMap { references(in: fields[$0]!) }
        default:
            return []
        }
    }

    /// The ids of steps referenced by `{{steps.<id>...}}` in `value`.
    public static func referencedSteps(in value: JSONValue) -> Set<String> {
        Set(references(in: value).compactMap { path in path.count >= 2 && path[0] == "steps" ? path[1] : nil })
    }

    /// Replaces every reference in `value` using `resolve`, which returns nil for an unknown path.
    public static func render(_ value: JSONValue, resolve: (_ path: [String]) -> JSONValue?) throws(AriaError) -> JSONValue {
        switch value {
        case .string(let text):
            guard text.contains("{{") else { return value }
            let parts = try segments(of: text)
            if parts.count == 1, case .reference(let path) = parts[0] {
                guard let resolved = resolve(path) else { throw unresolved(path) }
                return resolved
            }
            var output = ""
            for part in parts {
                switch part {
                case .literal(let literal):
                    output += literal
                case .reference(let path):
                    guard let resolved = resolve(path) else { throw unresolved(path) }
                    output += resolved.stringValue ?? resolved.jsonString
                }
            }
            return .string(output)
        case .array(let items):
            var rendered: [JSONValue] = []
            rendered.reserveCapacity(items.count)
            for item in items { rendered.append(try render(item, resolve: resolve)) }
            return .array(rendered)
        case .object(let fields):
            var rendered: [String: JSONValue] = [:]
            for (key, field) in fields { rendered[key] = try render(field, resolve: resolve) }
            return .object(rendered)
        default:
            return value
        }
    }

    /// Looks up `path` in step outputs: `["steps", id, "output", ...rest]`.
    public static func resolveStepOutput(_ path: [String], outputs: [String: JSONValue]) -> JSONValue? {
        guard path.count >= 3, path[0] == "steps", path[2] == "output", let output = outputs[path[1]] else { return nil }
        return output.value(atPath: Array(path.dropFirst(3)))
    }

    enum Segment: Equatable {
        case literal(String)
        case reference([String])
    }

    static func segments(of text: String) throws(AriaError) -> [Segment] {
        var result: [Segment] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { result.append(.literal(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                // An unclosed `{{` is literal text unless it starts a reference.
                let after = rest[open.upperBound...].drop { $0 == " " }
                if after.hasPrefix("steps.") || after.hasPrefix("params.") {
                    throw AriaError(.invalidParams, "unterminated reference in '\(text.prefix(80))'")
                }
                result.append(.literal(String(rest[open.lowerBound...])))
                return result
            }
            let inner = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            let path = inner.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard path.count >= 2, !path.contains(where: \.isEmpty), path[0] == "steps" || path[0] == "params" else {
                throw AriaError(.invalidParams, "'{{\(inner.prefix(80))}}' is not a reference (use {{steps.<id>.output.<path>}} or {{params.<name>}})")
            }
            if path[0] == "steps", path.count < 3 || path[2] != "output" {
                throw AriaError(.invalidParams, "'{{\(inner.prefix(80))}}' must have the form {{steps.<id>.output.<path>}}")
            }
            result.append(.reference(path))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { result.append(.literal(String(rest))) }
        return result
    }

    private static func unresolved(_ path: [String]) -> AriaError {
        AriaError(.invalidParams, "reference {{\(path.joined(separator: "."))}} cannot be resolved", details: ["reference": path.joined(separator: ".")])
    }
}

import Foundation
