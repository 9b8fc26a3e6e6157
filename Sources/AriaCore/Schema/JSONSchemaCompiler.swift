import Foundation

/// The compiled form of a schema document: nodes that refer to each other by index.
struct SchemaProgram: Sendable {
    /// Every compiled subschema; references between them are indices into this array.
    let nodes: [SchemaNode]
    /// The index of the document's root schema.
    let root: Int
}

/// A `patternProperties` entry: property names matching `pattern` must satisfy node `schema`.
struct SchemaPatternRule: Sendable {
    /// The compiled property-name pattern.
    let pattern: SchemaPattern
    /// The schema for matching properties.
    let schema: Int
}

/// A `dependentRequired` entry: when `property` is present, `required` must be too.
struct SchemaDependentRequired: Sendable {
    /// The triggering property.
    let property: String
    /// The properties it requires.
    let required: [String]
}

/// A `dependentSchemas` entry: when `property` is present, the object must satisfy node `schema`.
struct SchemaDependentSchema: Sendable {
    /// The triggering property.
    let property: String
    /// The schema the whole object must then satisfy.
    let schema: Int
}

/// The keywords of one subschema, as gathered during compilation.
struct SchemaKeywords: Sendable {
    /// For a boolean schema: whether it accepts everything (`true`) or nothing (`false`); `nil` for an object schema.
    var boolean: Bool?

    /// `$ref`, resolved.
    var ref: Int?
    /// `type`.
    var types: SchemaTypeSet?
    /// `enum`.
    var enumValues: [JSONValue]?
    /// `const`, boxed in an array of one so that `null` is distinguishable from absence.
    var constValue: [JSONValue]?

    /// `minimum`.
    var minimum: SchemaNumber?
    /// `maximum`.
    var maximum: SchemaNumber?
    /// `exclusiveMinimum`.
    var exclusiveMinimum: SchemaNumber?
    /// `exclusiveMaximum`.
    var exclusiveMaximum: SchemaNumber?
    /// `multipleOf`.
    var multipleOf: SchemaDivisor?

    /// `minLength`.
    var minLength: Int?
    /// `maxLength`.
    var maxLength: Int?
    /// `pattern`.
    var pattern: SchemaPattern?

    /// `prefixItems`.
    var prefixItems: [Int] = []
    /// `items` (applies after `prefixItems`).
    var items: Int?
    /// `contains`.
    var contains: Int?
    /// `minContains` (meaningful only with `contains`).
    var minContains: Int?
    /// `maxContains` (meaningful only with `contains`).
    var maxContains: Int?
    /// `minItems`.
    var minItems: Int?
    /// `maxItems`.
    var maxItems: Int?
    /// `uniqueItems`.
    var uniqueItems = false

    /// `properties`.
    var properties: [String: Int] = [:]
    /// `patternProperties`, in the schema's key order (sorted).
    var patternProperties: [SchemaPatternRule] = []
    /// `additionalProperties`.
    var additionalProperties: Int?
    /// `required`.
    var required: [String] = []
    /// `minProperties`.
    var minProperties: Int?
    /// `maxProperties`.
    var maxProperties: Int?
    /// `propertyNames`.
    var propertyNames: Int?
    /// `dependentRequired`, sorted by property.
    var dependentRequired: [SchemaDependentRequired] = []
    /// `dependentSchemas`, sorted by property.
    var dependentSchemas: [SchemaDependentSchema] = []

    /// `allOf`.
    var allOf: [Int] = []
    /// `anyOf`.
    var anyOf: [Int] = []
    /// `oneOf`.
    var oneOf: [Int] = []
    /// `not`.
    var not: Int?
    /// `if`.
    var ifSchema: Int?
    /// `then` (ignored without `if`).
    var thenSchema: Int?
    /// `else` (ignored without `if`).
    var elseSchema: Int?

    /// The subschemas applied to the same instance location as this one (the edges that could loop).
    var inPlaceApplicators: [Int] {
        var result: [Int] = []
        if let ref { result.append(ref) }
        result += allOf + anyOf + oneOf
        if let not { result.append(not) }
        if let ifSchema {
            result.append(ifSchema)
            if let thenSchema { result.append(thenSchema) }
            if let elseSchema { result.append(elseSchema) }
        }
        result += dependentSchemas.map(\.schema)
        return result
    }
}

