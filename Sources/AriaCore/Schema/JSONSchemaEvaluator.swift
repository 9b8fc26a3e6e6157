/// One step of an instance path: an object member or an array element.
enum InstancePathComponent: Sendable {
    /// An object member.
    case key(String)
    /// An array element.
    case index(Int)
}

/// Collects violations up to a limit; when not recording, only counts them (for pass/fail checks).
struct ViolationSink {
    /// How many violations to collect before evaluation stops.
    let limit: Int
    /// Whether violations are rendered and kept, or only counted.
    let records: Bool
    /// How many violations were reported.
    private(set) var count = 0
    /// The violations kept (when recording).
    private(set) var violations: [JSONSchemaViolation] = []

    /// Creates a sink that stops at `limit` violations and keeps them if `records`.
    init(limit: Int, records: Bool) {
        self.limit = limit
        self.records = records
    }

    /// Whether the limit is reached, so evaluation should stop.
    var isFull: Bool { count >= limit }

    /// Reports a violation of `keyword` at `path`; the message is built only when recording.
    mutating func report(_ path: [InstancePathComponent], _ keyword: String, _ message: @autoclosure () -> String) {
        guard count < limit else { return }
        count += 1
        guard records else { return }
        violations.append(JSONSchemaViolation(instancePath: Self.render(path), keyword: keyword, message: message()))
    }

    /// Appends violations found by a nested recording sink.
    mutating func absorb(_ other: ViolationSink) {
        for violation in other.violations where count < limit {
            count += 1
            if records { violations.append(violation) }
        }
    }

    /// The JSON pointer for `path`.
    static func render(_ path: [InstancePathComponent]) -> String {
        var result = ""
        for component in path {
            result.append("/")
            switch component {
            case .key(let key): result.append(SchemaText.escapePointerToken(key))
            case .index(let index): result.append(String(index))
            }
        }
        return result
    }
}

/// Applies compiled nodes to instances.
struct SchemaEvaluator {
    /// The compiled nodes of the schema.
    let nodes: [SchemaNode]

    /// Evaluates node `index` against `instance` located at `path`, reporting into `sink`.
    func evaluate(_ index: Int, _ instance: JSONValue, _ path: inout [InstancePathComponent], _ sink: inout ViolationSink) {
        let node = nodes[index]
        // Passing the keywords as an argument borrows them; binding them to a local would copy every field.
        evaluate(node, node.keywords, instance, &path, &sink)
    }

    /// Evaluates `node`, whose keywords are `k`, against `instance` located at `path`.
    private func evaluate(
        _ node: SchemaNode, _ k: SchemaKeywords, _ instance: JSONValue,
        _ path: inout [InstancePathComponent], _ sink: inout ViolationSink
    ) {
        if let boolean = k.boolean {
            if !boolean { sink.report(path, "false", "is not allowed here") }
            return
        }
        if let ref = k.ref {
            evaluate(ref, instance, &path, &sink)
            if sink.isFull { return }
        }
        if let types = k.types, !types.accepts(instance) {
            sink.report(path, "type", "must be \(types.phrase), but is \(SchemaTypeSet.phrase(of: instance))")
            if sink.isFull { return }
        }
        if let constant = k.constValue?.first, !SchemaEquality.equal(instance, constant) {
            sink.report(path, "const", Self.constMessage(constant))
            if sink.isFull { return }
        }
        if let values = k.enumValues, !values.contains(where: { SchemaEquality.equal(instance, $0) }) {
            sink.report(path, "enum", Self.enumMessage(values))
            if sink.isFull { return }
        }

        switch instance {
        case .int, .double:
            if node.checksNumbers, let number = SchemaNumber(instance) {
                checkNumber(number, k, path, &sink)
            }
        case .string(let string):
            if node.checksStrings { checkString(string, k, path, &sink) }
        case .array(let elements):
            if node.checksArrays { checkArray(elements, k, &path, &sink) }
        case .object(let members):
            if node.checksObjects { checkObject(members, instance, node, k, &path, &sink) }
        case .null, .bool:
            break
        }
        if sink.isFull { return }

        applyCombinators(k, instance, &path, &sink)
    }

    /// Whether node `index` accepts `instance`, without recording anything.
    func accepts(_ index: Int, _ instance: JSONValue, _ path: inout [InstancePathComponent]) -> Bool {
        var sink = ViolationSink(limit: 1, records: false)
        evaluate(index, instance, &path, &sink)
        return sink.count == 0
    }

