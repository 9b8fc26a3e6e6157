import AriaCore
import Foundation
import Testing

/// Foundation's encoder configured as `Wire.encode` configured it before `WireEncoder`: the reference.
private func reference<T: Encodable>(_ value: T) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(Timestamp.format(date))
    }
    return Array(try encoder.encode(value))
}

/// Asserts that `WireEncoder` writes exactly the bytes `JSONEncoder` writes.
private func expectSameBytes<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let ours = String(decoding: try WireEncoder.encode(value), as: UTF8.self)
    let theirs = String(decoding: try reference(value), as: UTF8.self)
    #expect(ours == theirs, sourceLocation: sourceLocation)
}

/// A deterministic generator (SplitMix64), so failures reproduce.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private struct Scalars: Codable {
    var int: Int
    var int8: Int8
    var int16: Int16
    var int32: Int32
    var int64: Int64
    var uint: UInt
    var uint8: UInt8
    var uint16: UInt16
    var uint32: UInt32
    var uint64: UInt64
    var float: Float
    var double: Double
    var bool: Bool
    var string: String
    var optionalString: String?
    var optionalInt: Int?
    var date: Date
    var optionalDate: Date?
}

private enum Color: String, Codable { case red, green }
private enum Level: Int, Codable { case low = 1, high = 10 }
private enum Shape: Codable, Equatable {
    case circle(radius: Double)
    case square(Int, label: String?)
    case none
}

private struct Nested: Codable {
    var name: String
    var colors: [Color]
    var levels: [Level: String]
    var shapes: [Shape]
    var children: [Nested]
    var optionals: [Int?]
    var table: [String: [String: Int]]
    var json: JSONValue
    var maybeJSON: JSONValue?
    var uuid: UUID
}

/// Uses nested containers and super encoders explicitly.
private struct Manual: Encodable {
    enum Keys: String, CodingKey { case a, b, c, z }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(1, forKey: .z)
        var nested = container.nestedContainer(keyedBy: Keys.self, forKey: .b)
        try nested.encode("x", forKey: .a)
        try nested.encodeNil(forKey: .c)
        var list = container.nestedUnkeyedContainer(forKey: .a)
        try list.encode(true)
        try list.encodeNil()
        var inner = list.nestedContainer(keyedBy: Keys.self)
        try inner.encode(2.5, forKey: .c)
        var innerList = list.nestedUnkeyedContainer()
        try innerList.encode("deep")
        let superEncoder = container.superEncoder()
        var superContainer = superEncoder.container(keyedBy: Keys.self)
        try superContainer.encode("base", forKey: .a)
        let keyedSuper = container.superEncoder(forKey: .c)
        var single = keyedSuper.singleValueContainer()
        try single.encode("scalar super")
        let elementSuper = list.superEncoder()
        var elementSingle = elementSuper.singleValueContainer()
        try elementSingle.encode(7)
    }
}

/// Encodes nothing: written as `{}`.
private struct Silent: Encodable {
    func encode(to encoder: any Encoder) throws {}
}

/// A second `container(keyedBy:)` call on the same encoder adds to the same object.
private struct TwoContainers: Encodable {
    enum Keys: String, CodingKey { case first, second }
    func encode(to encoder: any Encoder) throws {
        var one = encoder.container(keyedBy: Keys.self)
        try one.encode(1, forKey: .second)
        var two = encoder.container(keyedBy: Keys.self)
        try two.encode(2, forKey: .first)
    }
}

private func randomString(_ random: inout SeededGenerator) -> String {
    let pool: [Unicode.Scalar] = ["a", "B", "z", "0", "9", "_", "-", "/", "\\", "\"", " ", "\u{0}", "\u{1}", "\u{8}", "\u{9}",
                                  "\u{A}", "\u{B}", "\u{C}", "\u{D}", "\u{1F}", "\u{7F}", "é", "e", "\u{301}", "ß", "\u{2028}", "中", "😀", "\u{FFFF}"]
    var scalars = String.UnicodeScalarView()
    for _ in 0..<Int.random(in: 0...8, using: &random) { scalars.append(pool.randomElement(using: &random)!) }
    return String(scalars)
}

