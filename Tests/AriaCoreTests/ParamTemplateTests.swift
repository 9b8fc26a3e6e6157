import AriaCore
import Testing

private let outputs: [String: JSONValue] = [
    "a": [
        "n": 5, "text": "hello", "flag": true, "nothing": .null, "ratio": 0.5,
        "obj": ["k": 1, "j": "x"],
        "items": [["name": "first"], ["name": "second"]],
    ],
    "b": "plain string output",
    "list": [10, 20, 30],
]

private let templateParams: JSONValue = ["url": "https://example.com/x?q=1", "depth": 3, "tags": ["a", "b"]]

/// Resolves step outputs like the scheduler and template parameters like the planner.
private func resolve(_ path: [String]) -> JSONValue? {
    switch path.first {
    case "steps": ParamTemplate.resolveStepOutput(path, outputs: outputs)
    case "params": templateParams.value(atPath: Array(path.dropFirst()))
    default: nil
    }
}

private func render(_ value: JSONValue) throws(AriaError) -> JSONValue {
    try ParamTemplate.render(value, resolve: resolve)
}

private func renderError(_ value: JSONValue) -> AriaError? {
    do {
        _ = try render(value)
        return nil
    } catch {
        return error
    }
}

@Suite("ParamTemplate")
struct ParamTemplateTests {
    // MARK: Whole-string references keep the JSON type

    @Test("A string that is exactly one reference becomes the referenced value, with its type", arguments: [
        ("{{steps.a.output.n}}", 5),
        ("{{steps.a.output.flag}}", true),
        ("{{steps.a.output.nothing}}", .null),
        ("{{steps.a.output.ratio}}", 0.5),
        ("{{steps.a.output.obj}}", ["k": 1, "j": "x"]),
        ("{{steps.a.output.items}}", [["name": "first"], ["name": "second"]]),
        ("{{steps.a.output.items.1.name}}", "second"),
        ("{{steps.a.output.items.0}}", ["name": "first"]),
        ("{{steps.list.output.2}}", 30),
        ("{{steps.b.output}}", "plain string output"),
        ("{{ steps.a.output.n }}", 5),
        ("{{params.depth}}", 3),
        ("{{params.tags}}", ["a", "b"]),
        ("{{params.tags.1}}", "b"),
        ("{{params.url}}", "https://example.com/x?q=1"),
    ] as [(String, JSONValue)])
    func wholeStringReference(text: String, expected: JSONValue) throws {
        #expect(try render(.string(text)) == expected)
    }

    // MARK: Embedded references interpolate