    // MARK: Numbers and strings

    /// Applies the number keywords.
    private func checkNumber(_ number: SchemaNumber, _ k: SchemaKeywords, _ path: [InstancePathComponent], _ sink: inout ViolationSink) {
        if let minimum = k.minimum, SchemaNumber.compare(number, minimum) < 0 {
            sink.report(path, "minimum", "must be greater than or equal to \(minimum)")
        }
        if let maximum = k.maximum, SchemaNumber.compare(number, maximum) > 0 {
            sink.report(path, "maximum", "must be less than or equal to \(maximum)")
        }
        if let minimum = k.exclusiveMinimum, SchemaNumber.compare(number, minimum) <= 0 {
            sink.report(path, "exclusiveMinimum", "must be greater than \(minimum)")
        }
        if let maximum = k.exclusiveMaximum, SchemaNumber.compare(number, maximum) >= 0 {
            sink.report(path, "exclusiveMaximum", "must be less than \(maximum)")
        }
        if let divisor = k.multipleOf, !divisor.divides(number) {
            sink.report(path, "multipleOf", "must be a multiple of \(divisor.number)")
        }
    }

    /// Applies the string keywords; lengths count Unicode code points.
    private func checkString(_ string: String, _ k: SchemaKeywords, _ path: [InstancePathComponent], _ sink: inout ViolationSink) {
        if k.minLength != nil || k.maxLength != nil {
            let length = string.unicodeScalars.count
            if let minimum = k.minLength, length < minimum {
                sink.report(path, "minLength", "must be at least \(SchemaText.count(minimum, "character", "characters"))")
            }
            if let maximum = k.maxLength, length > maximum {
                sink.report(path, "maxLength", "must be at most \(SchemaText.count(maximum, "character", "characters"))")
            }
        }
        if let pattern = k.pattern, !pattern.matches(string) {
            sink.report(path, "pattern", "must match the pattern \(SchemaText.quoted(pattern.source))")
        }
    }

    // MARK: Arrays

    /// Applies the array keywords, descending into the items.
    private func checkArray(_ elements: [JSONValue], _ k: SchemaKeywords, _ path: inout [InstancePathComponent], _ sink: inout ViolationSink) {
        if let minimum = k.minItems, elements.count < minimum {
            sink.report(path, "minItems", "must have at least \(SchemaText.count(minimum, "item", "items"))")
        }
        if let maximum = k.maxItems, elements.count > maximum {
            sink.report(path, "maxItems", "must have at most \(SchemaText.count(maximum, "item", "items"))")
        }
        if k.uniqueItems, let (first, second) = Self.firstDuplicate(in: elements) {
            sink.report(path, "uniqueItems", "must not contain duplicate items (items \(first) and \(second) are equal)")
        }
        if sink.isFull { return }

        for (position, schema) in zip(elements.indices, k.prefixItems) {
            path.append(.index(position))
            if nodes[schema].rejectsAll {
                sink.report(path, "prefixItems", "is not allowed")
            } else {
                evaluate(schema, elements[position], &path, &sink)
            }
            path.removeLast()
            if sink.isFull { return }
        }
        if let items = k.items, elements.count > k.prefixItems.count {
            if nodes[items].rejectsAll {
                path.append(.index(k.prefixItems.count))
                sink.report(path, "items", "is not allowed: the array may have at most \(SchemaText.count(k.prefixItems.count, "item", "items"))")
                path.removeLast()
            } else {
                for position in k.prefixItems.count..<elements.count {
                    path.append(.index(position))
                    evaluate(items, elements[position], &path, &sink)
                    path.removeLast()
                    if sink.isFull { return }
                }
            }
        }
        if let contains = k.contains {
            let minimum = k.minContains ?? 1
            let maximum = k.maxContains
            var matches = 0
            for position in elements.indices {
                path.append(.index(position))
                if accepts(contains, elements[position], &path) { matches += 1 }
                path.removeLast()
                if matches >= minimum, maximum.map({ matches > $0 }) ?? true { break }  // the outcome is settled
            }
            if matches < minimum {
                sink.report(path, "contains", "must contain at least \(SchemaText.count(minimum, "item", "items")) matching the \"contains\" schema")
            }
            if let maximum, matches > maximum {
                sink.report(path, "maxContains", "must contain at most \(SchemaText.count(maximum, "item", "items")) matching the \"contains\" schema")
            }
        }
    }