private func randomJSON(_ random: inout SeededGenerator, depth: Int) -> JSONValue {
    switch Int.random(in: 0...(depth > 3 ? 4 : 6), using: &random) {
    case 0: return .null
    case 1: return .bool(Bool.random(using: &random))
    case 2: return .int(Int64.random(in: Int64.min...Int64.max, using: &random) >> Int64.random(in: 0...62, using: &random))
    case 3:
        let choices: [Double] = [0, -0.0, 1, 0.1, 1.5, -2.25, 1e16, 1e-7, 2.5e15, 123_456_789.123, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 100]
        return .double(Bool.random(using: &random) ? choices.randomElement(using: &random)! : Double.random(in: -1e6...1e6, using: &random))
    case 4: return .string(randomString(&random))
    case 5: return .array((0..<Int.random(in: 0...4, using: &random)).map { _ in randomJSON(&random, depth: depth + 1) })
    default:
        var members: [String: JSONValue] = [:]
        for _ in 0..<Int.random(in: 0...5, using: &random) { members[randomString(&random)] = randomJSON(&random, depth: depth + 1) }
        return .object(members)
    }
}

@Suite("WireEncoder")
struct WireEncoderTests {
    @Test("scalars of every width, optionals and dates encode as JSONEncoder encodes them")
    func scalars() throws {
        let date = Timestamp.parse("2026-11-21T20:24:41.123Z")!
        try expectSameBytes(Scalars(int: -42, int8: .min, int16: .max, int32: -1, int64: .min, uint: 0, uint8: .max, uint16: 7, uint32: .max,
                                    uint64: .max, float: 1.1, double: 0.1, bool: true, string: "hi", optionalString: nil, optionalInt: 3,
                                    date: date, optionalDate: date))
        try expectSameBytes(Scalars(int: 0, int8: 0, int16: 0, int32: 0, int64: .max, uint: .max, uint8: 0, uint16: 0, uint32: 0,
                                    uint64: 0, float: 3, double: -0.0, bool: false, string: "", optionalString: "x", optionalInt: nil,
                                    date: Date(timeIntervalSince1970: 0), optionalDate: nil))
        for value in [0, -0.0, 1, 0.1, 1e20, 1e-7, 123_456_789.123, 1e16, 2.5e15, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 100, -3.75] as [Double] {
            try expectSameBytes(value)
            try expectSameBytes([value])
            try expectSameBytes(["k": value])
        }
        for value in [0, 1.1, 3, -2.5e-8, .greatestFiniteMagnitude] as [Float] { try expectSameBytes([value]) }
        try expectSameBytes("top level")
        try expectSameBytes(Int64.min)
        try expectSameBytes([String?.none, "x"])
    }

    @Test("strings: every control character, quotes, backslashes, slashes and non-ASCII")
    func strings() throws {
        var all = ""
        for scalar in 0..<0x80 { all.unicodeScalars.append(Unicode.Scalar(UInt8(scalar))) }
        all += "é e\u{301} \u{2028} 中 😀 \u{FFFF} \u{10FFFF}"
        try expectSameBytes(all)
        try expectSameBytes([all: all])
        var random = SeededGenerator(state: 1)
        for _ in 0..<500 { try expectSameBytes(randomString(&random)) }
    }

