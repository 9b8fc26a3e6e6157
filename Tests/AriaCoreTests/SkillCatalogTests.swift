import AriaCore
import Testing

private func descriptor(_ skill: String) -> SkillDescriptor {
    guard let descriptor = SkillCatalog.builtIn[skill] else { fatalError("no built-in skill \(skill)") }
    return descriptor
}

/// Plan-time problems (references allowed).
private func problems(_ skill: String, _ params: JSONValue) -> [String] {
    descriptor(skill).problems(in: params)
}

/// Worker-time check of rendered params.
private func inputError(_ skill: String, _ params: JSONValue) -> AriaError? {
    SkillCatalog.builtIn.validateInput(skill: skill, params: params)
}

private func outputError(_ skill: String, _ output: JSONValue) -> AriaError? {
    SkillCatalog.builtIn.validateOutput(skill: skill, output: output)
}

/// Expects `params` to be accepted at plan time and after rendering.
private func expectValid(_ skill: String, _ params: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(problems(skill, params) == [], "\(params)", sourceLocation: sourceLocation)
    #expect(inputError(skill, params) == nil, "\(params)", sourceLocation: sourceLocation)
}

/// Expects exactly one problem containing `problem`, both at plan time and as an `invalid_params` error.
private func expectInvalid(_ skill: String, _ params: JSONValue, _ problem: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let found = problems(skill, params)
    #expect(found.count == 1, "\(params): \(found)", sourceLocation: sourceLocation)
    #expect(found.first?.contains(problem) == true, "\(params): \(found)", sourceLocation: sourceLocation)
    let error = inputError(skill, params)
    #expect(error?.code == .invalidParams && error?.category == .validation, sourceLocation: sourceLocation)
    #expect(error?.details["skill"] == skill, sourceLocation: sourceLocation)
    #expect(error?.message.contains(problem) == true, "\(String(describing: error))", sourceLocation: sourceLocation)
}

private func expectValidOutput(_ skill: String, _ output: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(outputError(skill, output) == nil, "\(output)", sourceLocation: sourceLocation)
}

private func expectInvalidOutput(_ skill: String, _ output: JSONValue, _ problem: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let error = outputError(skill, output)
    #expect(error?.code == .invalidOutput, "\(output)", sourceLocation: sourceLocation)
    #expect(error?.category == .permanent, sourceLocation: sourceLocation)
    #expect(error?.details == ["skill": skill, "version": "1.0.0"], sourceLocation: sourceLocation)
    #expect(error?.message.hasPrefix("\(skill) 1.0.0 returned an output that breaks its output schema: ") == true, sourceLocation: sourceLocation)
    #expect(error?.message.contains(problem) == true, "\(String(describing: error))", sourceLocation: sourceLocation)
}

private let mebibyte: Int64 = 1024 * 1024

@Suite("SkillCatalog: the built-in registry")
struct SkillCatalogTests {
    // MARK: The catalog

    @Test("The built-in catalog offers echo, sleep, fail, http_call, file_read, file_write, pg_query and json_transform, and nothing else")
    func builtInNames() {
        #expect(Set(SkillCatalog.builtIn.skills.keys) == ["echo", "sleep", "fail", "http_call", "file_read", "file_write", "pg_query", "json_transform"])
        #expect(SkillCatalog.builtIn.descriptors.map(\.name) == ["echo", "fail", "file_read", "file_write", "http_call", "json_transform", "pg_query", "sleep"])
        #expect(SkillCatalog.builtInNames == SkillCatalog.builtIn.descriptors.map(\.name))
        #expect(SkillCatalog.builtIn["Echo"] == nil, "names are case-sensitive")
        #expect(SkillCatalog.builtIn[""] == nil)
    }

    @Test("Built-in descriptors: version, pool, default timeout and risk class", arguments: [
        ("echo", Int64(10_000), SkillRisk.readOnly), ("sleep", 660_000, .readOnly), ("fail", 10_000, .readOnly),
        ("json_transform", 5_000, .readOnly), ("http_call", 30_000, .external), ("file_read", 10_000, .readOnly),
        ("file_write", 10_000, .sideEffect), ("pg_query", 70_000, .readOnly),
    ])
    func builtInDescriptors(name: String, timeout: Int64, risk: SkillRisk) {
        let skill = descriptor(name)
        #expect(skill.name == name)
        #expect(skill.version == "1.0.0")
        #expect(skill.pool == "default")
        #expect(skill.defaultTimeout.milliseconds == timeout)
        #expect(skill.risk == risk)
        #expect(!skill.description.isEmpty)
        #expect(skill.inputSchema["type"] == "object", "every input schema describes an object of params")
    }

