import AriaCore
import Testing

@Suite("JSONPathExpression (json_transform)")
struct JSONPathExpressionTests {
    static let data: JSONValue = [
        "name": "run", "count": 3, "tags": ["a", "b"],
        "people": [
            ["name": "ann", "age": 31, "langs": ["swift", "go"]],
            ["name": "bob", "age": 25, "langs": ["c"]],
            ["name": "cyd", "age": 40],
        ],
        "scores": ["x": 1, "y": 2], "nested": ["deep": ["value": "here"]], "odd-key": true,
    ]

    @Test("evaluates field access, indexes, projections, filters, multiselect, pipes and functions", arguments: [
        ("name", "\"run\""),
        ("nested.deep.value", "\"here\""),
        ("\"odd-key\"", "true"),
        ("missing.field", "null"),
        ("tags[0]", "\"a\""),
        ("tags[-1]", "\"b\""),
        ("tags[5]", "null"),
        ("people[*].name", "[\"ann\",\"bob\",\"cyd\"]"),
        ("people[*].langs[]", "[\"swift\",\"go\",\"c\"]"),
        ("people[?age > `30`].name", "[\"ann\",\"cyd\"]"),
        ("people[?name == 'bob'].age | [0]", "25"),
        ("people[?langs && contains(langs, 'go')].name", "[\"ann\"]"),
        ("scores.*", "[1,2]"),
        ("{who: people[0].name, n: count}", "{\"n\":3,\"who\":\"ann\"}"),
        ("[name, count]", "[\"run\",3]"),
        ("people[*].{n: name, a: age}", "[{\"a\":31,\"n\":\"ann\"},{\"a\":25,\"n\":\"bob\"},{\"a\":40,\"n\":\"cyd\"}]"),
        ("length(people)", "3"),
        ("sum(people[*].age)", "96"),
        ("max(people[*].age)", "40"),
        ("sort(people[*].name)", "[\"ann\",\"bob\",\"cyd\"]"),
        ("join(', ', tags)", "\"a, b\""),
        ("keys(scores)", "[\"x\",\"y\"]"),
        ("count == `3` && name == 'run'", "true"),
        ("missing || name", "\"run\""),
        ("!tags", "false"),
        ("to_string(count)", "\"3\""),
        ("not_null(missing, name)", "\"run\""),
        ("@.count", "3"),
    ])
    func evaluates(expression: String, expected: String) throws {
        let result = try JSONPathExpression(expression).evaluate(Self.data)
        #expect(result == (try JSONValue(parsing: Array(expected.utf8))), "\(expression) gave \(result.jsonString)")
    }

    @Test("bad expressions are invalid_params with a position", arguments: [
        "", "people[", "a.", "a &b", "a = b", "'unterminated", "{a b}", "length(", "`{bad`", "a ]", "unknown_fn(a)",
    ])
    func rejects(expression: String) {
        do {
            _ = try JSONPathExpression(expression).evaluate(Self.data)
            Issue.record("'\(expression)' was accepted")
        } catch {
            #expect(error.code == .invalidParams)
        }
    }

    @Test("function type errors are invalid_params")
    func functionTypeErrors() {
        for expression in ["length(count)", "sum(tags)", "join(', ', people)", "keys(tags)"] {
            do {
                _ = try JSONPathExpression(expression).evaluate(Self.data)
                Issue.record("'\(expression)' was accepted")
            } catch {
                #expect(error.code == .invalidParams, "\(expression)")
            }
        }
    }
}