    @Test("object keys are sorted as JSONEncoder sorts them, including non-ASCII and decomposed keys")
    func keyOrder() throws {
        let keys = ["a10", "a2", "B", "a", "_x", "b", "A", "é", "e\u{301}f", "e", "f", "Z", "aa", "a_b", "ab", "1", "10", "9", "ｂ", "😀", "\u{10FFFF}", "\u{FFFF}", ""]
        try expectSameBytes(Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) }))
        var random = SeededGenerator(state: 2)
        for _ in 0..<300 {
            var dictionary: [String: Int] = [:]
            for index in 0..<Int.random(in: 0...12, using: &random) { dictionary[randomString(&random)] = index }
            try expectSameBytes(dictionary)
        }
    }

    @Test("nested structs, enums with raw and associated values, dictionaries, optionals in arrays, JSONValue, UUID")
    func nested() throws {
        let leaf = Nested(name: "leaf", colors: [], levels: [:], shapes: [.none], children: [], optionals: [], table: [:], json: .null,
                          maybeJSON: nil, uuid: UUID(uuidString: "0193A3C4-5B6D-7E8F-9A0B-1C2D3E4F5A6B")!)
        let root = Nested(name: "root/é", colors: [.red, .green], levels: [.low: "l", .high: "h"],
                          shapes: [.circle(radius: 1.5), .square(2, label: nil), .square(3, label: "sq"), .none],
                          children: [leaf, leaf], optionals: [1, nil, 3], table: ["x": ["b": 2, "a": 1], "": [:]],
                          json: ["n": 1, "d": 1.0, "s": "t", "a": [.null, true, 2.5], "o": ["z": [:], "y": []]], maybeJSON: .int(5), uuid: UUID())
        try expectSameBytes(root)
        try expectSameBytes([root, leaf])
        try expectSameBytes(["one": root])
    }

    @Test("random JSONValue trees encode as JSONEncoder encodes them")
    func randomJSONValues() throws {
        var random = SeededGenerator(state: 3)
        for _ in 0..<1000 {
            let value = randomJSON(&random, depth: 0)
            try expectSameBytes(value)
            try expectSameBytes(["wrapped": value])
        }
    }

    @Test("nested containers, super encoders, silent values and repeated container requests")
    func containers() throws {
        try expectSameBytes(Manual())
        #expect(throws: EncodingError.self) { try WireEncoder.encode(Silent()) }
        #expect(throws: EncodingError.self) { try reference(Silent()) }
        try expectSameBytes([Silent()])
        try expectSameBytes(TwoContainers())
    }

    @Test("Aria's envelopes and plans encode as before")
    func ariaTypes() throws {
        let created = Timestamp.parse("2026-11-21T20:24:41.123Z")!
        let dispatch = Envelope(type: .stepDispatch, tenant: TenantID(trusted: "acme"), run: RunID("0193a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b")!,
                                step: StepID(trusted: "fetch-1"), attempt: 2, fencingToken: 7, seq: 12, deadline: created.addingTimeInterval(0.5),
                                createdAt: created, traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                body: StepDispatchBody(skill: "echo", params: ["message": "hi/there", "n": [1, 2.5, .null]], timeoutMilliseconds: 30_000))
        try expectSameBytes(dispatch)
        let plan = Plan(planID: "p-1", goal: "say hi", steps: [
            PlanStep(stepID: StepID(trusted: "a"), skill: "echo", params: ["x": "{{steps.b.output.y}}", "n": 1.5], outputKey: "greeting"),
            PlanStep(stepID: StepID(trusted: "b"), skill: "http_call", dependsOn: [StepID(trusted: "a")], onError: .retry, timeout: .seconds(5),
                     condition: StepCondition(stepID: StepID(trusted: "a"), field: "n", op: .gt, value: 1),
                     retry: RetryPolicy(maxAttempts: 4, backoff: .linear, initialDelay: .milliseconds(200), jitter: 0.1)),
        ], metadata: ["source": "test"], defaults: StepDefaults(timeout: .seconds(45)))
        try expectSameBytes(plan)
    }

    @Test("non-finite numbers are an encoding error, as with JSONEncoder")
    func nonFinite() {
        #expect(throws: EncodingError.self) { try WireEncoder.encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try WireEncoder.encode(["k": Float.infinity]) }
        #expect(throws: EncodingError.self) { try WireEncoder.encode(JSONValue.double(.infinity)) }
    }

    @Test("Timestamp.format agrees with Foundation's ISO 8601 formatting (Gregorian years) and round-trips through parse")
    func timestamps() {
        func foundation(_ date: Date) -> String {
            let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
            var seconds = totalMilliseconds / 1000
            var milliseconds = totalMilliseconds % 1000
            if milliseconds < 0 { milliseconds += 1000; seconds -= 1 }
            let text = Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
            let digits = String(milliseconds)
            return String(text.dropLast()) + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
        }
        var random = SeededGenerator(state: 4)
        var dates = [0, -0.0004, -0.0006, 0.0005, 951_782_400, 4_107_542_399.9996, -62_135_596_800, 253_402_300_799.999, 1_795_321_862.1795]
            .map { Date(timeIntervalSince1970: $0) }
        for _ in 0..<5000 { dates.append(Date(timeIntervalSince1970: Double.random(in: -62_000_000_000...253_000_000_000, using: &random))) }
        for date in dates {
            // Foundation switches to the Julian calendar before October 1582; RFC 3339 (and `parse`) stay Gregorian.
            if date.timeIntervalSince1970 >= -12_212_553_600 {
                #expect(Timestamp.format(date) == foundation(date), "\(date.timeIntervalSince1970)")
            }
            #expect(Timestamp.parse(Timestamp.format(date)).map { abs($0.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.0006 } == true)
        }
    }
}