    @Test("Every built-in input property and the configuration are documented in the descriptor")
    func schemasDescribeEveryInput() {
        for skill in SkillCatalog.builtIn.descriptors where skill.name != "echo" {
            let properties = skill.inputSchema["properties"]?.objectValue ?? [:]
            #expect(!properties.isEmpty, "\(skill.name)")
            #expect(skill.inputSchema["additionalProperties"] == false, "\(skill.name) refuses unknown params")
        }
        #expect(descriptor("http_call").configuration["max_response_bytes"] == .int(10 * mebibyte))
        #expect(descriptor("pg_query").configuration["database_url_env"] == "ARIA_PG_QUERY_DATABASE_URL")
        #expect(descriptor("pg_query").configuration["database_url"] == nil, "secrets are references, never values")
        #expect(descriptor("echo").configuration == [:])
    }

    @Test("Risk classes are ordered read_only < side_effect < external and spelled in snake case")
    func riskOrder() {
        #expect(SkillRisk.readOnly < .sideEffect && SkillRisk.sideEffect < .external && !(SkillRisk.external < .readOnly))
        #expect(SkillRisk.allCases.sorted() == [.readOnly, .sideEffect, .external])
        #expect(SkillRisk.allCases.map(\.rawValue) == ["read_only", "side_effect", "external"])
        #expect(SkillCatalog.builtIn.descriptors.filter { $0.risk >= .sideEffect }.map(\.name) == ["file_write", "http_call"])
    }

    @Test("The catalog validates by skill name; an unknown skill is unknown_skill")
    func catalogValidation() {
        #expect(SkillCatalog.builtIn.validateInput(skill: "teleport", params: [:])?.code == .unknownSkill)
        #expect(SkillCatalog.builtIn.validateInput(skill: "teleport", params: [:])?.details["skill"] == "teleport")
        #expect(SkillCatalog.builtIn.validateOutput(skill: "teleport", output: [:])?.code == .unknownSkill)
        #expect(SkillCatalog.builtIn.validateInput(skill: "sleep", params: ["duration": "1s"]) == nil)
        #expect(SkillCatalog.builtIn.validateInput(skill: "sleep", params: [:])?.code == .invalidParams)
    }

    @Test("A catalog looks skills up by name; with duplicate names the last one wins")
    func catalogLookup() throws {
        let first = try SkillDescriptor(name: "dup", version: "1.0.0", description: "first", defaultTimeout: .seconds(1))
        let second = try SkillDescriptor(name: "dup", version: "2.0.0", description: "second", pool: "gpu", defaultTimeout: .seconds(2))
        let other = try SkillDescriptor(name: "other", version: "1.0.0", description: "o", defaultTimeout: .seconds(1))
        let catalog = SkillCatalog([first, other, second])
        #expect(catalog.skills.count == 2)
        #expect(catalog["dup"] == second)
        #expect(catalog["other"] == other)
        #expect(catalog["missing"] == nil)
        #expect(catalog.descriptors.map(\.version) == ["2.0.0", "1.0.0"])
        #expect(SkillCatalog([]).skills.isEmpty)
    }

    // MARK: Descriptors in general

    @Test("A new descriptor defaults to the most cautious risk class, an object input and any output")
    func descriptorDefaults() throws {
        let skill = try SkillDescriptor(name: "t", version: "0.1.0", description: "test", defaultTimeout: .seconds(1))
        #expect(skill.risk == .external)
        #expect(skill.problems(in: ["anything": 1]) == [])
        #expect(skill.problems(in: "text") == ["params must be an object"])
        #expect(skill.validateOutput(["x": [1, 2]]) == nil && skill.validateOutput("text") == nil)
    }

