import AriaCore
import Foundation
import Testing

/// Runs the official JSON-Schema-Test-Suite (draft 2020-12) against ``JSONSchema``.
///
/// The suite lives outside the package, in `<dir>/shared/data/json-schema-test-suite/draft2020-12`
/// next to the package folder `<dir>/<package>`; it is found from this file's path.
@Suite("JSONSchema against the JSON-Schema-Test-Suite")
struct JSONSchemaSuiteTests {
    /// The suite files covering the keywords this validator supports.
    static let files = [
        "additionalProperties", "allOf", "anyOf", "boolean_schema", "const", "defs", "enum",
        "exclusiveMaximum", "exclusiveMinimum", "if-then-else", "items", "maxItems", "maxLength",
        "maxProperties", "maximum", "minItems", "minLength", "minProperties", "minimum", "multipleOf",
        "not", "oneOf", "pattern", "patternProperties", "prefixItems", "properties", "ref", "required",
        "type", "uniqueItems",
    ]

    /// A group of cases (one schema) that is deliberately not run, and why.
    struct SkippedGroup: Sendable, CustomStringConvertible {
        /// The file name without `.json`.
        let file: String
        /// The group's `description`.
        let group: String
        /// Why it is out of scope.
        let reason: String

        /// "file: group".
        var description: String { "\(file): \(group)" }
    }

    /// Reasons for skipping, shared by several groups.
    enum Reason {
        /// The schema refers to a remote document.
        static let remoteRef = "remote $ref (the 2020-12 meta-schema by URL); remote references are not supported"
        /// The reference only resolves through `$id` base-URI resolution.
        static let idResolution = "$ref resolved through $id base URIs; only local '#' references are supported"
        /// The reference names an `$anchor`.
        static let anchor = "$ref to an $anchor; anchors are not supported"
        /// The schema uses `unevaluatedProperties`.
        static let unevaluated = "unevaluatedProperties is not supported (compilation rejects it)"
    }

    /// Every group that is skipped. Each must exist in its file (checked below), so the list cannot go stale.
    static let skipped: [SkippedGroup] = [
        SkippedGroup(file: "defs", group: "validate definition against metaschema", reason: Reason.remoteRef),
        SkippedGroup(file: "not", group: "collect annotations inside a 'not', even if collection is disabled", reason: Reason.unevaluated),
        SkippedGroup(file: "ref", group: "remote ref, containing refs itself", reason: Reason.remoteRef),
        SkippedGroup(file: "ref", group: "Recursive references between schemas", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "ref creates new scope when adjacent to keywords", reason: Reason.unevaluated),
        SkippedGroup(file: "ref", group: "refs with relative uris and defs", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "relative refs with absolute uris and defs", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "$id must be resolved against nearest parent, not just immediate parent", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "order of evaluation: $id and $ref", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "order of evaluation: $id and $anchor and $ref", reason: Reason.anchor),
        SkippedGroup(file: "ref", group: "order of evaluation: $id and $ref on nested schema", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "simple URN base URI with $ref via the URN", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "URN base URI with URN and JSON pointer ref", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "URN base URI with URN and anchor ref", reason: Reason.anchor),
        SkippedGroup(file: "ref", group: "URN ref with nested pointer ref", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "ref to if", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "ref to then", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "ref to else", reason: Reason.idResolution),
        SkippedGroup(file: "ref", group: "ref with absolute-path-reference", reason: Reason.idResolution),
    ]

    /// The suite's draft 2020-12 folder: from `Tests/AriaCoreTests/<this file>` up to the package root, then `../shared/...`.
    static let suiteDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // AriaCoreTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .deletingLastPathComponent()  // the folder holding the package and `shared`
        .appendingPathComponent("shared/data/json-schema-test-suite/draft2020-12", isDirectory: true)

    /// Whether the suite is present; without it the suite tests are reported as skipped, never as passed.
    static let suiteIsAvailable = FileManager.default.fileExists(atPath: suiteDirectory.appendingPathComponent("type.json").path)

    /// One group of the suite: a schema and its cases.
    struct Group {
        /// The group's description.
        let description: String
        /// The schema under test.
        let schema: JSONValue
        /// The cases: description, instance, expected validity.
        let cases: [(description: String, data: JSONValue, valid: Bool)]
    }

    /// A suite file that does not have the documented shape.
    struct SuiteFormatError: Error, CustomStringConvertible {
        /// What is missing.
        let message: String
        /// The message.
        var description: String { message }
    }

