/// A compiled JSON Schema (draft 2020-12) that validates `JSONValue` instances.
///
/// Compile once with `init(_:)` — keyword values are type-checked, patterns compiled and `$ref`s
/// resolved at that point — then call ``validate(_:)`` or ``isValid(_:)`` as often as needed, from any
/// task: a compiled schema is immutable.
///
/// Supported keywords:
/// - any instance: `type` (a name or an array of names; `"integer"` accepts `1.0`), `enum`, `const`;
/// - numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`;
/// - strings: `minLength`, `maxLength` (counted in Unicode code points), `pattern` (an unanchored
///   search with ICU regular expressions, which accept the common ECMA-262 syntax);
/// - arrays: `prefixItems`, `items` (the items after `prefixItems`), `minItems`, `maxItems`,
///   `uniqueItems`, `contains`, `minContains`, `maxContains`;
/// - objects: `properties`, `patternProperties`, `additionalProperties`, `required`, `minProperties`,
///   `maxProperties`, `propertyNames`, `dependentRequired`, `dependentSchemas`;
/// - combinators: `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`;
/// - structure: boolean schemas, `$defs` and local `$ref`s (`#`, `#/$defs/name`, any JSON pointer into
///   the document, with `~0`/`~1` escapes and percent-decoding). A `#...` pointer inside a subschema
///   that has its own `$id` is resolved against that subschema, as the specification requires.
///
/// Annotations (`title`, `description`, `default`, `examples`, `format`, `$comment`, ...) and unknown
/// keywords are ignored. Compilation fails with ``JSONSchemaError`` for remote references (any `$ref`
/// not starting with `#`), anchor references (`#name`), `$dynamicRef`, `unevaluatedProperties` and
/// `unevaluatedItems` (ignoring these would silently accept values the schema rejects), malformed
/// keyword values, invalid patterns, and `$ref` cycles that never descend into the instance (such as
/// `{"$ref": "#"}` at the root), which could never finish validating.
public struct JSONSchema: Sendable {
    /// The most violations ``validate(_:)`` collects before it stops.
    public static let maxViolations = 100

    /// The compiled nodes; `root` is the whole schema.
    let program: SchemaProgram

    /// Compiles `schema`, checking every keyword this validator understands.
    ///
    /// - Throws: ``JSONSchemaError`` naming the schema location (a JSON pointer) and the problem.
    public init(_ schema: JSONValue) throws(JSONSchemaError) {
        var compiler = SchemaCompiler(document: schema)
        program = try compiler.compile()
    }

    /// Checks `instance` and returns the rules it breaks, in a stable order; empty means valid.
    ///
    /// Collection stops after ``maxViolations`` violations.
    public func validate(_ instance: JSONValue) -> [JSONSchemaViolation] {
        var sink = ViolationSink(limit: Self.maxViolations, records: true)
        var path: [InstancePathComponent] = []
        path.reserveCapacity(16)
        SchemaEvaluator(nodes: program.nodes).evaluate(program.root, instance, &path, &sink)
        return sink.violations
    }

    /// Whether `instance` satisfies the schema; stops at the first violation.
    public func isValid(_ instance: JSONValue) -> Bool {
        var sink = ViolationSink(limit: 1, records: false)
        var path: [InstancePathComponent] = []
        path.reserveCapacity(16)
        SchemaEvaluator(nodes: program.nodes).evaluate(program.root, instance, &path, &sink)
        return sink.count == 0
    }
}

/// One rule an instance breaks: where, which keyword, and a message safe to show a user.
public struct JSONSchemaViolation: Sendable, Equatable, CustomStringConvertible {
    /// The JSON pointer (RFC 6901) of the offending value in the instance, e.g. `/items/0/name`; empty for the root.
    public var instancePath: String
    /// The schema keyword that rejected the value, e.g. `maxLength` or `required`.
    public var keyword: String
    /// What the rule requires, e.g. "must be at most 10 characters"; echoed values are capped at 40 characters.
    public var message: String

    /// Creates a violation.
    public init(instancePath: String, keyword: String, message: String) {
        self.instancePath = instancePath
        self.keyword = keyword
        self.message = message
    }

    /// The location and message, e.g. `/items/0/name: must be at most 10 characters` (`(root)` for the root).
    public var description: String {
        "\(instancePath.isEmpty ? "(root)" : instancePath): \(message)"
    }
}

/// Why a schema cannot be compiled, and where in the schema.
public struct JSONSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON pointer of the offending keyword in the schema, e.g. `/properties/age/minimum`; empty for the root.
    public var path: String
    /// What is wrong, e.g. "must be a number".
    public var message: String

    /// Creates an error for the problem `message` at schema location `path`.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// The location and message, e.g. `invalid schema at /properties/age/minimum: must be a number`.
    public var description: String {
        "invalid schema at \(path.isEmpty ? "the root" : path): \(message)"
    }
}