    @Test("Descriptors compare by contract; changing the schema or configuration makes them differ")
    func descriptorEquality() throws {
        let a = try SkillDescriptor(name: "t", version: "1", description: "", defaultTimeout: .seconds(1), inputSchema: ["type": "object"])
        let b = try SkillDescriptor(name: "t", version: "1", description: "", defaultTimeout: .seconds(1), inputSchema: ["type": "object"])
        let c = try SkillDescriptor(name: "t", version: "1", description: "", defaultTimeout: .seconds(1), inputSchema: ["type": "object", "required": ["x"]])
        #expect(a == b)
        #expect(a != c)
        var d = a
        d.configuration = ["k": 1]
        #expect(a != d)
    }

    @Test("A schema that does not compile, or a malformed x-aria-duration, is refused when the descriptor is made", arguments: [
        #"{"type": "objekt"}"#,
        #"{"properties": {"d": {"x-aria-duration": {"maximum": "soon"}}}}"#,
        #"{"properties": {"d": {"x-aria-duration": {"max": "1s"}}}}"#,
        #"{"properties": {"d": {"x-aria-duration": "1s"}}}"#,
        #"{"properties": {"d": {"x-aria-duration": {"minimum": "2s", "maximum": "1s"}}}}"#,
    ])
    func badSchemas(text: String) throws {
        let schema = try JSONValue(parsing: text)
        #expect(throws: JSONSchemaError.self) {
            _ = try SkillDescriptor(name: "t", version: "1", description: "", defaultTimeout: .seconds(1), inputSchema: schema)
        }
        #expect(throws: JSONSchemaError.self) {
            _ = try SkillDescriptor(name: "t", version: "1", description: "", defaultTimeout: .seconds(1), outputSchema: ["type": "objekt"])
        }
    }

    @Test("x-aria-duration bounds a duration string from below and above")
    func durationBounds() throws {
        let skill = try SkillDescriptor(name: "t", version: "1", description: "", defaultTimeout: .seconds(1), inputSchema: try JSONValue(parsing: #"""
            {"type": "object", "properties": {"d": {"type": ["string", "integer"], "x-aria-duration": {"minimum": "1s", "maximum": "1m"}}}}
            """#))
        #expect(skill.problems(in: ["d": "1s"]) == [] && skill.problems(in: ["d": "1m"]) == [])
        #expect(skill.problems(in: ["d": "999ms"]) == ["'d' must be at least 1s"])
        #expect(skill.problems(in: ["d": "1m1ms"]) == ["'d' must be at most 1m"])
        #expect(skill.problems(in: ["d": "0s"]) == ["'d' must be a duration like \"250ms\" or \"2s\""])
        #expect(skill.problems(in: ["d": 5]) == [], "integers are bounded by the schema itself")
    }

    @Test("An error lists at most 10 problems and says how many more there are")
    func problemSummary() throws {
        let skill = try SkillDescriptor(name: "t", version: "1", description: "", defaultTimeout: .seconds(1),
                                        inputSchema: ["type": "object", "additionalProperties": false])
        let params = JSONValue.object(Dictionary(uniqueKeysWithValues: (10..<25).map { ("f\($0)", JSONValue.int(1)) }))
        #expect(skill.problems(in: params).count == 15)
        let error = try #require(skill.validateInput(params))
        #expect(error.message.hasPrefix("t: 'f10' is not an allowed property; "))
        #expect(error.message.hasSuffix("; and 5 more"))
        #expect(error.message.components(separatedBy: "is not an allowed property").count == 11)
    }

    // MARK: References at plan time

    @Test("A {{...}} reference stands in for a value of any type at plan time, but not after rendering", arguments: [
        ("sleep", ["duration": "{{steps.a.output.ms}}"]),
        ("sleep", ["duration": "wait {{params.d}}"]),
        ("http_call", ["url": "{{steps.a.output.url}}", "max_bytes": "{{steps.a.output.n}}", "headers": "{{steps.a.output.h}}"]),
        ("http_call", ["url": "https://x", "headers": ["Authorization": "Bearer {{steps.a.output.token}}"]]),
        ("pg_query", ["sql": "select $1", "params": "{{steps.a.output.values}}", "timeout": "{{steps.a.output.t}}"]),
        ("file_write", ["path": "out/{{steps.a.output.name}}.txt", "content": "{{steps.a.output}}", "make_dirs": "{{steps.a.output.flag}}"]),
        ("fail", ["category": "{{steps.a.output.category}}"]),
    ] as [(String, JSONValue)])
    func referencesAcceptedAtPlanTime(skill: String, params: JSONValue) {
        #expect(problems(skill, params) == [])
    }

    @Test("Rendered params are judged as they are: leftover braces are plain text")
    func renderedParamsAreJudged() {
        #expect(inputError("sleep", ["duration": "{{steps.a.output.ms}}"])?.message == "sleep: 'duration' must be a duration like \"250ms\" or \"2s\"")
        #expect(inputError("http_call", ["url": "{{steps.a.output.url}}"])?.code == .invalidParams)
        #expect(inputError("fail", ["category": "{{x}}"])?.code == .invalidParams)
        #expect(inputError("http_call", ["url": "https://x", "headers": ["A": "{{x}}"]]) == nil, "a string field takes any text")
    }

    @Test("A reference does not excuse an unknown field or a missing required one")
    func referencesDoNotExcuseStructure() {
        #expect(problems("sleep", ["duration": "1s", "jitter": "{{steps.a.output.j}}"]) == ["'jitter' is not an allowed property"])
        #expect(problems("http_call", ["method": "{{steps.a.output.m}}"]) == ["params must have the required property \"url\""])
    }

    // MARK: echo

    @Test("echo accepts any params object and returns any object", arguments: [
        [:], ["message": "hi"], ["message": 5], ["message": ["nested": [1, 2]]], ["anything": true, "else": .null],
    ] as [JSONValue])
    func echoAcceptsAnything(params: JSONValue) {
        expectValid("echo", params)
        expectValidOutput("echo", params)
    }

    @Test("Params that are not an object are rejected by every skill", arguments: SkillCatalog.builtInNames)
    func paramsMustBeObject(skill: String) {
        for params: JSONValue in ["text", 1, [1], .null, true] {
            #expect(problems(skill, params) == ["params must be an object"])
            #expect(inputError(skill, params)?.message == "\(skill): params must be an object")
        }
    }

    @Test("echo's output must be an object")
    func echoOutput() {
        expectInvalidOutput("echo", "text", "output must be an object, but is a string")
        expectInvalidOutput("echo", [1], "output must be an object")
    }

    // MARK: sleep

    @Test("sleep accepts durations within 0...10 minutes", arguments: [
        ["duration": "1ms"], ["duration": "250ms"], ["duration": "2s"], ["duration": "10m"], ["duration": "9m59s999ms"], ["duration": "600s"],
        ["duration": 0], ["duration": 1500], ["duration": 600_000], ["duration": 2.0],
    ] as [JSONValue])
    func sleepValid(params: JSONValue) {
        expectValid("sleep", params)
    }

    @Test("sleep rejects missing, malformed and out-of-range durations", arguments: [
        ([:], "params must have the required property \"duration\""),
        (["duration": .null], "'duration' must be a string or an integer, but is null"),
        (["duration": "soon"], "'duration' must be a duration like \"250ms\" or \"2s\""),
        (["duration": "1.5s"], "'duration' must be a duration like"),
        (["duration": "0s"], "'duration' must be a duration like"),
        (["duration": true], "'duration' must be a string or an integer, but is a boolean"),
        (["duration": 2.5], "'duration' must be a string or an integer, but is a number"),
        (["duration": ["ms": 5]], "'duration' must be a string or an integer, but is an object"),
        (["duration": 600_001], "'duration' must be less than or equal to 600000"),
        (["duration": -1], "'duration' must be greater than or equal to 0"),
        (["duration": "10m1ms"], "'duration' must be at most 10m"),
        (["duration": "1h"], "'duration' must be at most 10m"),
        (["duration": "1s", "jitter": "5ms"], "'jitter' is not an allowed property"),
    ] as [(JSONValue, String)])
    func sleepInvalid(params: JSONValue, problem: String) {
        expectInvalid("sleep", params, problem)
    }

    @Test("sleep returns {slept_ms} within its maximum, nothing else")
    func sleepOutput() {
        expectValidOutput("sleep", ["slept_ms": 0])
        expectValidOutput("sleep", ["slept_ms": 600_000])
        expectInvalidOutput("sleep", [:], "output must have the required property \"slept_ms\"")
        expectInvalidOutput("sleep", ["slept_ms": -1], "'slept_ms' must be greater than or equal to 0")
        expectInvalidOutput("sleep", ["slept_ms": 600_001], "'slept_ms' must be less than or equal to 600000")
        expectInvalidOutput("sleep", ["slept_ms": "5"], "'slept_ms' must be an integer")
        expectInvalidOutput("sleep", ["slept_ms": 5, "extra": 1], "'extra' is not an allowed property")
    }

    @Test("sleep's default timeout leaves room for its longest allowed sleep")
    func sleepTimeoutCoversMaximum() {
        let sleep = descriptor("sleep")
        #expect(sleep.inputSchema["properties"]?["duration"]?["x-aria-duration"]?["maximum"] == "10m")
        #expect(sleep.defaultTimeout > AriaDuration.minutes(10))
    }

    // MARK: fail

    @Test("fail accepts an optional message and any error category", arguments: ErrorCategory.allCases)
    func failCategories(category: ErrorCategory) {
        expectValid("fail", ["category": .string(category.rawValue), "message": "boom"])
    }

    @Test("fail needs no params")
    func failNoParams() {
        expectValid("fail", [:])
    }

    @Test("fail rejects a non-string or overlong message, an unknown category and unknown fields", arguments: [
        (["message": 42], "'message' must be a string, but is an integer"),
        (["message": .string(String(repeating: "x", count: 4097))], "'message' must be at most 4096 characters"),
        (["category": "fatal"], "'category' must be one of"),
        (["category": "Transient"], "'category' must be one of"),
        (["category": 1], "'category' must be one of"),
        (["code": "x"], "'code' is not an allowed property"),
    ] as [(JSONValue, String)])
    func failInvalid(params: JSONValue, problem: String) {
        expectInvalid("fail", params, problem)
    }

    @Test("fail never has an output: any value breaks its output schema")
    func failOutput() {
        expectInvalidOutput("fail", [:], "output is not allowed here")
        expectInvalidOutput("fail", .null, "output is not allowed here")
    }

    @Test("Every problem is reported")
    func allProblemsReported() {
        let found = problems("fail", ["zeta": 1, "message": 1, "category": "nope", "alpha": 2])
        #expect(found.count == 4)
        #expect(found.contains("'alpha' is not an allowed property") && found.contains("'zeta' is not an allowed property"))
        #expect(found.contains("'message' must be a string, but is an integer"))
        #expect(found.contains { $0.hasPrefix("'category' must be one of") })
    }

    // MARK: json_transform

    @Test("json_transform needs input (any value) and a non-empty expression")
    func jsonTransformInput() {
        expectValid("json_transform", ["input": ["a": [1, 2]], "expression": "a[0]"])
        expectValid("json_transform", ["input": .null, "expression": "@"])
        expectInvalid("json_transform", ["expression": "a"], "params must have the required property \"input\"")
        expectInvalid("json_transform", ["input": 1], "params must have the required property \"expression\"")
        expectInvalid("json_transform", ["input": 1, "expression": ""], "'expression' must be at least 1 character")
        expectInvalid("json_transform", ["input": 1, "expression": 5], "'expression' must be a string")
        expectInvalid("json_transform", ["input": 1, "expression": "a", "mode": "x"], "'mode' is not an allowed property")
    }

    @Test("json_transform returns exactly {result}")
    func jsonTransformOutput() {
        expectValidOutput("json_transform", ["result": .null])
        expectValidOutput("json_transform", ["result": [1, "two"]])
        expectInvalidOutput("json_transform", [:], "output must have the required property \"result\"")
        expectInvalidOutput("json_transform", ["result": 1, "other": 2], "'other' is not an allowed property")
    }

    // MARK: http_call

    @Test("http_call accepts well-formed requests", arguments: [
        ["url": "https://example.com"],
        ["url": "HTTP://example.com/x?y=1", "method": "HEAD"],
        ["url": "http://example.com", "method": "POST", "headers": ["Content-Type": "text/plain", "X-Trace_1": ""], "body": "raw"],
        ["url": "https://example.com", "method": "PUT", "body": ["json": [1, 2]], "max_bytes": .int(10 * mebibyte), "follow_redirects": false],
        ["url": "https://example.com", "method": "HEAD", "body": .null],
        ["url": "https://example.com", "max_bytes": 1],
    ] as [JSONValue])
    func httpCallValid(params: JSONValue) {
        expectValid("http_call", params)
    }

    @Test("http_call rejects malformed requests and limits above the cap", arguments: [
        ([:], "params must have the required property \"url\""),
        (["url": "ftp://example.com"], "'url' must match the pattern"),
        (["url": 5], "'url' must be a string"),
        (["url": "https://x", "method": "TRACE"], "'method' must be one of"),
        (["url": "https://x", "headers": ["Bad Header": "x"]], "'headers' has the invalid property name \"Bad Header\""),
        (["url": "https://x", "headers": ["X-A": 1]], "'headers/X-A' must be a string, but is an integer"),
        (["url": "https://x", "headers": ["X-A": "a\r\nInjected: yes"]], "'headers/X-A' must match the pattern"),
        (["url": "https://x", "headers": ["a", "b"]], "'headers' must be an object"),
        (["url": "https://x", "max_bytes": 0], "'max_bytes' must be greater than or equal to 1"),
        (["url": "https://x", "max_bytes": .int(10 * mebibyte + 1)], "'max_bytes' must be less than or equal to 10485760"),
        (["url": "https://x", "follow_redirects": "yes"], "'follow_redirects' must be a boolean"),
        (["url": "https://x", "method": "HEAD", "body": "x"], "'body' must be null"),
        (["url": "https://x", "timeout": "1s"], "'timeout' is not an allowed property"),
    ] as [(JSONValue, String)])
    func httpCallInvalid(params: JSONValue, problem: String) {
        expectInvalid("http_call", params, problem)
    }

    @Test("http_call returns status, headers, url, redirects and exactly one of body and body_base64")
    func httpCallOutput() {
        let base: [String: JSONValue] = ["status": 200, "headers": ["content-type": "text/plain"], "url": "https://x/", "redirects": 0]
        expectValidOutput("http_call", .object(base.merging(["body": "hi"]) { $1 }))
        expectValidOutput("http_call", .object(base.merging(["body_base64": "/w==", "redirects": 5]) { $1 }))
        expectInvalidOutput("http_call", .object(base), "output must match exactly one of the 2 allowed schemas")
        expectInvalidOutput("http_call", .object(base.merging(["body": "a", "body_base64": "YQ=="]) { $1 }), "output must match exactly one")
        expectInvalidOutput("http_call", .object(base.merging(["body": "a", "status": 42]) { $1 }), "'status' must be greater than or equal to 100")
        expectInvalidOutput("http_call", .object(base.merging(["body": "a", "redirects": 6]) { $1 }), "'redirects' must be less than or equal to 5")
        expectInvalidOutput("http_call", .object(base.merging(["body": "a", "headers": ["x": 1]]) { $1 }), "'headers/x' must be a string")
        expectInvalidOutput("http_call", ["status": 200, "body": "a"], "output must have the required property \"headers\"")
    }

    // MARK: file_read

    @Test("file_read takes a path, an optional max_bytes within the cap and an encoding")
    func fileReadInput() {
        expectValid("file_read", ["path": "notes/a.txt"])
        expectValid("file_read", ["path": "a", "max_bytes": .int(10 * mebibyte), "encoding": "base64"])
        // Path policy (absolute, '..', symbolic links) belongs to the skill, which answers path_refused.
        expectValid("file_read", ["path": "../etc/passwd"])
        expectValid("file_read", ["path": "/etc/passwd"])
        expectInvalid("file_read", [:], "params must have the required property \"path\"")
        expectInvalid("file_read", ["path": ""], "'path' must be at least 1 character")
        expectInvalid("file_read", ["path": .string(String(repeating: "a", count: 1025))], "'path' must be at most 1024 characters")
        expectInvalid("file_read", ["path": "a", "max_bytes": .int(10 * mebibyte + 1)], "'max_bytes' must be less than or equal to 10485760")
        expectInvalid("file_read", ["path": "a", "encoding": "latin1"], "'encoding' must be one of \"utf8\", \"base64\"")
    }

    @Test("file_read returns path, size and exactly one of content and content_base64")
    func fileReadOutput() {
        expectValidOutput("file_read", ["path": "a", "size": 2, "content": "hi"])
        expectValidOutput("file_read", ["path": "a", "size": 1, "content_base64": "/w=="])
        expectInvalidOutput("file_read", ["path": "a", "size": 2], "output must match exactly one")
        expectInvalidOutput("file_read", ["path": "a", "size": -1, "content": ""], "'size' must be greater than or equal to 0")
        expectInvalidOutput("file_read", ["path": "a", "size": .int(10 * mebibyte + 1), "content": ""], "'size' must be less than or equal to 10485760")
    }

    // MARK: file_write

    @Test("file_write takes a path and exactly one of content and content_base64")
    func fileWriteInput() {
        expectValid("file_write", ["path": "a", "content": ""])
        expectValid("file_write", ["path": "a/b", "content_base64": "aGk=", "mode": "append", "make_dirs": true])
        expectInvalid("file_write", ["path": "a"], "params must match exactly one of the 2 allowed schemas")
        expectInvalid("file_write", ["path": "a", "content": "x", "content_base64": "eA=="], "params must match exactly one")
        expectInvalid("file_write", ["path": "a", "content": "x", "mode": "truncate"], "'mode' must be one of")
        expectInvalid("file_write", ["path": "a", "content": "x", "make_dirs": "yes"], "'make_dirs' must be a boolean")
        expectInvalid("file_write", ["path": "a", "content": 5], "'content' must be a string")
    }

    @Test("file_write returns {path, size}")
    func fileWriteOutput() {
        expectValidOutput("file_write", ["path": "a", "size": 0])
        expectInvalidOutput("file_write", ["path": "a"], "output must have the required property \"size\"")
        expectInvalidOutput("file_write", ["path": "a", "size": "2"], "'size' must be an integer")
    }

    // MARK: pg_query

    @Test("pg_query takes one statement, scalar params, a row cap and a statement timeout within the limits")
    func pgQueryInput() {
        expectValid("pg_query", ["sql": "select 1"])
        expectValid("pg_query", ["sql": "select $1, $2, $3, $4, $5", "params": ["a", 1, 2.5, true, .null], "max_rows": 10_000, "timeout": "1m"])
        expectValid("pg_query", ["sql": "select 1", "timeout": 1500, "max_rows": 1])
        expectInvalid("pg_query", [:], "params must have the required property \"sql\"")
        expectInvalid("pg_query", ["sql": " ;\n"], "'sql' must match the pattern")
        expectInvalid("pg_query", ["sql": "select $1", "params": [[1]]], "'params/0' must be a string, a number, a boolean or null")
        expectInvalid("pg_query", ["sql": "select $1", "params": ["a": 1]], "'params' must be an array")
        expectInvalid("pg_query", ["sql": "select 1", "max_rows": 0], "'max_rows' must be greater than or equal to 1")
        expectInvalid("pg_query", ["sql": "select 1", "max_rows": 10_001], "'max_rows' must be less than or equal to 10000")
        expectInvalid("pg_query", ["sql": "select 1", "timeout": "2m"], "'timeout' must be at most 1m")
        expectInvalid("pg_query", ["sql": "select 1", "timeout": 60_001], "'timeout' must be less than or equal to 60000")
        expectInvalid("pg_query", ["sql": "select 1", "timeout": "fast"], "'timeout' must be a duration like")
    }

    @Test("pg_query returns columns, rows of text or null, row_count within the cap and truncated")
    func pgQueryOutput() {
        expectValidOutput("pg_query", ["columns": ["a", "b"], "rows": [["1", .null]], "row_count": 1, "truncated": false])
        expectValidOutput("pg_query", ["columns": [], "rows": [], "row_count": 0, "truncated": true])
        expectInvalidOutput("pg_query", ["columns": ["a"], "rows": [[1]], "row_count": 1, "truncated": false], "'rows/0/0' must be a string or null")
        expectInvalidOutput("pg_query", ["columns": ["a"], "rows": [], "truncated": false], "output must have the required property \"row_count\"")
        expectInvalidOutput("pg_query", ["columns": ["a"], "rows": [], "row_count": 10_001, "truncated": false], "'row_count' must be less than or equal to 10000")
        expectInvalidOutput("pg_query", ["columns": ["a"], "rows": [], "row_count": 0, "truncated": "no"], "'truncated' must be a boolean")
    }
}
