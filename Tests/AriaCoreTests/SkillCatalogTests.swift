import AriaCore
import Testing

private func problems(_ skill: String, _ params: JSONValue) -> [String] {
    guard let descriptor = SkillCatalog.builtIn[skill] else {
        Issue.record("no built-in skill \(skill)")
        return []
    }
    return descriptor.problems(in: params)
}

@Suite("SkillCatalog")
struct SkillCatalogTests {
    // MARK: The built-in catalog

    @Test("The built-in catalog offers echo, sleep, fail, http_call, file_read, file_write, pg_query and json_transform, and nothing else")
    func builtInNames() {
        #expect(Set(SkillCatalog.builtIn.skills.keys) == ["echo", "sleep", "fail", "http_call", "file_read", "file_write", "pg_query", "json_transform"])
        #expect(SkillCatalog.builtIn["http_call"]?.inputs.first { $0.name == "url" }?.required == true)
        #expect(SkillCatalog.builtIn["Echo"] == nil, "names are case-sensitive")
        #expect(SkillCatalog.builtIn[""] == nil)
    }

    @Test("Built-in descriptors: version, pool and default timeouts", arguments: [
        ("echo", Int64(10_000)), ("sleep", 660_000), ("fail", 10_000),
    ])
    func builtInDescriptors(name: String, timeout: Int64) throws {
        let skill = try #require(SkillCatalog.builtIn[name])
        #expect(skill.name == name)
        #expect(skill.version == "1.0.0")
        #expect(skill.pool == "default")
        #expect(skill.defaultTimeout.milliseconds == timeout)
        #expect(!skill.description.isEmpty)
    }

    @Test("sleep's default timeout leaves room for its longest allowed sleep")
    func sleepTimeoutCoversMaximum() throws {
        let sleep = try #require(SkillCatalog.builtIn["sleep"])
        let range = try #require(sleep.inputs.first { $0.name == "duration" }?.range)
        #expect(sleep.defaultTimeout.milliseconds > range.upperBound)
    }

    // MARK: echo

    @Test("echo accepts any params object", arguments: [
        [:], ["message": "hi"], ["message": 5], ["message": ["nested": [1, 2]]], ["anything": true, "else": .null],
    ] as [JSONValue])
    func echoAcceptsAnything(params: JSONValue) {
        #expect(problems("echo", params).isEmpty)
    }

    @Test("Params that are not an object are rejected by every skill", arguments: ["echo", "sleep", "fail"])
    func paramsMustBeObject(skill: String) {
        for params: JSONValue in ["text", 1, [1], .null, true] {
            #expect(problems(skill, params) == ["params must be an object"])
        }
    }

    // MARK: sleep

    @Test("sleep accepts durations within 0...10 minutes", arguments: [
        ["duration": "1ms"], ["duration": "250ms"], ["duration": "2s"], ["duration": "10m"], ["duration": "9m59s999ms"],
        ["duration": 0], ["duration": 1500], ["duration": 600_000], ["duration": 2.0],
        ["duration": "{{steps.a.output.ms}}"], ["duration": "wait {{params.d}}"],
    ] as [JSONValue])
    func sleepValid(params: JSONValue) {
        #expect(problems("sleep", params).isEmpty)
    }

    @Test("sleep rejects missing, malformed and out-of-range durations", arguments: [
        ([:], "'duration' is required"),
        (["duration": .null], "'duration' is required"),
        (["duration": "soon"], "must be a duration"),
        (["duration": "1.5s"], "must be a duration"),
        (["duration": true], "must be a duration"),
        (["duration": 2.5], "must be a duration"),
        (["duration": ["ms": 5]], "must be a duration"),
        (["duration": 600_001], "must be within 0...600000 ms"),
        (["duration": -1], "must be within 0...600000 ms"),
        (["duration": "10m1ms"], "must be within 0...600000 ms"),
        (["duration": "1h"], "must be within 0...600000 ms"),
        (["duration": "1s", "jitter": "5ms"], "'jitter' is not an input of sleep"),
    ] as [(JSONValue, String)])
    func sleepInvalid(params: JSONValue, problem: String) {
        let found = problems("sleep", params)
        #expect(found.count == 1)
        #expect(found.first?.contains(problem) == true, "\(found)")
    }

    // MARK: fail

    @Test("fail accepts an optional message and any error category", arguments: ErrorCategory.allCases)
    func failCategories(category: ErrorCategory) {
        #expect(problems("fail", ["category": .string(category.rawValue), "message": "boom"]).isEmpty)
    }

    @Test("fail needs no params")
    func failNoParams() {
        #expect(problems("fail", [:]).isEmpty)
    }

