/// A small JMESPath-style expression language for `json_transform` (documented in `docs/skills.md`).
///
/// Supported: identifiers and quoted identifiers (`a`, `"a-b"`), `@`, sub-expressions `a.b`, indexes
/// `a[0]` / `a[-1]`, slices are not supported; projections `a[*].b`, `a[].b` (flatten), `*.b` (object
/// values), filters `a[?x == 'y'].b`; multiselect `{k: a, n: b.c}` and `[a, b]`; pipes `a | b`;
/// comparisons `== != < <= > >=`, `&&`, `||`, `!`; literals `'raw string'` and `` `json` ``; functions
/// `length`, `keys`, `values`, `join`, `to_string`, `to_number`, `sum`, `min`, `max`, `sort`, `contains`,
/// `starts_with`, `not_null`. Missing fields give `null`, as in JMESPath.
public struct JSONPathExpression: Sendable {
    indirect enum Node: Sendable {
        case current
        case field(String)
        case index(Int)
        case literal(JSONValue)
        case subexpression(Node, Node)
        case projection(Node, Node)          // left yields an array; right applied to each element
        case flattenProjection(Node, Node)
        case valuesProjection(Node, Node)
        case filterProjection(Node, Node, Node)  // left, condition, right
        case pipe(Node, Node)
        case comparison(String, Node, Node)
        case and(Node, Node)
        case or(Node, Node)
        case not(Node)
        case multiHash([(String, Node)])
        case multiList([Node])
        case function(String, [Node])
    }

    let root: Node

    /// Parses an expression; throws `invalid_params` with the position of the problem.
    public init(_ text: String) throws(AriaError) {
        var parser = Parser(Array(text.unicodeScalars))
        root = try parser.parseExpression(0)
        guard parser.atEnd else { throw parser.error("unexpected '\(parser.peekDescription)'") }
    }

    /// Evaluates the expression against `input`.
    public func evaluate(_ input: JSONValue) throws(AriaError) -> JSONValue {
        try Self.eval(root, input)
    }

    static func eval(_ node: Node, _ value: JSONValue) throws(AriaError) -> JSONValue {
        switch node {
        case .current: return value
        case .field(let name): return value[name] ?? .null
        case .index(let index):
            guard let array = value.arrayValue else { return .null }
            let position = index < 0 ? array.count + index : index
            return array.indices.contains(position) ? array[position] : .null
        case .literal(let literal): return literal
        case .subexpression(let left, let right):
            let base = try eval(left, value)
            return base.isNull ? .null : try eval(right, base)
        case .projection(let left, let right):
            guard let array = try eval(left, value).arrayValue else { return .null }
            return try project(array, right)
        case .flattenProjection(let left, let right):
            guard let array = try eval(left, value).arrayValue else { return .null }
            var flat: [JSONValue] = []
            for item in array { if let inner = item.arrayValue { flat += inner } else { flat.append(item) } }
            return try project(flat, right)
        case .valuesProjection(let left, let right):
            guard let object = try eval(left, value).objectValue else { return .null }
            return try project(object.keys.sorted().map { object[$0]! }, right)
        case .filterProjection(let left, let condition, let right):
            guard let array = try eval(left, value).arrayValue else { return .null }
            var kept: [JSONValue] = []
            for item in array where truthy(try eval(condition, item)) { kept.append(item) }
            return try project(kept, right)
        case .pipe(let left, let right): return try eval(right, try eval(left, value))
        case .comparison(let op, let left, let right):
            return .bool(try compare(op, try eval(left, value), try eval(right, value)))
        case .and(let left, let right):
            let first = try eval(left, value)
            return truthy(first) ? try eval(right, value) : first
        case .or(let left, let right):
            let first = try eval(left, value)
            return truthy(first) ? first : try eval(right, value)
        case .not(let inner): return .bool(!truthy(try eval(inner, value)))
        case .multiHash(let pairs):
            if value.isNull { return .null }
            var object: [String: JSONValue] = [:]
            for (key, expression) in pairs { object[key] = try eval(expression, value) }
            return .object(object)
        case .multiList(let items):
            if value.isNull { return .null }
            var list: [JSONValue] = []
            for item in items { list.append(try eval(item, value)) }
            return .array(list)
        case .function(let name, let arguments):
            var values: [JSONValue] = []
            for argument in arguments { values.append(try eval(argument, value)) }
            return try call(name, values)
        }
    }

    static func project(_ items: [JSONValue], _ right: Node) throws(AriaError) -> JSONValue {
        var out: [JSONValue] = []
        for item in items {
            let result = try eval(right, item)
            if !result.isNull { out.append(result) }
        }
        return .array(out)
    }