    /// The indices of the first pair of equal elements, or `nil` if all are distinct.
    private static func firstDuplicate(in elements: [JSONValue]) -> (Int, Int)? {
        guard elements.count > 1 else { return nil }
        if elements.count <= 16 {  // small arrays: comparing pairs beats hashing
            for second in 1..<elements.count {
                for first in 0..<second where SchemaEquality.equal(elements[first], elements[second]) {
                    return (first, second)
                }
            }
            return nil
        }
        var firstIndex: [SchemaEquatableValue: Int] = [:]
        firstIndex.reserveCapacity(elements.count)
        for (position, element) in elements.enumerated() {
            if let earlier = firstIndex[SchemaEquatableValue(value: element)] { return (earlier, position) }
            firstIndex[SchemaEquatableValue(value: element)] = position
        }
        return nil
    }

    // MARK: Objects

    /// Applies the object keywords `k` of `node`, descending into the members.
    private func checkObject(
        _ members: [String: JSONValue], _ instance: JSONValue, _ node: SchemaNode, _ k: SchemaKeywords,
        _ path: inout [InstancePathComponent], _ sink: inout ViolationSink
    ) {
        if let minimum = k.minProperties, members.count < minimum {
            sink.report(path, "minProperties", "must have at least \(SchemaText.count(minimum, "property", "properties"))")
        }
        if let maximum = k.maxProperties, members.count > maximum {
            sink.report(path, "maxProperties", "must have at most \(SchemaText.count(maximum, "property", "properties"))")
        }
        for name in k.required where members[name] == nil {
            sink.report(path, "required", "must have the required property \(SchemaText.quoted(name))")
            if sink.isFull { return }
        }
        for dependency in k.dependentRequired where members[dependency.property] != nil {
            for name in dependency.required where members[name] == nil {
                sink.report(path, "dependentRequired",
                            "must have the property \(SchemaText.quoted(name)) when \(SchemaText.quoted(dependency.property)) is present")
                if sink.isFull { return }
            }
        }
        if let names = k.propertyNames {
            for key in sink.records ? members.keys.sorted() : Array(members.keys) {
                var namePath: [InstancePathComponent] = []
                var nameSink = ViolationSink(limit: 1, records: sink.records)
                evaluate(names, .string(key), &namePath, &nameSink)
                if nameSink.count > 0 {
                    let reason = nameSink.violations.first.map { ": \($0.message)" } ?? ""
                    sink.report(path, "propertyNames", "has the invalid property name \(SchemaText.quoted(key))\(reason)")
                    if sink.isFull { return }
                }
            }
        }
        if node.checksMembers {
            if sink.records {
                for key in members.keys.sorted() {
                    checkMember(key, members[key]!, k, &path, &sink)
                    if sink.isFull { return }
                }
            } else {
                for (key, value) in members {
                    checkMember(key, value, k, &path, &sink)
                    if sink.isFull { return }
                }
            }
        }
        for dependency in k.dependentSchemas where members[dependency.property] != nil {
            evaluate(dependency.schema, instance, &path, &sink)
            if sink.isFull { return }
        }
    }

    /// Applies `properties`, `patternProperties` and `additionalProperties` to one member.
    private func checkMember(
        _ key: String, _ value: JSONValue, _ k: SchemaKeywords,
        _ path: inout [InstancePathComponent], _ sink: inout ViolationSink
    ) {
        path.append(.key(key))
        defer { path.removeLast() }
        var matched = false
        if let schema = k.properties[key] {
            matched = true
            applyToMember(schema, "properties", value, &path, &sink)
        }
        for rule in k.patternProperties where rule.pattern.matches(key) {
            matched = true
            if sink.isFull { return }
            applyToMember(rule.schema, "patternProperties", value, &path, &sink)
        }
        if !matched, let schema = k.additionalProperties, !sink.isFull {
            applyToMember(schema, "additionalProperties", value, &path, &sink)
        }
    }

    /// Evaluates a member schema, reporting a `false` schema as a disallowed property under `keyword`.
    private func applyToMember(
        _ schema: Int, _ keyword: String, _ value: JSONValue,
        _ path: inout [InstancePathComponent], _ sink: inout ViolationSink
    ) {
        if nodes[schema].rejectsAll {
            sink.report(path, keyword, "is not an allowed property")
        } else {
            evaluate(schema, value, &path, &sink)
        }
    }