    @Test("fail rejects a non-string message, an unknown category and unknown fields", arguments: [
        (["message": 42], "'message' must be a string"),
        (["category": "fatal"], "'category' must be one of transient, permanent, resource, permission, validation, budget"),
        (["category": "Transient"], "'category' must be one of"),
        (["category": 1], "'category' must be one of"),
        (["code": "x"], "'code' is not an input of fail"),
    ] as [(JSONValue, String)])
    func failInvalid(params: JSONValue, problem: String) {
        let found = problems("fail", params)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix(problem) == true, "\(found)")
    }

    @Test("Every problem is reported: rule problems first, then unknown fields in sorted order")
    func allProblemsReported() {
        #expect(problems("fail", ["zeta": 1, "message": 1, "category": "nope", "alpha": 2]) == [
            "'message' must be a string",
            "'category' must be one of transient, permanent, resource, permission, validation, budget",
            "'alpha' is not an input of fail",
            "'zeta' is not an input of fail",
        ])
    }

    // MARK: ParamRule

    @Test("ParamRule.problem checks each kind", arguments: [
        (ParamRule("v", .any), JSONValue.null, true),
        (ParamRule("v", .any), ["x": 1], true),
        (ParamRule("v", .string), "s", true),
        (ParamRule("v", .string), 1, false),
        (ParamRule("v", .integer), 3, true),
        (ParamRule("v", .integer), 3.0, true),
        (ParamRule("v", .integer), 3.5, false),
        (ParamRule("v", .integer), "3", false),
        (ParamRule("v", .integer, range: 1...5), 5, true),
        (ParamRule("v", .integer, range: 1...5), 6, false),
        (ParamRule("v", .integer, range: 1...5), 0, false),
        (ParamRule("v", .duration), "1h", true),
        (ParamRule("v", .duration), 1, true),
        (ParamRule("v", .duration), "1", false),
        (ParamRule("v", .duration, range: 100...200), "150ms", true),
        (ParamRule("v", .duration, range: 100...200), "1s", false),
        (ParamRule("v", .oneOf, allowed: ["x", "y"]), "y", true),
        (ParamRule("v", .oneOf, allowed: ["x", "y"]), "z", false),
        (ParamRule("v", .oneOf), "x", false),
    ] as [(ParamRule, JSONValue, Bool)])
    func paramRule(rule: ParamRule, value: JSONValue, valid: Bool) {
        let problem = rule.problem(with: value)
        #expect((problem == nil) == valid, "\(String(describing: problem))")
        if let problem { #expect(problem.hasPrefix("'v' ")) }
    }

    @Test("A required field that is absent or null is reported once; an optional one is not")
    func requiredRule() {
        let skill = SkillDescriptor(name: "t", version: "0.1.0", description: "test", defaultTimeout: .seconds(1),
                                    inputs: [ParamRule("need", .string, required: true), ParamRule("may", .string)])
        #expect(skill.problems(in: [:]) == ["'need' is required"])
        #expect(skill.problems(in: ["need": .null, "may": .null]) == ["'need' is required"])
        #expect(skill.problems(in: ["need": "x"]).isEmpty)
    }

    @Test("allowsOtherInputs decides whether unlisted fields are problems")
    func otherInputs() {
        let strict = SkillDescriptor(name: "s", version: "1", description: "", defaultTimeout: .seconds(1), inputs: [])
        let open = SkillDescriptor(name: "o", version: "1", description: "", defaultTimeout: .seconds(1), inputs: [], allowsOtherInputs: true)
        #expect(strict.problems(in: ["x": 1]) == ["'x' is not an input of s"])
        #expect(open.problems(in: ["x": 1]).isEmpty)
    }

    // MARK: Catalog

    @Test("A catalog looks skills up by name; with duplicate names the last one wins")
    func catalogLookup() throws {
        let first = SkillDescriptor(name: "dup", version: "1.0.0", description: "first", defaultTimeout: .seconds(1), inputs: [])
        let second = SkillDescriptor(name: "dup", version: "2.0.0", description: "second", pool: "gpu", defaultTimeout: .seconds(2), inputs: [])
        let other = SkillDescriptor(name: "other", version: "1.0.0", description: "o", defaultTimeout: .seconds(1), inputs: [])
        let catalog = SkillCatalog([first, other, second])
        #expect(catalog.skills.count == 2)
        #expect(catalog["dup"] == second)
        #expect(catalog["other"] == other)
        #expect(catalog["missing"] == nil)
        #expect(SkillCatalog([]).skills.isEmpty)
    }
}