/// One compiled subschema, immutable and shared by reference so that evaluation copies nothing.
final class SchemaNode: Sendable {
    /// The keywords.
    let keywords: SchemaKeywords
    /// Whether any number keyword is present.
    let checksNumbers: Bool
    /// Whether any string keyword is present.
    let checksStrings: Bool
    /// Whether any array keyword is present.
    let checksArrays: Bool
    /// Whether any object keyword is present.
    let checksObjects: Bool
    /// Whether `properties`, `patternProperties` or `additionalProperties` is present.
    let checksMembers: Bool

    /// Wraps `keywords` and precomputes which instance kinds they concern.
    init(_ keywords: SchemaKeywords) {
        self.keywords = keywords
        let k = keywords
        checksNumbers = k.minimum != nil || k.maximum != nil || k.exclusiveMinimum != nil
            || k.exclusiveMaximum != nil || k.multipleOf != nil
        checksStrings = k.minLength != nil || k.maxLength != nil || k.pattern != nil
        checksArrays = !k.prefixItems.isEmpty || k.items != nil || k.contains != nil
            || k.minItems != nil || k.maxItems != nil || k.uniqueItems
        checksMembers = !k.properties.isEmpty || !k.patternProperties.isEmpty || k.additionalProperties != nil
        checksObjects = checksMembers || !k.required.isEmpty || k.minProperties != nil || k.maxProperties != nil
            || k.propertyNames != nil || !k.dependentRequired.isEmpty || !k.dependentSchemas.isEmpty
    }

    /// Whether this is the `false` schema, which rejects every value.
    var rejectsAll: Bool { keywords.boolean == false }
}

/// Compiles a schema document into a ``SchemaProgram``.
struct SchemaCompiler {
    /// The whole schema document, which local references point into.
    let document: JSONValue
    /// Nodes compiled so far; `nil` while a node's own keywords are still being compiled.
    private var nodes: [SchemaKeywords?] = []
    /// The schema location (JSON pointer) of each node, for error messages.
    private var locations: [String] = []
    /// The node compiled for each schema location, so that references share nodes and cycles close.
    private var indexByLocation: [String: Int] = [:]

    /// Creates a compiler for `document`.
    init(document: JSONValue) {
        self.document = document
    }

    /// Compiles the whole document.
    ///
    /// - Throws: ``JSONSchemaError`` for the first problem found.
    mutating func compile() throws(JSONSchemaError) -> SchemaProgram {
        let root = try compileSchema(document, at: [], resource: [])
        try checkForInPlaceCycles()
        return SchemaProgram(nodes: nodes.map { SchemaNode($0!) }, root: root)
    }

    // MARK: Schemas

    /// Compiles the subschema `value` found at `location`; `resource` is the location of the schema
    /// resource it belongs to (the nearest enclosing subschema with an `$id`), against which `#` pointers resolve.
    private mutating func compileSchema(_ value: JSONValue, at location: [String], resource: [String]) throws(JSONSchemaError) -> Int {
        let key = SchemaText.pointer(location)
        if let existing = indexByLocation[key] { return existing }
        let index = nodes.count
        nodes.append(nil)
        locations.append(key)
        indexByLocation[key] = index

        var keywords = SchemaKeywords()
        switch value {
        case .bool(let bool):
            keywords.boolean = bool
        case .object(let members):
            let resource = Self.startsResource(members) ? location : resource
            try compileKeywords(members, at: location, resource: resource, into: &keywords)
        default:
            throw error(location, "a schema must be an object or a boolean, not \(SchemaTypeSet.phrase(of: value))")
        }
        nodes[index] = keywords
        return index
    }

    /// Whether a schema object with these members is an embedded resource (has a non-fragment `$id`).
    private static func startsResource(_ members: [String: JSONValue]) -> Bool {
        guard case .string(let id)? = members["$id"] else { return false }
        return !id.isEmpty && !id.hasPrefix("#")
    }