    static func truthy(_ value: JSONValue) -> Bool {
        switch value {
        case .null: false
        case .bool(let flag): flag
        case .string(let text): !text.isEmpty
        case .array(let items): !items.isEmpty
        case .object(let fields): !fields.isEmpty
        default: true
        }
    }

    static func compare(_ op: String, _ left: JSONValue, _ right: JSONValue) throws(AriaError) -> Bool {
        switch op {
        case "==": return equal(left, right)
        case "!=": return !equal(left, right)
        default:
            guard let a = left.doubleValue, let b = right.doubleValue else { return false }
            switch op {
            case "<": return a < b
            case "<=": return a <= b
            case ">": return a > b
            default: return a >= b
            }
        }
    }

    static func equal(_ left: JSONValue, _ right: JSONValue) -> Bool {
        switch (left, right) {
        case (.int, .int), (.int, .double), (.double, .int), (.double, .double): left.doubleValue == right.doubleValue
        default: left == right
        }
    }

    static func call(_ name: String, _ args: [JSONValue]) throws(AriaError) -> JSONValue {
        func arity(_ count: Int) throws(AriaError) {
            guard args.count == count else { throw AriaError(.invalidParams, "\(name)() takes \(count) argument(s)") }
        }
        func numbers(_ value: JSONValue) throws(AriaError) -> [Double] {
            guard let items = value.arrayValue else { throw AriaError(.invalidParams, "\(name)() needs an array of numbers") }
            var out: [Double] = []
            for item in items {
                guard let number = item.doubleValue else { throw AriaError(.invalidParams, "\(name)() needs an array of numbers") }
                out.append(number)
            }
            return out
        }
        func number(_ value: Double) -> JSONValue { value == value.rounded() && abs(value) < 9e15 ? .int(Int64(value)) : .double(value) }
        switch name {
        case "length":
            try arity(1)
            switch args[0] {
            case .string(let text): return .int(Int64(text.unicodeScalars.count))
            case .array(let items): return .int(Int64(items.count))
            case .object(let fields): return .int(Int64(fields.count))
            default: throw AriaError(.invalidParams, "length() needs a string, an array or an object")
            }
        case "keys":
            try arity(1)
            guard let object = args[0].objectValue else { throw AriaError(.invalidParams, "keys() needs an object") }
            return .array(object.keys.sorted().map(JSONValue.string))
        case "values":
            try arity(1)
            guard let object = args[0].objectValue else { throw AriaError(.invalidParams, "values() needs an object") }
            return .array(object.keys.sorted().map { object[$0]! })
        case "join":
            try arity(2)
            guard let separator = args[0].stringValue, let items = args[1].arrayValue else { throw AriaError(.invalidParams, "join() needs a separator and an array of strings") }
            var parts: [String] = []
            for item in items {
                guard let text = item.stringValue else { throw AriaError(.invalidParams, "join() needs an array of strings") }
                parts.append(text)
            }
            return .string(parts.joined(separator: separator))
        case "to_string":
            try arity(1)
            return .string(args[0].stringValue ?? args[0].jsonString)
        case "to_number":
            try arity(1)
            if args[0].doubleValue != nil { return args[0] }
            if let text = args[0].stringValue, let parsed = Double(text) { return number(parsed) }
            return .null
        case "sum":
            try arity(1)
            return number(try numbers(args[0]).reduce(0, +))
        case "min", "max":
            try arity(1)
            let values = try numbers(args[0])
            guard let found = name == "min" ? values.min() : values.max() else { return .null }
            return number(found)
        case "sort":
            try arity(1)
            guard let items = args[0].arrayValue else { throw AriaError(.invalidParams, "sort() needs an array") }
            if items.allSatisfy({ $0.doubleValue != nil }) { return .array(items.sorted { $0.doubleValue! < $1.doubleValue! }) }
            if items.allSatisfy({ $0.stringValue != nil }) { return .array(items.sorted { $0.stringValue! < $1.stringValue! }) }
            throw AriaError(.invalidParams, "sort() needs an array of numbers or of strings")
        case "contains":
            try arity(2)
            if let text = args[0].stringValue, let part = args[1].stringValue { return .bool(text.contains(part)) }
            if let items = args[0].arrayValue { return .bool(items.contains { equal($0, args[1]) }) }
            throw AriaError(.invalidParams, "contains() needs a string or an array")
        case "starts_with":
            try arity(2)
            guard let text = args[0].stringValue, let prefix = args[1].stringValue else { throw AriaError(.invalidParams, "starts_with() needs two strings") }
            return .bool(text.hasPrefix(prefix))
        case "not_null":
            return args.first { !$0.isNull } ?? .null
        default:
            throw AriaError(.invalidParams, "unknown function \(name)()")
        }
    }
}
