import AriaCore
import Testing

/// Compiles the schema written as JSON text.
private func schema(_ text: String) throws -> JSONSchema {
    try JSONSchema(JSONValue(parsing: text))
}

/// Parses JSON text.
private func json(_ text: String) throws -> JSONValue {
    try JSONValue(parsing: text)
}

/// The compile error for the schema written as JSON text, or `nil` if it compiles.
private func compileError(_ text: String) throws -> JSONSchemaError? {
    let value = try JSONValue(parsing: text)
    do {
        _ = try JSONSchema(value)
        return nil
    } catch {
        return error
    }
}

/// Unit tests for ``JSONSchema``: messages and paths, semantics, references, compile errors, sharing.
@Suite("JSONSchema")
struct JSONSchemaTests {
    // MARK: Violations: paths, keywords, messages

    /// Violations name the JSON pointer of the offending value, the keyword and the rule.
    @Test("Violations carry the instance path, keyword and a readable message")
    func violationShape() throws {
        let compiled = try schema(#"""
        {"type": "object", "required": ["items"],
         "properties": {"items": {"type": "array", "items": {
            "type": "object", "required": ["name", "qty"],
            "properties": {"name": {"type": "string", "maxLength": 10}, "qty": {"type": "integer", "minimum": 1}}}}}}
        """#)
        let violations = compiled.validate(try json(#"""
        {"items": [{"name": "ok", "qty": 1}, {"name": "far too long a name", "qty": 0}, {"qty": 2.5}]}
        """#))
        #expect(violations == [
            JSONSchemaViolation(instancePath: "/items/1/name", keyword: "maxLength", message: "must be at most 10 characters"),
            JSONSchemaViolation(instancePath: "/items/1/qty", keyword: "minimum", message: "must be greater than or equal to 1"),
            JSONSchemaViolation(instancePath: "/items/2", keyword: "required", message: "must have the required property \"name\""),
            JSONSchemaViolation(instancePath: "/items/2/qty", keyword: "type", message: "must be an integer, but is a number"),
        ])
        #expect(violations[0].description == "/items/1/name: must be at most 10 characters")
        #expect(compiled.validate(.array([])).map(\.description) == ["(root): must be an object, but is an array"])
        #expect(compiled.isValid(try json(#"{"items": [{"name": "a", "qty": 3}, {"name": "b", "qty": 1.0}]}"#)))
    }

    /// Keys with `/` and `~` are escaped in instance paths as RFC 6901 requires.
    @Test("Instance paths escape ~ and /")
    func pathEscaping() throws {
        let compiled = try schema(#"{"additionalProperties": {"type": "string"}}"#)
        let violations = compiled.validate(try json(#"{"a/b": 1, "c~d": 2, "": 3}"#))
        #expect(violations.map(\.instancePath) == ["/", "/a~1b", "/c~0d"])
    }

    /// (schema, instance, expected keyword, expected message) for every keyword.
    static let messageCases: [(String, String, String, String)] = [
        (#"{"minLength": 2}"#, #""a""#, "minLength", "must be at least 2 characters"),
        (#"{"minLength": 1}"#, #""""#, "minLength", "must be at least 1 character"),
        (#"{"pattern": "^[a-z]+$"}"#, #""A1""#, "pattern", #"must match the pattern "^[a-z]+$""#),
        (#"{"exclusiveMinimum": 0}"#, "0", "exclusiveMinimum", "must be greater than 0"),
        (#"{"maximum": 2.5}"#, "3", "maximum", "must be less than or equal to 2.5"),
        (#"{"exclusiveMaximum": 10}"#, "10.0", "exclusiveMaximum", "must be less than 10"),
        (#"{"multipleOf": 0.5}"#, "0.7", "multipleOf", "must be a multiple of 0.5"),
        (#"{"minItems": 2}"#, "[1]", "minItems", "must have at least 2 items"),
        (#"{"maxItems": 1}"#, "[1, 2]", "maxItems", "must have at most 1 item"),
        (#"{"uniqueItems": true}"#, #"[1, {"a": 1}, 2, {"a": 1.0}]"#, "uniqueItems", "must not contain duplicate items (items 1 and 3 are equal)"),
        (#"{"minProperties": 1}"#, "{}", "minProperties", "must have at least 1 property"),
        (#"{"maxProperties": 1}"#, #"{"a": 1, "b": 2}"#, "maxProperties", "must have at most 1 property"),
        (#"{"const": "on"}"#, #""off""#, "const", #"must be equal to "on""#),
        (#"{"enum": ["red", "green", 3, null]}"#, #""blue""#, "enum", #"must be one of "red", "green", 3, null"#),
        (#"{"enum": ["only"]}"#, #""other""#, "enum", #"must be equal to "only""#),
        (#"{"type": ["string", "null"]}"#, "1", "type", "must be a string or null, but is an integer"),
        (#"{"not": {"type": "string"}}"#, #""s""#, "not", #"must not match the schema in "not""#),
        (#"{"oneOf": [{"minimum": 0}, {"maximum": 10}]}"#, "5", "oneOf", "must match exactly one of the 2 allowed schemas, but matches more than one (schemas 0 and 1)"),
        (##"{"prefixItems": [{"type": "string"}], "items": false}"##, ##"["a", 1, 2]"##, "items", "is not allowed: the array may have at most 1 item"),
        (#"{"contains": {"type": "string"}}"#, "[1, 2]", "contains", #"must contain at least 1 item matching the "contains" schema"#),
        (#"{"contains": {"type": "string"}, "maxContains": 1}"#, #"["a", "b"]"#, "maxContains", #"must contain at most 1 item matching the "contains" schema"#),
        (#"{"propertyNames": {"maxLength": 3}}"#, #"{"abcd": 1}"#, "propertyNames", #"has the invalid property name "abcd": must be at most 3 characters"#),
        (#"{"dependentRequired": {"card": ["cvv"]}}"#, #"{"card": "1"}"#, "dependentRequired", #"must have the property "cvv" when "card" is present"#),
        ("false", "1", "false", "is not allowed here"),
    ]

    /// Every keyword's message, checked once.
    @Test("Messages for each keyword", arguments: messageCases)
    func messages(schemaText: String, instanceText: String, keyword: String, message: String) throws {
        let violations = try schema(schemaText).validate(try json(instanceText))
        #expect(violations.count == 1)
        #expect(violations.first?.keyword == keyword)
        #expect(violations.first?.message == message)
    }

    /// A `false` member schema reports the member itself as not allowed.
    @Test("Disallowed properties are reported at their own path")
    func disallowedProperties() throws {
        let compiled = try schema(#"{"properties": {"id": {}, "secret": false}, "additionalProperties": false}"#)
        #expect(compiled.validate(try json(#"{"id": 1, "secret": 2, "extra": 3}"#)) == [
            JSONSchemaViolation(instancePath: "/extra", keyword: "additionalProperties", message: "is not an allowed property"),
            JSONSchemaViolation(instancePath: "/secret", keyword: "properties", message: "is not an allowed property"),
        ])
    }

    /// Echoed values, patterns and names never exceed 40 characters.
    @Test("Echoed values are capped at 40 characters")
    func echoesAreCapped() throws {
        let long = String(repeating: "x", count: 500)
        let cases: [(String, JSONValue)] = [
            (#"{"const": "\#(long)"}"#, "y"),
            (#"{"enum": ["\#(long)", "\#(long)b"]}"#, "y"),
            (#"{"pattern": "^\#(long)$"}"#, "y"),
            (#"{"required": ["\#(long)"]}"#, [:]),
            (#"{"propertyNames": {"maxLength": 3}}"#, .object([long: 1])),
            (#"{"dependentRequired": {"a": ["\#(long)"]}}"#, ["a": 1]),
        ]
        for (schemaText, instance) in cases {
            let violations = try schema(schemaText).validate(instance)
            #expect(violations.count == 1, "\(schemaText.prefix(30))")
            for violation in violations {
                #expect(!violation.message.contains(String(repeating: "x", count: 41)), "\(violation.message)")
                #expect(violation.message.count < 200, "\(violation.message)")
            }
        }
        #expect(try schema(#"{"const": "\#(long)"}"#).validate("y").first?.message == "must be equal to the allowed constant value")
        let many = try schema(#"{"enum": ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"]}"#).validate("x")
        #expect(many.first?.message == #"must be one of the 7 allowed values, such as "alpha", "beta", "gamma", "delta""#)
    }

    /// `anyOf`/`oneOf` failures explain themselves through types or the one plausible alternative.
    @Test("anyOf and oneOf failures are explained")
    func alternativesExplained() throws {
        let nullable = try schema(#"{"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]}"#)
        #expect(nullable.validate(1) == [
            JSONSchemaViolation(instancePath: "", keyword: "anyOf", message: "must be a string or null, but is an integer"),
        ])
        #expect(nullable.validate("long") == [
            JSONSchemaViolation(instancePath: "", keyword: "maxLength", message: "must be at most 3 characters"),
        ])
        #expect(nullable.isValid(nil) && nullable.isValid("abc"))

        let shapes = try schema(#"""
        {"oneOf": [{"type": "object", "required": ["radius"]}, {"type": "object", "required": ["side"]}]}
        """#)
        #expect(shapes.validate([:]) == [
            JSONSchemaViolation(instancePath: "", keyword: "oneOf", message: "must match exactly one of the 2 allowed schemas"),
        ])
        #expect(shapes.isValid(["side": 1]))
        #expect(!shapes.isValid(["side": 1, "radius": 2]))
    }

    /// `if`/`then`/`else` report the violations of the branch that applies.
    @Test("if/then/else report the applicable branch's violations")
    func conditional() throws {
        let compiled = try schema(#"""
        {"if": {"properties": {"kind": {"const": "email"}}, "required": ["kind"]},
         "then": {"required": ["address"]}, "else": {"required": ["phone"]}}
        """#)
        #expect(compiled.validate(["kind": "email"]).map(\.message) == [#"must have the required property "address""#])
        #expect(compiled.validate(["kind": "sms"]).map(\.message) == [#"must have the required property "phone""#])
        #expect(compiled.isValid(["kind": "email", "address": "a@b"]))
    }

    /// Collection stops at 100 violations; order is stable.
    @Test("At most 100 violations are collected, in a stable order")
    func violationLimit() throws {
        let compiled = try schema(#"{"items": {"type": "string"}}"#)
        let instance = JSONValue.array((0..<500).map { .int($0) })
        let violations = compiled.validate(instance)
        #expect(violations.count == JSONSchema.maxViolations)
        #expect(violations.first?.instancePath == "/0" && violations.last?.instancePath == "/99")

        let objectSchema = try schema(#"{"additionalProperties": {"type": "string"}}"#)
        let object = JSONValue.object(Dictionary(uniqueKeysWithValues: (0..<50).map { ("k\($0)", JSONValue.int($0)) }))
        let first = objectSchema.validate(object).map(\.instancePath)
        #expect(first == (0..<50).map { "/k\($0)" }.sorted())
        #expect(objectSchema.validate(object).map(\.instancePath) == first)
    }

    // MARK: Semantics

    /// Numbers compare by value: `1 == 1.0`, integers accept integral doubles, big integers compare exactly.
    @Test("Numbers compare by value and exactly")
    func numbers() throws {
        #expect(try schema(#"{"const": 1}"#).isValid(1.0))
        #expect(try schema(#"{"enum": [1.0, "a"]}"#).isValid(1))
        #expect(try schema(#"{"type": "integer"}"#).isValid(1.0))
        #expect(try !schema(#"{"type": "integer"}"#).isValid(1.5))
        #expect(try schema(#"{"type": "integer"}"#).isValid(1e300))
        #expect(try schema(#"{"multipleOf": 0.01}"#).isValid(0.07))
        #expect(try schema(#"{"multipleOf": 0.1}"#).isValid(0.3))
        #expect(try !schema(#"{"multipleOf": 0.1}"#).isValid(0.35))
        #expect(try schema(#"{"multipleOf": 3}"#).isValid(-9))
        #expect(try !schema(#"{"multipleOf": 3}"#).isValid(10.0))
        // 2^53 + 1 is not a double; comparing through Double would call these equal.
        #expect(try !schema(#"{"maximum": 9007199254740992}"#).isValid(.int(9_007_199_254_740_993)))
        #expect(try schema(#"{"exclusiveMaximum": 9007199254740993}"#).isValid(.double(9_007_199_254_740_992)))
        #expect(try !schema(#"{"minimum": 9223372036854775807}"#).isValid(.double(9.2e18)))
        #expect(try schema(#"{"minimum": -9223372036854775808}"#).isValid(.double(-9.2e18)))
    }

    /// String lengths count Unicode code points, not characters or UTF-16 units.
    @Test("String lengths count code points")
    func stringLengths() throws {
        let two = try schema(#"{"minLength": 2, "maxLength": 2}"#)
        #expect(two.isValid("e\u{301}"))      // one character, two code points
        #expect(two.isValid("👍🏽"))          // one character, two code points
        #expect(two.isValid("😀😀"))          // two code points, four UTF-16 units
        #expect(!two.isValid("é"))             // one precomposed code point
    }

    /// Patterns search anywhere unless anchored, and support Unicode properties.
    @Test("Patterns are unanchored searches")
    func patterns() throws {
        #expect(try schema(#"{"pattern": "b+"}"#).isValid("abbc"))
        #expect(try !schema(#"{"pattern": "^b+$"}"#).isValid("abbc"))
        #expect(try schema(#"{"pattern": "^\\p{L}+$"}"#).isValid("héllo"))
        #expect(try schema(#"{"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}"#)
            .validate(["x-a": 1, "b": "c"]).map(\.instancePath) == ["/b", "/x-a"])
    }

    /// `uniqueItems` uses JSON equality: `1` equals `1.0`, objects ignore member order, `true` differs from `1`.
    @Test("uniqueItems uses JSON equality")
    func uniqueItems() throws {
        let unique = try schema(#"{"uniqueItems": true}"#)
        #expect(!unique.isValid(try json("[1, 1.0]")))
        #expect(!unique.isValid(try json(#"[{"a": [1, {"b": 2}], "c": null}, {"c": null, "a": [1.0, {"b": 2.0}]}]"#)))
        #expect(unique.isValid(try json(#"[1, true, "1", [1], {"1": 1}, null, 0, false, []]"#)))
        #expect(unique.isValid(.array((0..<10_000).map { .int($0) })))
    }

    /// `contains`, `propertyNames`, `dependentRequired` and `dependentSchemas` work beyond the core list.
    @Test("contains, propertyNames and dependencies")
    func extraKeywords() throws {
        let range = try schema(#"{"contains": {"const": 1}, "minContains": 2, "maxContains": 3}"#)
        #expect(!range.isValid([1, 2]))
        #expect(range.isValid([1, 2, 1]))
        #expect(!range.isValid([1, 1, 1, 1]))
        #expect(try schema(#"{"contains": {"const": 1}, "minContains": 0}"#).isValid([]))
        #expect(try schema(#"{"propertyNames": {"pattern": "^[a-z]+$"}}"#).validate(["ok": 1, "Bad": 2]).map(\.message)
            == [#"has the invalid property name "Bad": must match the pattern "^[a-z]+$""#])
        let dependent = try schema(#"{"dependentSchemas": {"card": {"required": ["cvv"], "properties": {"cvv": {"type": "string"}}}}}"#)
        #expect(dependent.isValid(["other": 1]))
        #expect(dependent.validate(["card": "1", "cvv": 2]).map(\.instancePath) == ["/cvv"])
    }

    /// Annotations and unknown keywords do not affect validation.
    @Test("Annotations and unknown keywords are ignored")
    func ignoredKeywords() throws {
        let compiled = try schema(#"""
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://example.com/s", "$comment": "c",
         "title": "T", "description": "D", "default": 3, "examples": [1], "format": "email",
         "x-vendor": {"anything": true}, "deprecated": true, "readOnly": true, "type": "string"}
        """#)
        #expect(compiled.isValid("not an email"))
        #expect(!compiled.isValid(3))
    }

    // MARK: References

    /// A `$ref` to `#` validates a recursive tree to any depth and reports deep violations precisely.
    @Test("Recursive $ref to the root validates a tree")
    func recursiveTree() throws {
        let tree = try schema(#"""
        {"type": "object", "required": ["value"],
         "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#"}}},
         "additionalProperties": false}
        """#)
        var node: JSONValue = ["value": 0]
        for depth in 1...50 {
            node = ["value": .int(Int64(depth)), "children": [node, ["value": 1]]]
        }
        #expect(tree.isValid(node))

        let invalid = try json(#"{"value": 1, "children": [{"value": 2, "children": [{"value": "x"}, {"extra": 1}]}]}"#)
        #expect(tree.validate(invalid) == [
            JSONSchemaViolation(instancePath: "/children/0/children/0/value", keyword: "type", message: "must be an integer, but is a string"),
            JSONSchemaViolation(instancePath: "/children/0/children/1", keyword: "required", message: "must have the required property \"value\""),
            JSONSchemaViolation(instancePath: "/children/0/children/1/extra", keyword: "additionalProperties", message: "is not an allowed property"),
        ])
    }

    /// Mutually recursive definitions through `$defs` terminate, as they descend into the instance.
    @Test("Mutually recursive $defs")
    func mutualRecursion() throws {
        let compiled = try schema(#"""
        {"$ref": "#/$defs/a",
         "$defs": {"a": {"type": "array", "items": {"$ref": "#/$defs/b"}},
                   "b": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/a"}]}}}
        """#)
        #expect(compiled.isValid(try json("[1, [2, [3, []]], 4]")))
        #expect(!compiled.isValid(try json(#"[1, [2, ["x"]]]"#)))
    }

    /// JSON pointer refs unescape `~0`/`~1` and percent-encoding, and may point anywhere in the document.
    @Test("Pointer refs: escapes, percent-encoding, arbitrary locations")
    func pointerRefs() throws {
        let compiled = try schema(#"""
        {"$defs": {"a/b": {"type": "integer"}, "c~d": {"type": "string"}, "e f": {"type": "null"}},
         "definitions": {"legacy": {"type": "boolean"}},
         "prefixItems": [{"$ref": "#/$defs/a~1b"}, {"$ref": "#/$defs/c~0d"}, {"$ref": "#/$defs/e%20f"},
                         {"$ref": "#/definitions/legacy"}, {"$ref": "#/prefixItems/0"}]}
        """#)
        #expect(compiled.isValid(try json(#"[1, "s", null, true, 2]"#)))
        #expect(compiled.validate(try json(#"["x", 1, 0, 0, "y"]"#)).map(\.instancePath) == ["/0", "/1", "/2", "/3", "/4"])
    }

    /// Inside a subschema with its own `$id`, `#` pointers resolve against that subschema.
    @Test("Fragment refs resolve against the enclosing $id resource")
    func embeddedResource() throws {
        let compiled = try schema(#"""
        {"$id": "https://example.com/root.json",
         "$defs": {"inner": {"type": "string"}},
         "properties": {
            "outer": {"$ref": "#/$defs/inner"},
            "embedded": {"$id": "https://example.com/other.json", "$defs": {"inner": {"type": "integer"}}, "$ref": "#/$defs/inner"}}}
        """#)
        #expect(compiled.isValid(["outer": "s", "embedded": 1]))
        #expect(!compiled.isValid(["outer": "s", "embedded": "s"]))
    }

    // MARK: Compile errors

    /// (schema, expected error path, expected message) for schemas that must not compile.
    static let compileErrorCases: [(String, String, String)] = [
        (#"{"minimum": "x"}"#, "/minimum", "must be a number"),
        (#"{"properties": {"age": {"maximum": null}}}"#, "/properties/age/maximum", "must be a number"),
        (#"{"minLength": -1}"#, "/minLength", "must be a non-negative integer"),
        (#"{"maxItems": 1.5}"#, "/maxItems", "must be a non-negative integer"),
        (#"{"multipleOf": 0}"#, "/multipleOf", "must be a number greater than 0"),
        (#"{"type": "str"}"#, "/type", #"must be one of "array", "boolean", "integer", "null", "number", "object", "string""#),
        (#"{"type": ["string", "string"]}"#, "/type/1", "must not repeat a type"),
        (#"{"required": ["a", 1]}"#, "/required/1", "must be a string"),
        (#"{"required": "a"}"#, "/required", "must be an array of strings"),
        (#"{"properties": {"a": 1}}"#, "/properties/a", "a schema must be an object or a boolean, not an integer"),
        (#"{"allOf": []}"#, "/allOf", "must be a non-empty array of schemas"),
        (##"{"items": [{"type": "string"}]}"##, "/items", "must be a schema (an object or a boolean); use prefixItems for a list of item schemas"),
        (#"{"uniqueItems": 1}"#, "/uniqueItems", "must be a boolean"),
        (#"{"pattern": "a("}"#, "/pattern", #""a(" is not a valid regular expression"#),
        (#"{"patternProperties": {"[": {}}}"#, "/patternProperties/[", #""[" is not a valid regular expression"#),
        (##"{"properties": {"p": {"$ref": "https://example.com/schema.json"}}}"##, "/properties/p/$ref",
         ##"the reference "https://example.com/schema.json" is not supported: only local references starting with "#" are"##),
        (##"{"$ref": "other.json#/$defs/a"}"##, "/$ref", ##"the reference "other.json#/$defs/a" is not supported: only local references starting with "#" are"##),
        (##"{"$ref": "#/$defs/missing"}"##, "/$ref", ##"the reference "#/$defs/missing" does not point to anything in this schema"##),
        (##"{"$ref": "#name"}"##, "/$ref", ##"the reference "#name" names an anchor, which is not supported: use a JSON pointer such as "#/$defs/name""##),
        (##"{"$ref": "#/$defs/a~2"}"##, "/$ref", ##"the reference "#/$defs/a~2" is not a valid JSON pointer ("~" must be followed by 0 or 1)"##),
        (##"{"$ref": "#/$defs/%zz"}"##, "/$ref", ##"the reference "#/$defs/%zz" has invalid percent-encoding"##),
        (##"{"$ref": "#/$defs/n", "$defs": {"n": 5}}"##, "/$defs/n", "a schema must be an object or a boolean, not an integer"),
        (##"{"$ref": 1}"##, "/$ref", "must be a string"),
        (#"{"unevaluatedProperties": false}"#, "/unevaluatedProperties", "the keyword unevaluatedProperties is not supported"),
        (##"{"$dynamicRef": "#meta"}"##, "/$dynamicRef", "the keyword $dynamicRef is not supported"),
        ("[]", "", "a schema must be an object or a boolean, not an array"),
    ]

    /// Bad schemas fail to compile with the location and a clear reason.
    @Test("Compile errors name the schema location and the problem", arguments: compileErrorCases)
    func compileErrors(schemaText: String, path: String, message: String) throws {
        let error = try #require(try compileError(schemaText), "\(schemaText) compiled")
        #expect(error.path == path)
        #expect(error.message == message)
    }

    /// A chain of `$ref`s that loops without descending into the instance is rejected at compile time.
    @Test("$ref cycles that never descend into the instance are rejected", arguments: [
        ##"{"$ref": "#"}"##,
        ##"{"allOf": [{"$ref": "#"}]}"##,
        ##"{"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/a"}]}}}"##,
        ##"{"$defs": {"a": {"not": {"$ref": "#/$defs/a"}}}}"##,
        ##"{"if": true, "then": {"$ref": "#"}}"##,
    ])
    func inPlaceCycles(schemaText: String) throws {
        let error = try #require(try compileError(schemaText), "\(schemaText) compiled")
        #expect(error.message.contains("validation would never end"), "\(error)")
    }

    /// The error's description combines location and message.
    @Test("JSONSchemaError description")
    func errorDescription() throws {
        #expect(try compileError(#"{"minimum": "x"}"#)?.description == "invalid schema at /minimum: must be a number")
        #expect(try compileError("1")?.description == "invalid schema at the root: a schema must be an object or a boolean, not an integer")
    }

    // MARK: Throughput and sharing

    /// Ten thousand small objects validate (no timing assertion: this is a sanity run, and debug builds are slow).
    @Test("Validating many small objects")
    func manyObjects() throws {
        let compiled = try schema(#"""
        {"type": "object", "required": ["id", "name"], "additionalProperties": false,
         "properties": {"id": {"type": "integer", "minimum": 0}, "name": {"type": "string", "pattern": "^[a-z]+[0-9]*$", "maxLength": 20},
                        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": true}}}
        """#)
        var valid = 0
        for index in 0..<10_000 {
            let instance: JSONValue = ["id": .int(Int64(index)), "name": .string("item\(index)"), "tags": ["a", "c"]]
            if compiled.isValid(instance) && compiled.validate(instance).isEmpty { valid += 1 }
        }
        #expect(valid == 10_000)
    }

    /// A compiled schema is shared across concurrent tasks.
    @Test("A compiled schema is usable from concurrent tasks")
    func concurrentUse() async throws {
        let compiled = try schema(#"{"type": "array", "items": {"type": "string", "pattern": "^[0-9]+$"}}"#)
        let results = await withTaskGroup(of: Bool.self) { group in
            for task in 0..<8 {
                group.addTask {
                    (0..<200).allSatisfy { index in
                        compiled.isValid([.string("\(task)\(index)")]) && !compiled.isValid([.string("x\(index)")])
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: true, count: 8))
    }
}