    /// Compiles every keyword of a schema object into `keywords`.
    private mutating func compileKeywords(
        _ members: [String: JSONValue], at location: [String], resource: [String], into keywords: inout SchemaKeywords
    ) throws(JSONSchemaError) {
        // Sorted, so that the first error reported does not depend on dictionary order.
        for name in members.keys.sorted() {
            let value = members[name]!
            let here = location + [name]
            switch name {
            // Structure.
            case "$ref":
                keywords.ref = try compileReference(value, at: here, resource: resource)
            case "$defs":
                for (defName, def) in try schemaMap(value, at: here) {
                    _ = try compileSchema(def, at: here + [defName], resource: resource)
                }
            case "$id", "$schema", "$anchor", "$dynamicAnchor", "$comment":
                guard case .string = value else { throw error(here, "must be a string") }
            case "$dynamicRef", "$recursiveRef", "unevaluatedProperties", "unevaluatedItems":
                throw error(here, "the keyword \(name) is not supported")

            // Any instance.
            case "type":
                keywords.types = try typeSet(value, at: here)
            case "enum":
                guard case .array(let values) = value else { throw error(here, "must be an array") }
                keywords.enumValues = values
            case "const":
                keywords.constValue = [value]

            // Numbers.
            case "minimum": keywords.minimum = try number(value, at: here)
            case "maximum": keywords.maximum = try number(value, at: here)
            case "exclusiveMinimum": keywords.exclusiveMinimum = try number(value, at: here)
            case "exclusiveMaximum": keywords.exclusiveMaximum = try number(value, at: here)
            case "multipleOf":
                let divisor = try number(value, at: here)
                guard divisor.doubleValue > 0 else { throw error(here, "must be a number greater than 0") }
                keywords.multipleOf = SchemaDivisor(divisor)

            // Strings.
            case "minLength": keywords.minLength = try count(value, at: here)
            case "maxLength": keywords.maxLength = try count(value, at: here)
            case "pattern":
                keywords.pattern = try pattern(value, at: here)

            // Arrays.
            case "prefixItems":
                keywords.prefixItems = try schemaList(value, at: here, resource: resource)
            case "items":
                if case .array = value {
                    throw error(here, "must be a schema (an object or a boolean); use prefixItems for a list of item schemas")
                }
                keywords.items = try compileSchema(value, at: here, resource: resource)
            case "contains": keywords.contains = try compileSchema(value, at: here, resource: resource)
            case "minContains": keywords.minContains = try count(value, at: here)
            case "maxContains": keywords.maxContains = try count(value, at: here)
            case "minItems": keywords.minItems = try count(value, at: here)
            case "maxItems": keywords.maxItems = try count(value, at: here)
            case "uniqueItems":
                guard case .bool(let bool) = value else { throw error(here, "must be a boolean") }
                keywords.uniqueItems = bool

            // Objects.
            case "properties":
                for (property, schema) in try schemaMap(value, at: here) {
                    keywords.properties[property] = try compileSchema(schema, at: here + [property], resource: resource)
                }
            case "patternProperties":
                for (source, schema) in try schemaMap(value, at: here) {
                    let compiled = try pattern(.string(source), at: here + [source])
                    let node = try compileSchema(schema, at: here + [source], resource: resource)
                    keywords.patternProperties.append(SchemaPatternRule(pattern: compiled, schema: node))
                }
            case "additionalProperties":
                keywords.additionalProperties = try compileSchema(value, at: here, resource: resource)
            case "required":
                keywords.required = try stringSet(value, at: here)
            case "minProperties": keywords.minProperties = try count(value, at: here)
            case "maxProperties": keywords.maxProperties = try count(value, at: here)
            case "propertyNames":
                keywords.propertyNames = try compileSchema(value, at: here, resource: resource)
            case "dependentRequired":
                guard case .object(let entries) = value else { throw error(here, "must be an object") }
                for property in entries.keys.sorted() {
                    let required = try stringSet(entries[property]!, at: here + [property])
                    keywords.dependentRequired.append(SchemaDependentRequired(property: property, required: required))
                }
            case "dependentSchemas":
                for (property, schema) in try schemaMap(value, at: here) {
                    let node = try compileSchema(schema, at: here + [property], resource: resource)
                    keywords.dependentSchemas.append(SchemaDependentSchema(property: property, schema: node))
                }

            // Combinators.
            case "allOf": keywords.allOf = try schemaList(value, at: here, resource: resource)
            case "anyOf": keywords.anyOf = try schemaList(value, at: here, resource: resource)
            case "oneOf": keywords.oneOf = try schemaList(value, at: here, resource: resource)
            case "not": keywords.not = try compileSchema(value, at: here, resource: resource)
            case "if": keywords.ifSchema = try compileSchema(value, at: here, resource: resource)
            case "then": keywords.thenSchema = try compileSchema(value, at: here, resource: resource)
            case "else": keywords.elseSchema = try compileSchema(value, at: here, resource: resource)

            default:
                break  // annotations (title, description, default, examples, format, ...) and unknown keywords
            }
        }
    }

