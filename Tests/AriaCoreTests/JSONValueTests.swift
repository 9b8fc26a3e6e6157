import AriaCore
import Foundation
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    // MARK: Parsing: valid inputs

    @Test("Valid inputs parse to the expected values", arguments: [
        ("null", JSONValue.null),
        ("true", .bool(true)),
        ("false", .bool(false)),
        ("0", .int(0)),
        ("-0", .int(0)),
        ("123", .int(123)),
        ("-123", .int(-123)),
        ("9223372036854775807", .int(.max)),
        ("-9223372036854775808", .int(.min)),
        ("9223372036854775808", .double(9_223_372_036_854_775_808.0)),
        ("-9223372036854775809", .double(-9_223_372_036_854_775_809.0)),
        ("123456789012345678901234567890", .double(1.2345678901234568e29)),
        ("1.5", .double(1.5)),
        ("-1.5e3", .double(-1500)),
        ("1E2", .double(100)),
        ("1e+2", .double(100)),
        ("1e-2", .double(0.01)),
        ("0.0", .double(0)),
        ("-0.0", .double(-0.0)),
        ("1.0", .double(1)),
        ("1e308", .double(1e308)),
        ("1e-400", .double(0)),
        ("\"\"", .string("")),
        ("\"hello\"", .string("hello")),
        (#""a\"b\\c\/d\be\ff\ng\rh\ti""#, .string("a\"b\\c/d\u{8}e\u{c}f\ng\rh\ti")),
        (#""\u00e9\u00E9""#, .string("éé")),
        (#""\u0000""#, .string("\u{0}")),
        (#""\ud83d\ude00""#, .string("😀")),
        (#""\uD834\uDD1E clef""#, .string("𝄞 clef")),
        ("\"héllo 😀 日本\"", .string("héllo 😀 日本")),
        ("[]", .array([])),
        ("{}", .object([:])),
        (" \t\r\n[ 1 , 2 ,3 ] \n", .array([1, 2, 3])),
        (#"{"a":{"b":[true,null,"x"]},"c":-1.25}"#, .object(["a": ["b": [true, nil, "x"]], "c": -1.25])),
        (#"{"":0}"#, .object(["": 0])),
    ])
    func validInputs(input: String, expected: JSONValue) throws {
        let value = try JSONValue(parsing: Array(input.utf8))
        #expect(value == expected)
    }

    @Test("Integers that fit Int64 are .int, others .double")
    func numberKinds() throws {
        #expect(try JSONValue(parsing: "42") == .int(42))
        #expect(try JSONValue(parsing: "42.0") == .double(42))
        #expect(try JSONValue(parsing: "4.2e1") == .double(42))
        #expect(try JSONValue(parsing: "18446744073709551616").intValue == nil)
        #expect(try JSONValue(parsing: "1e18").intValue == 1_000_000_000_000_000_000)
    }

    // MARK: Parsing: invalid inputs

    struct Invalid: Sendable, CustomTestStringConvertible {
        let bytes: [UInt8]
        let reason: String
        let offset: Int
        init(_ text: String, _ reason: String, at offset: Int) {
            self.init(bytes: Array(text.utf8), reason, at: offset)
        }
        init(bytes: [UInt8], _ reason: String, at offset: Int) {
            self.bytes = bytes
            self.reason = reason
            self.offset = offset
        }
        var testDescription: String { String(reflecting: String(decoding: bytes, as: UTF8.self)) }
    }

    @Test("Invalid inputs are rejected with reason and offset", arguments: [
        Invalid("", "unexpected end of input", at: 0),
        Invalid("   ", "unexpected end of input", at: 3),
        Invalid("01", "leading zeros", at: 0),
        Invalid("-01", "leading zeros", at: 0),
        Invalid("00", "leading zeros", at: 0),
        Invalid("+1", "unexpected character '+'", at: 0),
        Invalid(".5", "unexpected character '.'", at: 0),
        Invalid("1.", "after the decimal point", at: 2),
        Invalid("1.e5", "after the decimal point", at: 2),
        Invalid("1e", "exponent", at: 2),
        Invalid("1e+", "exponent", at: 3),
        Invalid("-", "digit after '-'", at: 1),
        Invalid("-a", "digit after '-'", at: 1),
        Invalid("NaN", "unexpected character 'N'", at: 0),
        Invalid("Infinity", "unexpected character 'I'", at: 0),
        Invalid("1e400", "out of range", at: 0),
        Invalid("-1e400", "out of range", at: 0),
        Invalid("0x10", "after the JSON value", at: 1),
        Invalid("tru", "invalid literal", at: 0),
        Invalid("nul", "invalid literal", at: 0),
        Invalid("True", "unexpected character 'T'", at: 0),
        Invalid("nulll", "after the JSON value", at: 4),
        Invalid("1 2", "after the JSON value", at: 2),
        Invalid("[] x", "after the JSON value", at: 3),
        Invalid("{}}", "after the JSON value", at: 2),
        Invalid("// c\n1", "unexpected character '/'", at: 0),
        Invalid("[1,]", "unexpected character ']', expected a value", at: 3),
        Invalid("[1 2]", "expected ',' or ']'", at: 3),
        Invalid("[1,2", "unexpected end of input, expected ',' or ']'", at: 4),
        Invalid("[", "unexpected end of input, expected a value", at: 1),
        Invalid(#"{"a" 1}"#, "expected ':'", at: 5),
        Invalid("{a:1}", "expected a string key", at: 1),
        Invalid(#"{"a":1,}"#, "expected a string key", at: 7),
        Invalid(#"{"a":1 "b":2}"#, "expected ',' or '}'", at: 7),
        Invalid(#"{"a":}"#, "expected a value", at: 5),
        Invalid(#"{"a":1,"a":2}"#, "duplicate key \"a\"", at: 7),
        Invalid(#"{"a":1,"\u0061":2}"#, "duplicate key \"a\"", at: 7),
        Invalid(#"[{"x":{"k":1,"k":[]}}]"#, "duplicate key \"k\"", at: 13),
        Invalid(#""abc"#, "unterminated string", at: 0),
        Invalid("\"a\nb\"", "unescaped control character byte 0x0A", at: 2),
        Invalid("\"\t\"", "unescaped control character byte 0x09", at: 1),
        Invalid("\"\u{7}\"", "unescaped control character", at: 1),
        Invalid(#""\x""#, "invalid escape sequence '\\x'", at: 1),
        Invalid(#""\U0041""#, "invalid escape sequence", at: 1),
        Invalid(#""\u12""#, "four hex digits", at: 3),
        Invalid(#""\u12G4""#, "four hex digits", at: 5),
        Invalid(#""\ud800""#, "high surrogate not followed by a low surrogate", at: 1),
        Invalid(#""\ud800x""#, "high surrogate not followed by a low surrogate", at: 1),
        Invalid(#""\ud800\u0041""#, "high surrogate not followed by a low surrogate", at: 1),
        Invalid(#""\ud800\ud800""#, "high surrogate not followed by a low surrogate", at: 1),
        Invalid(#""\udc00""#, "lone low surrogate", at: 1),
        Invalid(#""\ude00\ud83d""#, "lone low surrogate", at: 1),
        Invalid("\u{FEFF}1", "unexpected byte 0xEF", at: 0),
        Invalid(bytes: [0x22, 0xFF, 0x22], "invalid UTF-8 byte 0xFF", at: 1),
        Invalid(bytes: [0x22, 0x80, 0x22], "invalid UTF-8 byte 0x80", at: 1),
        Invalid(bytes: [0x22, 0xC0, 0x80, 0x22], "invalid UTF-8", at: 1),  // overlong NUL
        Invalid(bytes: [0x22, 0xE0, 0x80, 0x80, 0x22], "invalid UTF-8 sequence", at: 1),  // overlong
        Invalid(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22], "invalid UTF-8 sequence", at: 1),  // encoded surrogate
        Invalid(bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], "invalid UTF-8 sequence", at: 1),  // > U+10FFFF
        Invalid(bytes: [0x22, 0xE2, 0x82, 0x22], "invalid UTF-8 sequence", at: 1),  // truncated
        Invalid(bytes: [0x22, 0xE2, 0x82], "invalid UTF-8 sequence", at: 1),  // truncated at end
    ])
    func invalidInputs(invalid: Invalid) {
        #expect {
            _ = try JSONValue(parsing: invalid.bytes)
        } throws: { error in
            guard let error = error as? JSONParseError else { return false }
            return error.reason.contains(invalid.reason) && error.offset == invalid.offset
        }
    }

    @Test("Parse errors describe offset and reason")
    func errorDescription() {
        #expect(throws: JSONParseError(offset: 2, reason: "leading zeros are not allowed")) {
            try JSONValue(parsing: "[ 01]")
        }
        let error = JSONParseError(offset: 7, reason: "duplicate key \"a\"")
        #expect(error.description == "invalid JSON at byte 7: duplicate key \"a\"")
    }

    // MARK: Depth

    static func nestedArrays(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    static func nestedObjects(_ depth: Int) -> String {
        String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
    }

    @Test("Nesting up to maxDepth is accepted, one deeper is rejected")
    func depthLimit() throws {
        _ = try JSONValue(parsing: Self.nestedArrays(64))
        _ = try JSONValue(parsing: Self.nestedObjects(64))
        #expect(throws: JSONParseError(offset: 64, reason: "nesting deeper than the maximum depth of 64")) {
            try JSONValue(parsing: Self.nestedArrays(65))
        }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Self.nestedObjects(65)) }
        // Mixed nesting counts arrays and objects alike.
        _ = try JSONValue(parsing: #"[{"a":[{"b":[]}]}]"#, maxDepth: 5)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: #"[{"a":[{"b":[]}]}]"#, maxDepth: 4) }
        // Custom limits, including scalars-only.
        _ = try JSONValue(parsing: Self.nestedArrays(500), maxDepth: 500)
        #expect(try JSONValue(parsing: "7", maxDepth: 0) == 7)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: "[]", maxDepth: 0) }
        // Hostile depth fails fast instead of overflowing the stack.
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Self.nestedArrays(1_000_000)) }
    }

    // MARK: Serialization

    @Test("Serialization is compact with sorted keys")
    func canonicalOrdering() throws {
        let value: JSONValue = ["b": 1, "a": [2, "x", nil], "A": true, "aa": 1.5, "é": "z", "z": [:], "_": []]
        #expect(value.jsonString == #"{"A":true,"_":[],"a":[2,"x",null],"aa":1.5,"b":1,"z":{},"é":"z"}"#)
        #expect(value.serialized() == Array(value.jsonString.utf8))
        #expect(value.canonicalBytes == value.serialized(sortedKeys: true))
        #expect(value.description == value.jsonString)
        // Unsorted output holds the same content.
        #expect(try JSONValue(parsing: value.serialized(sortedKeys: false)) == value)
    }

    @Test("Equal values built differently serialize identically")
    func canonicalEquality() throws {
        var members: [String: JSONValue] = [:]
        for index in (0..<200).reversed() { members["key\(index)"] = .int(Int64(index)) }
        let a = JSONValue.object(members)
        var reordered: [String: JSONValue] = [:]
        reordered.reserveCapacity(1000)
        for index in 0..<200 { reordered["key\(index)"] = .int(Int64(index)) }
        let b = JSONValue.object(reordered)
        #expect(a == b)
        #expect(a.serialized() == b.serialized())
        let parsed = try JSONValue(parsing: "{ \"key1\" : 1,\n" + (0..<200).filter { $0 != 1 }.map { "\"key\($0)\":\($0)" }.joined(separator: ",") + "}")
        #expect(parsed.serialized() == a.serialized())

        // Canonically equivalent strings are equal in Swift, so they must serialize alike (NFC).
        let composed: JSONValue = .string("caf\u{E9}")
        let decomposed: JSONValue = .string("cafe\u{301}")
        #expect(composed == decomposed)
        #expect(composed.serialized() == decomposed.serialized())
        #expect(decomposed.jsonString == "\"caf\u{E9}\"")
        let keyComposed: JSONValue = ["\u{E9}": 1, "f": 2]
        let keyDecomposed: JSONValue = ["e\u{301}": 1, "f": 2]
        #expect(keyComposed == keyDecomposed)
        #expect(keyComposed.serialized() == keyDecomposed.serialized())

        // Negative zero equals zero, so it serializes as zero.
        #expect(JSONValue.double(-0.0) == .double(0.0))
        #expect(JSONValue.double(-0.0).jsonString == JSONValue.double(0.0).jsonString)
    }

    @Test("Numbers serialize in shortest round-trip form", arguments: [
        (JSONValue.int(0), "0"),
        (.int(-7), "-7"),
        (.int(.max), "9223372036854775807"),
        (.int(.min), "-9223372036854775808"),
        (.double(1), "1.0"),
        (.double(-2.5), "-2.5"),
        (.double(0.1), "0.1"),
        (.double(0.0), "0.0"),
        (.double(-0.0), "0.0"),
        (.double(1e16), "1e+16"),
        (.double(1.5e-7), "1.5e-07"),
        (.double(123_456_789), "123456789.0"),
        (.double(9_223_372_036_854_775_808.0), "9.223372036854776e+18"),
        (.double(.greatestFiniteMagnitude), "1.7976931348623157e+308"),
        (.double(.leastNonzeroMagnitude), "5e-324"),
        (.double(.infinity), "null"),
        (.double(.nan), "null"),
    ])
    func numberSerialization(value: JSONValue, expected: String) {
        #expect(value.jsonString == expected)
    }

    @Test("Finite doubles round-trip exactly and stay doubles")
    func doubleRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        var checked = 0
        while checked < 10_000 {
            let value = Double(bitPattern: generator.next())
            guard value.isFinite else { continue }
            let parsed = try JSONValue(parsing: JSONValue.double(value).serialized())
            #expect(parsed == .double(value), "\(value)")
            checked += 1
        }
    }

    @Test("Strings use minimal escaping")
    func stringEscaping() throws {
        let value: JSONValue = .string("a\"b\\c\n\r\t\u{8}\u{C}\u{1}\u{1F}\u{0}/é😀\u{7F}")
        #expect(value.jsonString == #""a\"b\\c\n\r\t\b\f\u0001\u001f\u0000/é😀"# + "\u{7F}\"")
        #expect(try JSONValue(parsing: value.serialized()) == value)
        // Unicode escapes parse to the literal characters and serialize unescaped.
        #expect(try JSONValue(parsing: #""\u00e9\ud83d\ude00\u002F""#).jsonString == "\"é😀/\"")
    }

    @Test("Parse → serialize → parse round trips")
    func roundTrips() throws {
        let documents = [
            #"{"id":"0192","steps":[{"name":"a","timeout":"30s","retries":3},{"name":"b","after":["a"]}],"meta":null}"#,
            #"[1,-1,1.5,-0.25,1e+100,"x",true,false,null,[],{},[[]],{"":{"":""}}]"#,
            #"{"nested":{"deep":{"deeper":[1,[2,[3,[4]]]]}},"unicode":"日本語 \u2028 \ud83d\ude00"}"#,
        ]
        for document in documents {
            let value = try JSONValue(parsing: document)
            let bytes = value.serialized()
            let reparsed = try JSONValue(parsing: bytes)
            #expect(reparsed == value)
            #expect(reparsed.serialized() == bytes)
        }
    }

    // MARK: Accessors and literals

    @Test("Accessors")
    func accessors() throws {
        let value = try JSONValue(parsing: #"{"a":{"b":[10,{"c":"deep"}]},"n":2.0,"f":2.5,"s":"x","t":true,"z":null}"#)
        #expect(value["a"]?["b"]?[0] == 10)
        #expect(value["a"]?["b"]?[5] == nil)
        #expect(value["a"]?["b"]?[-1] == nil)
        #expect(value["missing"] == nil)
        #expect(value[0] == nil)
        #expect(value.value(atPath: ["a", "b", "1", "c"])?.stringValue == "deep")
        #expect(value.value(atPath: ["a", "b", "0"])?.intValue == 10)
        #expect(value.value(atPath: []) == value)
        #expect(value.value(atPath: ["a", "b", "2"]) == nil)
        #expect(value.value(atPath: ["a", "b", "+1"]) == nil)
        #expect(value.value(atPath: ["a", "b", "-1"]) == nil)
        #expect(value.value(atPath: ["a", "b", ""]) == nil)
        #expect(value.value(atPath: ["s", "x"]) == nil)
        #expect(value["n"]?.intValue == 2)
        #expect(value["f"]?.intValue == nil)
        #expect(value["f"]?.doubleValue == 2.5)
        #expect(value.value(atPath: ["a", "b", "0"])?.doubleValue == 10)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["s"]?.intValue == nil)
        #expect(value["t"]?.boolValue == true)
        #expect(value["z"]?.isNull == true)
        #expect(value["t"]?.isNull == false)
        #expect(value.objectValue?.count == 6)
        #expect(value["a"]?["b"]?.arrayValue?.count == 2)
        #expect(value.arrayValue == nil)
        #expect(JSONValue.double(1e30).intValue == nil)
    }

    @Test("Literals")
    func literals() {
        let value: JSONValue = ["s": "text", "i": 42, "d": 0.5, "b": false, "a": [1, "two"], "n": nil]
        #expect(value == .object([
            "s": .string("text"), "i": .int(42), "d": .double(0.5), "b": .bool(false),
            "a": .array([.int(1), .string("two")]), "n": .null,
        ]))
    }

    // MARK: Codable

    struct Envelope: Codable, Equatable {
        let id: String
        let payload: JSONValue
        let extra: JSONValue?
    }

    @Test("Codable encodes and decodes as plain JSON")
    func codable() throws {
        let envelope = Envelope(
            id: "e1",
            payload: ["list": [1, 2.5, "x", true, nil], "obj": ["k": "v"], "big": .double(1e300)],
            extra: nil
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(envelope)
        let decoded = try JSONDecoder().decode(Envelope.self, from: data)
        #expect(decoded == envelope)
        // The payload is embedded as plain JSON, not as an enum structure.
        let reparsed = try JSONValue(parsing: Array(data))
        #expect(reparsed["payload"] == envelope.payload)

        let fromText = try JSONDecoder().decode(Envelope.self, from: Data(#"{"id":"x","payload":{"n":null,"i":-3,"d":0.25},"extra":7}"#.utf8))
        #expect(fromText.payload == ["n": nil, "i": -3, "d": 0.25])
        #expect(fromText.extra == 7)

        let nullPayload = try JSONDecoder().decode(Envelope.self, from: Data(#"{"id":"x","payload":null}"#.utf8))
        #expect(nullPayload.payload == .null)
        #expect(nullPayload.extra == nil)
    }
}