    // MARK: Combinators

    /// Applies `allOf`, `anyOf`, `oneOf`, `not` and `if`/`then`/`else`.
    private func applyCombinators(_ k: SchemaKeywords, _ instance: JSONValue, _ path: inout [InstancePathComponent], _ sink: inout ViolationSink) {
        for schema in k.allOf {
            evaluate(schema, instance, &path, &sink)
            if sink.isFull { return }
        }
        if !k.anyOf.isEmpty, !k.anyOf.contains(where: { accepts($0, instance, &path) }) {
            reportNoMatch(k.anyOf, "anyOf", instance, &path, &sink)
            if sink.isFull { return }
        }
        if !k.oneOf.isEmpty {
            var matching: [Int] = []
            for (position, schema) in k.oneOf.enumerated() where accepts(schema, instance, &path) {
                matching.append(position)
                if matching.count == 2 { break }
            }
            if matching.isEmpty {
                reportNoMatch(k.oneOf, "oneOf", instance, &path, &sink)
            } else if matching.count > 1 {
                sink.report(path, "oneOf",
                            "must match exactly one of the \(k.oneOf.count) allowed schemas, but matches more than one (schemas \(matching[0]) and \(matching[1]))")
            }
            if sink.isFull { return }
        }
        if let not = k.not, accepts(not, instance, &path) {
            sink.report(path, "not", "must not match the schema in \"not\"")
            if sink.isFull { return }
        }
        if let condition = k.ifSchema {
            let branch = accepts(condition, instance, &path) ? k.thenSchema : k.elseSchema
            if let branch {
                evaluate(branch, instance, &path, &sink)
            }
        }
    }

    /// Reports that no schema of an `anyOf`/`oneOf` matches, as helpfully as the schemas allow:
    /// when only one alternative accepts the value's type, its own violations explain the failure;
    /// when none does, the message lists the accepted types.
    private func reportNoMatch(
        _ schemas: [Int], _ keyword: String, _ instance: JSONValue,
        _ path: inout [InstancePathComponent], _ sink: inout ViolationSink
    ) {
        let requirement = keyword == "oneOf" ? "exactly one" : "at least one"
        let generic = "must match \(requirement) of the \(schemas.count) allowed schemas"
        guard sink.records else {
            sink.report(path, keyword, generic)
            return
        }
        var declaredTypes: SchemaTypeSet = []
        var candidates: [Int] = []
        for schema in schemas {
            let keywords = nodes[schema].keywords
            if keywords.boolean == false { continue }
            if let types = keywords.types, !types.accepts(instance) {
                declaredTypes.formUnion(types)
            } else {
                candidates.append(schema)
            }
        }
        if candidates.isEmpty, !declaredTypes.isEmpty {
            sink.report(path, keyword, "must be \(declaredTypes.phrase), but is \(SchemaTypeSet.phrase(of: instance))")
        } else if candidates.count == 1 {
            var nested = ViolationSink(limit: sink.limit - sink.count, records: true)
            evaluate(candidates[0], instance, &path, &nested)
            if nested.violations.isEmpty {
                sink.report(path, keyword, generic)
            } else {
                sink.absorb(nested)
            }
        } else {
            sink.report(path, keyword, generic)
        }
    }

    // MARK: Messages

    /// The message for a failed `const`.
    private static func constMessage(_ constant: JSONValue) -> String {
        let text = constant.jsonString
        return text.count <= SchemaText.maxEchoLength ? "must be equal to \(text)" : "must be equal to the allowed constant value"
    }

    /// The message for a failed `enum`: the allowed values when they fit, else their number and the first few.
    private static func enumMessage(_ values: [JSONValue]) -> String {
        guard !values.isEmpty else { return "must be one of the allowed values, but none are allowed" }
        var shown: [String] = []
        var length = 0
        for value in values {
            let text = value.jsonString
            let added = text.count + (shown.isEmpty ? 0 : 2)
            guard length + added <= SchemaText.maxEchoLength else { break }
            shown.append(text)
            length += added
        }
        if shown.count == values.count {
            return values.count == 1 ? "must be equal to \(shown[0])" : "must be one of \(shown.joined(separator: ", "))"
        }
        if shown.isEmpty {
            return "must be one of the \(values.count) allowed values"
        }
        return "must be one of the \(values.count) allowed values, such as \(shown.joined(separator: ", "))"
    }
}