    // MARK: References

    /// Resolves a `$ref` value to the node of the subschema it points to, compiling it if needed.
    private mutating func compileReference(_ value: JSONValue, at location: [String], resource: [String]) throws(JSONSchemaError) -> Int {
        guard case .string(let reference) = value else { throw error(location, "must be a string") }
        let shown = SchemaText.quoted(reference)
        guard reference.isEmpty || reference.hasPrefix("#") else {
            throw error(location, "the reference \(shown) is not supported: only local references starting with \"#\" are")
        }
        let fragment = String(reference.dropFirst())
        guard let decoded = fragment.removingPercentEncoding else {
            throw error(location, "the reference \(shown) has invalid percent-encoding")
        }
        guard decoded.isEmpty || decoded.hasPrefix("/") else {
            throw error(location, "the reference \(shown) names an anchor, which is not supported: use a JSON pointer such as \"#/$defs/name\"")
        }
        var tokens: [String] = []
        if !decoded.isEmpty {
            for raw in decoded.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
                guard let token = Self.unescapePointerToken(raw) else {
                    throw error(location, "the reference \(shown) is not a valid JSON pointer (\"~\" must be followed by 0 or 1)")
                }
                tokens.append(token)
            }
        }
        let targetLocation = resource + tokens
        guard let (target, targetResource) = lookUp(targetLocation) else {
            throw error(location, "the reference \(shown) does not point to anything in this schema")
        }
        return try compileSchema(target, at: targetLocation, resource: targetResource)
    }

    /// Unescapes a JSON pointer reference token (`~1` to `/`, `~0` to `~`); `nil` for other uses of `~`.
    private static func unescapePointerToken(_ raw: Substring) -> String? {
        guard raw.contains("~") else { return String(raw) }
        var result = ""
        var iterator = raw.makeIterator()
        while let character = iterator.next() {
            guard character == "~" else {
                result.append(character)
                continue
            }
            switch iterator.next() {
            case "0": result.append("~")
            case "1": result.append("/")
            default: return nil
            }
        }
        return result
    }

    /// The value at `location` in the document and the resource it belongs to, or `nil` if there is none.
    private func lookUp(_ location: [String]) -> (JSONValue, [String])? {
        var current = document
        var resource: [String] = []
        for (depth, token) in location.enumerated() {
            if depth > 0, case .object(let members) = current, Self.startsResource(members) {
                resource = Array(location[..<depth])
            }
            switch current {
            case .object(let members):
                guard let next = members[token] else { return nil }
                current = next
            case .array(let elements):
                // RFC 6901: "0" or digits without a leading zero.
                guard !token.isEmpty, token.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                      token == "0" || !token.hasPrefix("0"),
                      let index = Int(token), elements.indices.contains(index)
                else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return (current, resource)
    }

    /// Fails if some chain of in-place applicators (`$ref`, `allOf`, `not`, ...) leads back to where it
    /// started: validating would then recurse forever without ever descending into the instance.
    private func checkForInPlaceCycles() throws(JSONSchemaError) {
        enum Mark { case unvisited, inProgress, done }
        var marks = [Mark](repeating: .unvisited, count: nodes.count)
        for start in nodes.indices where marks[start] == .unvisited {
            // Iterative depth-first search: (node, index of the next edge to follow).
            var stack: [(node: Int, next: Int)] = [(start, 0)]
            marks[start] = .inProgress
            while let (node, next) = stack.last {
                let edges = nodes[node]!.inPlaceApplicators
                if next == edges.count {
                    marks[node] = .done
                    stack.removeLast()
                    continue
                }
                stack[stack.count - 1].next += 1
                let target = edges[next]
                switch marks[target] {
                case .inProgress:
                    throw JSONSchemaError(
                        path: locations[node],
                        message: "this subschema leads back to \(locations[target].isEmpty ? "the root" : locations[target]) without descending into the value, so validation would never end")
                case .unvisited:
                    marks[target] = .inProgress
                    stack.append((target, 0))
                case .done:
                    break
                }
            }
        }
    }

    // MARK: Keyword values

    /// An error at `location`.
    private func error(_ location: [String], _ message: String) -> JSONSchemaError {
        JSONSchemaError(path: SchemaText.pointer(location), message: message)
    }

    /// The members of an object whose values are schemas (`properties`, `$defs`, ...), sorted by name.
    private func schemaMap(_ value: JSONValue, at location: [String]) throws(JSONSchemaError) -> [(String, JSONValue)] {
        guard case .object(let members) = value else { throw error(location, "must be an object") }
        return members.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Compiles a non-empty array of schemas (`allOf`, `prefixItems`, ...).
    private mutating func schemaList(_ value: JSONValue, at location: [String], resource: [String]) throws(JSONSchemaError) -> [Int] {
        guard case .array(let elements) = value, !elements.isEmpty else {
            throw error(location, "must be a non-empty array of schemas")
        }
        var result: [Int] = []
        for (index, element) in elements.enumerated() {
            result.append(try compileSchema(element, at: location + [String(index)], resource: resource))
        }
        return result
    }

    /// A number keyword value.
    private func number(_ value: JSONValue, at location: [String]) throws(JSONSchemaError) -> SchemaNumber {
        guard let number = SchemaNumber(value) else { throw error(location, "must be a number") }
        return number
    }

    /// A non-negative integer keyword value (`minLength`, `maxItems`, ...); `2.0` is accepted, huge values saturate.
    private func count(_ value: JSONValue, at location: [String]) throws(JSONSchemaError) -> Int {
        switch value {
        case .int(let int) where int >= 0:
            return Int(clamping: int)
        case .double(let double) where double >= 0 && double.isFinite && double.rounded(.towardZero) == double:
            return Int(exactly: double) ?? Int.max
        default:
            throw error(location, "must be a non-negative integer")
        }
    }

    /// A `type` value: one type name or a non-empty array of distinct names.
    private func typeSet(_ value: JSONValue, at location: [String]) throws(JSONSchemaError) -> SchemaTypeSet {
        let allowed = "must be one of \"array\", \"boolean\", \"integer\", \"null\", \"number\", \"object\", \"string\""
        switch value {
        case .string(let name):
            guard let type = SchemaTypeSet(name: name) else { throw error(location, allowed) }
            return type
        case .array(let names) where !names.isEmpty:
            var result: SchemaTypeSet = []
            for (index, element) in names.enumerated() {
                guard case .string(let name) = element, let type = SchemaTypeSet(name: name) else {
                    throw error(location + [String(index)], allowed)
                }
                guard !result.contains(type) else { throw error(location + [String(index)], "must not repeat a type") }
                result.insert(type)
            }
            return result
        default:
            throw error(location, "must be a type name or a non-empty array of type names")
        }
    }

    /// An array of distinct strings (`required`, `dependentRequired` entries).
    private func stringSet(_ value: JSONValue, at location: [String]) throws(JSONSchemaError) -> [String] {
        guard case .array(let elements) = value else { throw error(location, "must be an array of strings") }
        var result: [String] = []
        var seen: Set<String> = []
        for (index, element) in elements.enumerated() {
            guard case .string(let string) = element else {
                throw error(location + [String(index)], "must be a string")
            }
            guard seen.insert(string).inserted else {
                throw error(location + [String(index)], "must not repeat \(SchemaText.quoted(string))")
            }
            result.append(string)
        }
        return result
    }

    /// A compiled `pattern` value.
    private func pattern(_ value: JSONValue, at location: [String]) throws(JSONSchemaError) -> SchemaPattern {
        guard case .string(let source) = value else { throw error(location, "must be a string") }
        guard let pattern = SchemaPattern(source) else {
            throw error(location, "\(SchemaText.quoted(source)) is not a valid regular expression")
        }
        return pattern
    }
}