    @Test("References inside longer strings are replaced by text: strings as they are, other values as JSON", arguments: [
        ("n={{steps.a.output.n}}", "n=5"),
        (" {{steps.a.output.n}}", " 5"),
        ("{{steps.a.output.text}}, world", "hello, world"),
        ("obj: {{steps.a.output.obj}}", #"obj: {"j":"x","k":1}"#),
        ("{{steps.a.output.items}}!", #"[{"name":"first"},{"name":"second"}]!"#),
        ("x{{steps.a.output.nothing}}", "xnull"),
        ("r={{steps.a.output.ratio}}", "r=0.5"),
        ("{{steps.a.output.flag}}{{steps.a.output.n}}", "true5"),
        ("GET {{params.url}} depth={{ params.depth }}", "GET https://example.com/x?q=1 depth=3"),
        ("{{params.url}}{{params.url}}", "https://example.com/x?q=1https://example.com/x?q=1"),
        ("a }} b {{params.depth}} c", "a }} b 3 c"),
    ] as [(String, String)])
    func embeddedReference(text: String, expected: String) throws {
        #expect(try render(.string(text)) == .string(expected))
    }

    @Test("Strings without a reference are returned unchanged", arguments: [
        "", "plain", "braces { } and }}", "a {b} c", "}} then {{", "{ {params.url} }",
    ])
    func noReference(text: String) throws {
        #expect(try render(.string(text)) == .string(text))
        #expect(!ParamTemplate.containsReference(text))
    }

    @Test("Non-string values are returned unchanged", arguments: [
        JSONValue.null, true, 7, 2.5, [1, 2], ["k": false], [:], [],
    ])
    func nonStrings(value: JSONValue) throws {
        #expect(try render(value) == value)
    }

    // MARK: Nesting

    @Test("Objects and arrays are rendered recursively; keys are not templates")
    func nested() throws {
        let input: JSONValue = [
            "url": "{{params.url}}",
            "limit": "{{params.depth}}",
            "fixed": 1,
            "{{params.url}}": "key stays",
            "nested": [
                "list": ["{{steps.a.output.n}}", "item {{steps.a.output.text}}", ["{{steps.a.output.flag}}"], 4],
                "deeper": ["x": ["y": "{{steps.a.output.obj.j}}"]],
            ],
        ]
        let expected: JSONValue = [
            "url": "https://example.com/x?q=1",
            "limit": 3,
            "fixed": 1,
            "{{params.url}}": "key stays",
            "nested": [
                "list": [5, "item hello", [true], 4],
                "deeper": ["x": ["y": "x"]],
            ],
        ]
        #expect(try render(input) == expected)
    }

    // MARK: Errors

    @Test("An unresolvable reference is invalid_params naming it, never left in place", arguments: [
        ("{{steps.zzz.output}}", "steps.zzz.output"),
        ("{{steps.a.output.missing}}", "steps.a.output.missing"),
        ("{{steps.a.output.items.5}}", "steps.a.output.items.5"),
        ("{{steps.a.output.items.first}}", "steps.a.output.items.first"),
        ("{{steps.a.output.n.deeper}}", "steps.a.output.n.deeper"),
        ("{{params.nope}}", "params.nope"),
        ("see {{steps.a.output.missing}} here", "steps.a.output.missing"),
        ("{{steps.a.output.n}} and {{params.nope}}", "params.nope"),
    ])
    func unresolvable(text: String, reference: String) {
        let error = renderError(.string(text))
        #expect(error?.code == .invalidParams)
        #expect(error?.details["reference"] == reference)
        #expect(error?.message.contains(reference) == true)
    }

    @Test("An unresolvable reference deep inside params fails the whole render")
    func unresolvableNested() {
        #expect(renderError(["a": [["b": ["ok {{params.url}}", "{{params.nope}}"]]]])?.code == .invalidParams)
    }

    @Test("Malformed references are invalid_params", arguments: [
        "{{}}", "{{ }}", "{{steps}}", "{{params}}", "{{steps.a}}", "{{steps.a.outputs.x}}", "{{steps..output}}",
        "{{steps.a.output.}}", "{{foo.bar}}", "{{params..x}}", "{{STEPS.a.output}}", "{{.params.x}}",
        "text {{nope}} text", "ok {{params.url}} then {{params.depth",
    ])
    func malformed(text: String) {
        let error = renderError(.string(text))
        #expect(error?.code == .invalidParams)
        #expect(error?.details["reference"] == nil, "a malformed reference is a syntax error, not an unresolved one")
    }

    @Test("A lone unterminated reference is invalid_params, like one after a valid reference",
          arguments: ["{{steps.a.output.x", "prefix {{params.url", "{{params.url}"])
    func loneUnterminated(text: String) {
        #expect(renderError(.string(text))?.code == .invalidParams)
    }

    @Test("The resolver sees the path split on dots, whitespace trimmed")
    func resolverSeesPath() throws {
        var seen: [[String]] = []
        _ = try ParamTemplate.render(["x": "{{ steps.a.output.items.1.name }} / {{params.a-b_c}}"]) { path in
            seen.append(path)
            return "v"
        }
        #expect(seen == [["steps", "a", "output", "items", "1", "name"], ["params", "a-b_c"]])
    }

    // MARK: containsReference

    @Test("containsReference needs an opening {{ followed later by }}", arguments: [
        ("{{a}}", true), ("x {{ y }} z", true), ("{{steps.a.output}}", true), ("{{}}", true),
        ("", false), ("{{", false), ("}}", false), ("}} {{", false), ("{ {a} }", false), ("{{a}", false),
    ])
    func containsReference(text: String, expected: Bool) {
        #expect(ParamTemplate.containsReference(text) == expected)
    }

    // MARK: resolveStepOutput

    @Test("resolveStepOutput follows object keys and array indexes", arguments: [
        (["steps", "a", "output"], outputs["a"]),
        (["steps", "a", "output", "n"], 5),
        (["steps", "a", "output", "items", "0", "name"], "first"),
        (["steps", "a", "output", "items", "1"], ["name": "second"]),
        (["steps", "list", "output", "0"], 10),
        (["steps", "a", "output", "nothing"], .null),
        (["steps", "a", "output", "items", "2"], nil),
        (["steps", "a", "output", "items", "-1"], nil),
        (["steps", "a", "output", "items", "+1"], nil),
        (["steps", "a", "output", "items", "01x"], nil),
        (["steps", "a", "output", "items", ""], nil),
        (["steps", "a", "output", "n", "x"], nil),
        (["steps", "a", "output", "missing"], nil),
        (["steps", "zzz", "output"], nil),
        (["steps", "a", "result", "n"], nil),
        (["steps", "a"], nil),
        (["steps"], nil),
        ([], nil),
        (["params", "a", "output"], nil),
    ] as [([String], JSONValue?)])
    func resolveStepOutput(path: [String], expected: JSONValue?) {
        #expect(ParamTemplate.resolveStepOutput(path, outputs: outputs) == expected)
    }

    // MARK: references / referencedSteps

    @Test("references lists every reference path, object keys in sorted order")
    func references() {
        let value: JSONValue = [
            "z": "{{params.last}}",
            "a": ["{{steps.one.output.x}} and {{ steps.two.output }}", 5, ["deep": "{{params.p}}"]],
            "m": "no refs here",
            "bad": "{{not-a-reference}}",
        ]
        #expect(ParamTemplate.references(in: value) == [
            ["steps", "one", "output", "x"], ["steps", "two", "output"], ["params", "p"], ["params", "last"],
        ])
    }

    @Test("referencedSteps collects the step ids referenced anywhere, without duplicates or template params")
    func referencedSteps() {
        let value: JSONValue = [
            "x": "{{steps.a.output.v}}",
            "y": ["{{steps.b.output}} and {{params.p}}", ["z": "again {{steps.a.output.w}}"]],
            "n": 3,
            "malformed": "{{steps.c}}",
        ]
        #expect(ParamTemplate.referencedSteps(in: value) == ["a", "b"])
        #expect(ParamTemplate.referencedSteps(in: "no references").isEmpty)
        #expect(ParamTemplate.referencedSteps(in: .null).isEmpty)
    }
}