    /// Reads and parses `<file>.json` from the suite.
    static func loadGroups(_ file: String) throws -> [Group] {
        let bytes = try Data(contentsOf: suiteDirectory.appendingPathComponent("\(file).json"))
        let document = try JSONValue(parsing: Array(bytes))
        let groups = try #require(document.arrayValue, "\(file).json is not an array of groups")
        return try groups.map { group in
            let description = try #require(group["description"]?.stringValue, "a group in \(file).json has no description")
            let schema = try #require(group["schema"], "\(file): \(description) has no schema")
            let tests = try #require(group["tests"]?.arrayValue, "\(file): \(description) has no tests")
            let cases = try tests.map { test in
                guard let valid = test["valid"]?.boolValue else {
                    throw SuiteFormatError(message: "\(file): \(description): a case has no boolean 'valid'")
                }
                return (description: try #require(test["description"]?.stringValue, "\(file): \(description): a case has no description"),
                        data: try #require(test["data"], "\(file): \(description): a case has no data"),
                        valid: valid)
            }
            return Group(description: description, schema: schema, cases: cases)
        }
    }

    /// Every non-skipped case of one suite file gives the expected result through both `validate` and `isValid`.
    @Test("Every case of a suite file",
          // Without the suite folder (../shared/data) this test is reported as skipped, never as passed.
          .enabled(if: suiteIsAvailable, "JSON-Schema-Test-Suite not found next to the package (../shared/data)"),
          arguments: files)
    func suiteFile(_ file: String) throws {
        let skippedHere = Set(Self.skipped.filter { $0.file == file }.map(\.group))
        let groups = try Self.loadGroups(file)
        #expect(!groups.isEmpty, "\(file).json has no groups")
        for group in groups where !skippedHere.contains(group.description) {
            let schema: JSONSchema
            do {
                schema = try JSONSchema(group.schema)
            } catch {
                Issue.record("\(file): \(group.description): the schema does not compile: \(error)")
                continue
            }
            for testCase in group.cases {
                let violations = schema.validate(testCase.data)
                #expect(violations.isEmpty == testCase.valid,
                        "\(file): \(group.description): \(testCase.description): expected \(testCase.valid ? "valid" : "invalid"), got \(violations)")
                #expect(schema.isValid(testCase.data) == testCase.valid,
                        "\(file): \(group.description): \(testCase.description): isValid disagrees")
            }
        }
    }

    /// The skip list stays short, every entry exists, has a reason and still fails to compile.
    @Test("The skip list is small, justified and names groups that exist",
          // Without the suite folder this test is reported as skipped, never as passed.
          .enabled(if: suiteIsAvailable, "JSON-Schema-Test-Suite not found next to the package (../shared/data)"))
    func skipListIsCurrent() throws {
        #expect(Self.skipped.count <= 20, "the skip list grew to \(Self.skipped.count) groups")
        #expect(Set(Self.skipped.map(\.description)).count == Self.skipped.count, "the skip list repeats a group")

        var totalCases = 0
        var skippedCases = 0
        for file in Self.files {
            let groups = try Self.loadGroups(file)
            totalCases += groups.reduce(0) { $0 + $1.cases.count }
            for entry in Self.skipped where entry.file == file {
                #expect(!entry.reason.isEmpty, "\(entry) has no reason")
                let group = groups.first { $0.description == entry.group }
                #expect(group != nil, "skipped group \(entry) does not exist in \(file).json")
                skippedCases += group?.cases.count ?? 0
                // Every skipped group uses a feature that compilation rejects with a clear error; once one
                // compiles (the feature got support), its cases must run instead of being skipped.
                if let group {
                    #expect(throws: JSONSchemaError.self, "skipped group \(entry) now compiles: run it") {
                        try JSONSchema(group.schema)
                    }
                }
            }
        }
        for entry in Self.skipped {
            #expect(Self.files.contains(entry.file), "skipped group \(entry) names a file that is not run")
        }
        // Out-of-scope features ($id resolution, anchors, remote and unevaluated*) are a small part of the suite.
        #expect(skippedCases * 10 < totalCases, "\(skippedCases) of \(totalCases) cases are skipped")
    }

    /// Every file in ``files`` is present in the suite folder.
    @Test("Every listed suite file exists",
          // Without the suite folder this test is reported as skipped, never as passed.
          .enabled(if: suiteIsAvailable, "JSON-Schema-Test-Suite not found next to the package (../shared/data)"))
    func fileListMatchesFolder() throws {
        let present = try FileManager.default.contentsOfDirectory(atPath: Self.suiteDirectory.path)
            .filter { $0.hasSuffix(".json") }
            .map { String($0.dropLast(5)) }
        for file in Self.files {
            #expect(present.contains(file), "\(file).json is missing from the suite folder")
        }
    }
}
