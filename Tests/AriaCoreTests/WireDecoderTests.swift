import AriaCore
import Foundation
import Testing

// MARK: - Reference decoder and helpers

/// Foundation's decoder configured as `Wire.decode` configured it before `WireDecoder`: the reference behaviour.
private func referenceDecode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .custom { decoder in
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = Timestamp.parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 timestamp: \(text.prefix(40))")
        }
        return date
    }
    return try decoder.decode(T.self, from: Data(bytes))
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A plain coding key, to build expected coding paths.
private struct TestKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
    init(intValue: Int, stringValue: String) {
        self.stringValue = stringValue
        self.intValue = intValue
    }
}

/// A coding path written as `stringValue` (plus `#intValue` when there is one), e.g. `["steps", "Index 1#1", "skill"]`.
private func pathDescription(_ path: [any CodingKey]) -> [String] {
    path.map { key in key.intValue.map { "\(key.stringValue)#\($0)" } ?? key.stringValue }
}

/// Everything observable about a decoding error except the underlying error.
private struct ErrorSummary: Equatable, CustomStringConvertible {
    var kind: String
    var type: String
    var path: [String]
    var debugDescription: String

    init(_ error: any Error) {
        switch error as? DecodingError {
        case .typeMismatch(let type, let context)?:
            self.init(kind: "typeMismatch", type: "\(type)", context: context)
        case .valueNotFound(let type, let context)?:
            self.init(kind: "valueNotFound", type: "\(type)", context: context)
        case .keyNotFound(let key, let context)?:
            self.init(kind: "keyNotFound", type: pathDescription([key])[0], context: context)
        case .dataCorrupted(let context)?:
            self.init(kind: "dataCorrupted", type: "", context: context)
        default:
            self.init(kind: "other", type: "\(Swift.type(of: error))", path: [], debugDescription: "\(error)")
        }
    }

    private init(kind: String, type: String, context: DecodingError.Context) {
        self.init(kind: kind, type: type, path: pathDescription(context.codingPath), debugDescription: context.debugDescription)
    }

    private init(kind: String, type: String, path: [String], debugDescription: String) {
        self.kind = kind
        self.type = type
        self.path = path
        self.debugDescription = debugDescription
    }

    var description: String { "\(kind)(\(type)) at \(path): \(debugDescription)" }
}

/// The error `body` throws, summarized; nil if it does not throw.
private func summary<T>(_ body: () throws -> T) -> ErrorSummary? {
    do {
        _ = try body()
        return nil
    } catch {
        return ErrorSummary(error)
    }
}

/// Decodes `text` with both decoders and expects the same value.
private func expectSameValue<T: Decodable & Equatable>(
    _ type: T.Type, _ text: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let ours = try WireDecoder.decode(T.self, from: bytes(text))
    let reference = try referenceDecode(T.self, from: bytes(text))
    #expect(ours == reference, "\(text)", sourceLocation: sourceLocation)
}

/// Decodes `text` with both decoders and expects the same error: kind, type, coding path and description.
private func expectSameError<T: Decodable>(
    _ type: T.Type, _ text: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let ours = summary { try WireDecoder.decode(T.self, from: bytes(text)) }
    let reference = summary { try referenceDecode(T.self, from: bytes(text)) }
    #expect(ours != nil, "\(text) should not decode", sourceLocation: sourceLocation)
    #expect(ours == reference, "\(text)", sourceLocation: sourceLocation)
}

// MARK: - Sample types

private struct Sample: Codable, Equatable {
    enum Color: String, Codable, Equatable { case red, green, blueish = "blue-ish" }
    enum Shape: Codable, Equatable {
        case circle(radius: Double)
        case rect(width: Int, height: Int)
        case point
        case labeled(String, count: Int?)
        case nested(inner: Inner?)
    }
    struct Inner: Codable, Equatable {
        var name: String
        var tags: [String]
        var score: Double?
    }

    var id: Int
    var name: String
    var missing: String?
    var explicitNull: Int?
    var present: Bool?
    var inner: Inner
    var inners: [Inner]
    var counts: [String: Int]
    var byNumber: [Int: String]
    var color: Color
    var colors: [Color]
    var shapes: [Shape]
    var created: Date
    var maybeDate: Date?
    var nullDate: Date?
    var dates: [Date]
    var optionalDates: [Date?]
    var grid: [[Int]]
    var optionals: [Int?]
    var text: String

    enum CodingKeys: String, CodingKey {
        case id, name, missing, present, inner, inners, counts, color, colors, shapes, created, dates, grid, optionals, text
        case explicitNull = "explicit_null"
        case byNumber = "by_number"
        case maybeDate = "maybe_date"
        case nullDate = "null_date"
        case optionalDates = "optional_dates"
    }
}

private let sampleText = #"""
{
  "id": 42, "name": "sample", "explicit_null": null, "present": false,
  "inner": {"name": "in", "tags": ["a", "b"], "score": null},
  "inners": [{"name": "x", "tags": [], "score": 1.5}, {"name": "y", "tags": ["z"]}],
  "counts": {"a": 1, "b": -2, "": 0, "é": 3},
  "by_number": {"1": "one", "-7": "minus seven"},
  "color": "blue-ish", "colors": ["red", "green"],
  "shapes": [{"circle": {"radius": 2.5}}, {"rect": {"width": 3, "height": 4}}, {"point": {}},
             {"labeled": {"_0": "l", "count": null}}, {"nested": {"inner": {"name": "n", "tags": ["t"]}}}, {"nested": {}}],
  "created": "2026-11-21T20:24:41.123Z", "maybe_date": "2026-11-21T21:24:41.5+01:00", "null_date": null,
  "dates": ["1970-01-01T00:00:00Z", "2026-02-28T23:59:59.999Z"], "optional_dates": [null, "2026-11-21T20:24:41Z"],
  "grid": [[1, 2], [], [3]], "optionals": [1, null, 3],
  "text": "caf\u00e9 \u2603 \ud83d\ude00 😀 \"quoted\" back\\slash \/ tab\t nl\n ctl\u0001 end",
  "unknown": {"ignored": [1, 2, {"deep": true}]}
}
"""#

/// Every integer and floating-point width, for boundary values.
private struct Numbers: Codable, Equatable {
    var int: Int?
    var int8: Int8?
    var int16: Int16?
    var int32: Int32?
    var int64: Int64?
    var uint: UInt?
    var uint8: UInt8?
    var uint16: UInt16?
    var uint32: UInt32?
    var uint64: UInt64?
    var float: Float?
    var double: Double?
}

/// Holds JSON values in every position a decoder can reach them.
private struct Holder: Codable, Equatable {
    var value: JSONValue
    var optional: JSONValue?
    var list: [JSONValue]
    var map: [String: JSONValue]
}

private struct Step: Codable, Equatable {
    var skill: String
    var attempts: Int
}

private struct Plan: Codable, Equatable {
    var steps: [Step]
}

private struct Stamped: Codable, Equatable {
    var at: Date
    var maybe: Date?
    var list: [Date]?
}

/// A value of a single primitive type under the key `value`.
private struct Box<T: Decodable & Equatable>: Decodable, Equatable {
    var value: T
}

/// Records what a keyed container reports, including the errors of its calls.
private struct KeyedProbe: Decodable, Equatable {
    enum Keys: String, CodingKey { case a, b, c, nested, list, `super` }
    var log: [String] = []

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        func record<T>(_ label: String, _ body: () throws -> T) {
            do { log.append("\(label) = \(try body())") } catch { log.append("\(label) ! \(ErrorSummary(error))") }
        }
        log.append("path \(pathDescription(container.codingPath))")
        log.append("allKeys \(container.allKeys.map(\.stringValue).sorted())")
        for key in [Keys.a, .b, .c, .super] { log.append("contains \(key.stringValue) \(container.contains(key))") }
        record("decodeNil a") { try container.decodeNil(forKey: .a) }
        record("decodeNil b") { try container.decodeNil(forKey: .b) }
        record("decodeNil c") { try container.decodeNil(forKey: .c) }
        record("decode a") { try container.decode(Int.self, forKey: .a) }
        record("decode b") { try container.decode(Int.self, forKey: .b) }
        record("decode c") { try container.decode(Int.self, forKey: .c) }
        record("decode a as String") { try container.decode(String.self, forKey: .a) }
        record("decode a as Step") { try container.decode(Step.self, forKey: .a) }
        record("decodeIfPresent a") { try container.decodeIfPresent(Int.self, forKey: .a) as Any }
        record("decodeIfPresent b") { try container.decodeIfPresent(Int.self, forKey: .b) as Any }
        record("decodeIfPresent c") { try container.decodeIfPresent(Int.self, forKey: .c) as Any }
        record("decodeIfPresent a as Bool") { try container.decodeIfPresent(Bool.self, forKey: .a) as Any }
        record("decodeIfPresent b as Step") { try container.decodeIfPresent(Step.self, forKey: .b) as Any }
        record("nested keyed") {
            let nested = try container.nestedContainer(keyedBy: Keys.self, forKey: .nested)
            return "\(pathDescription(nested.codingPath)) \(try nested.decode(Int.self, forKey: .a)) \(summary { try nested.decode(Int.self, forKey: .b) }!)"
        }
        record("nested keyed on a") { try container.nestedContainer(keyedBy: Keys.self, forKey: .a) }
        record("nested keyed on b") { try container.nestedContainer(keyedBy: Keys.self, forKey: .b) }
        record("nested keyed on c") { try container.nestedContainer(keyedBy: Keys.self, forKey: .c) }
        record("nested keyed on list") { try container.nestedContainer(keyedBy: Keys.self, forKey: .list) }
        record("nested unkeyed") {
            var nested = try container.nestedUnkeyedContainer(forKey: .list)
            return "\(pathDescription(nested.codingPath)) \(nested.count ?? -1) \(try nested.decode(Int.self)) \(summary { try nested.decode(Int.self) }!)"
        }
        record("nested unkeyed on nested") { try container.nestedUnkeyedContainer(forKey: .nested) }
        record("nested unkeyed on b") { try container.nestedUnkeyedContainer(forKey: .b) }
        record("super") {
            let sup = try container.superDecoder()
            return "\(pathDescription(sup.codingPath)) \(try sup.singleValueContainer().decode(String.self))"
        }
        record("super for a") {
            let sup = try container.superDecoder(forKey: .a)
            return "\(pathDescription(sup.codingPath)) \(try sup.singleValueContainer().decode(Int.self))"
        }
        record("super for c") {
            let sup = try container.superDecoder(forKey: .c)
            return "\(pathDescription(sup.codingPath)) \(try sup.singleValueContainer().decodeNil()) \(summary { try sup.singleValueContainer().decode(Int.self) }!)"
        }
        record("single value of object") { try decoder.singleValueContainer().decode(Int.self) }
        record("unkeyed of object") { try decoder.unkeyedContainer() }
    }
}

/// Records what an unkeyed container reports, including the errors of its calls.
private struct UnkeyedProbe: Decodable, Equatable {
    enum Keys: String, CodingKey { case a }
    var log: [String] = []

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        func record<T>(_ label: String, _ body: (inout any UnkeyedDecodingContainer) throws -> T) {
            do {
                let result = try body(&container)
                log.append("\(label) = \(result) @\(container.currentIndex) end \(container.isAtEnd)")
            } catch {
                log.append("\(label) ! \(ErrorSummary(error)) @\(container.currentIndex)")
            }
        }
        log.append("path \(pathDescription(container.codingPath)) count \(container.count ?? -1)")
        record("decode Int") { try $0.decode(Int.self) }                           // 0: 1
        record("decodeNil on 2") { try $0.decodeNil() }                            // 1: 2
        record("decode String on 2") { try $0.decode(String.self) }
        record("decode Int") { try $0.decode(Int.self) }                           // 1: 2
        record("decodeNil") { try $0.decodeNil() }                                 // 2: null
        record("decodeIfPresent") { try $0.decodeIfPresent(Int.self) as Any }      // 3: null
        record("decode Int on null") { try $0.decode(Int.self) }                   // 4: null
        record("decode Step on null") { try $0.decode(Step.self) }
        record("decode Int?") { try $0.decode(Int?.self) as Any }                  // 4: null
        record("nested keyed") {                                                   // 5: {"a": 1}
            let nested = try $0.nestedContainer(keyedBy: Keys.self)
            return "\(pathDescription(nested.codingPath)) \(try nested.decode(Int.self, forKey: .a))"
        }
        record("nested keyed on array") { try $0.nestedContainer(keyedBy: Keys.self) }  // 6: [true, "x"]
        record("nested unkeyed") {
            var nested = try $0.nestedUnkeyedContainer()
            return "\(pathDescription(nested.codingPath)) \(try nested.decode(Bool.self)) \(summary { try nested.decode(Int.self) }!)"
        }
        record("nested unkeyed on object") { try $0.nestedUnkeyedContainer() }   // 7: {}
        record("super") {                                                          // 7: {}
            let sup = try $0.superDecoder()
            return "\(pathDescription(sup.codingPath)) \(summary { try sup.singleValueContainer().decode(String.self) }!)"
        }
        record("decode Date") { try $0.decode(Date.self) }                         // 8: "2026-11-21T20:24:41Z"
        record("decode Date on bad string") { try $0.decode(Date.self) }           // 9: "nope"
        record("skip") { try $0.decode(String.self) }
        record("decode Date on number") { try $0.decode(Date.self) }               // 10: 5
        record("skip") { try $0.decode(Int.self) }
        record("decode at end") { try $0.decode(Int.self) }
        record("decode Step at end") { try $0.decode(Step.self) }
        record("decodeNil at end") { try $0.decodeNil() }
        record("nested keyed at end") { try $0.nestedContainer(keyedBy: Keys.self) }
        record("nested unkeyed at end") { try $0.nestedUnkeyedContainer() }
        record("super at end") { try $0.superDecoder() }
    }
}

private let unkeyedProbeText = #"[1, 2, null, null, null, {"a": 1}, [true, "x"], {}, "2026-11-21T20:24:41Z", "nope", 5]"#

/// Exercises a single value container with every primitive type.
private struct SingleProbe: Decodable, Equatable {
    var log: [String] = []

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        func record<T>(_ label: String, _ body: () throws -> T) {
            do { log.append("\(label) = \(try body())") } catch { log.append("\(label) ! \(ErrorSummary(error))") }
        }
        log.append("path \(pathDescription(container.codingPath)) nil \(container.decodeNil())")
        record("Bool") { try container.decode(Bool.self) }
        record("String") { try container.decode(String.self) }
        record("Double") { try container.decode(Double.self) }
        record("Float") { try container.decode(Float.self) }
        record("Int") { try container.decode(Int.self) }
        record("Int8") { try container.decode(Int8.self) }
        record("Int16") { try container.decode(Int16.self) }
        record("Int32") { try container.decode(Int32.self) }
        record("Int64") { try container.decode(Int64.self) }
        record("UInt") { try container.decode(UInt.self) }
        record("UInt8") { try container.decode(UInt8.self) }
        record("UInt16") { try container.decode(UInt16.self) }
        record("UInt32") { try container.decode(UInt32.self) }
        record("UInt64") { try container.decode(UInt64.self) }
        record("Date") { try container.decode(Date.self) }
        record("Step") { try container.decode(Step.self) }
        record("[Int]") { try container.decode([Int].self) }
        record("Int?") { try container.decode(Int?.self) as Any }
    }
}

/// Decodes a `JSONValue` through `JSONValue.init(from:)` itself, and through a single value container.
private struct DirectJSONValue: Decodable {
    var direct: JSONValue
    var viaContainer: JSONValue

    init(from decoder: any Decoder) throws {
        direct = try JSONValue(from: decoder)
        viaContainer = try decoder.singleValueContainer().decode(JSONValue.self)
    }
}

// MARK: - Tests

@Suite("WireDecoder")
struct WireDecoderTests {
    // MARK: Values

    @Test("A nested Codable struct decodes like JSONDecoder: optionals, arrays, dictionaries, enums, dates, unicode")
    func sampleStruct() throws {
        let ours = try WireDecoder.decode(Sample.self, from: bytes(sampleText))
        let reference = try referenceDecode(Sample.self, from: bytes(sampleText))
        #expect(ours == reference)
        #expect(ours.missing == nil)
        #expect(ours.explicitNull == nil)
        #expect(ours.present == false)
        #expect(ours.inner.score == nil)
        #expect(ours.inners[1].score == nil)
        #expect(ours.counts == ["a": 1, "b": -2, "": 0, "é": 3])
        #expect(ours.byNumber == [1: "one", -7: "minus seven"])
        #expect(ours.color == .blueish)
        #expect(ours.shapes == [.circle(radius: 2.5), .rect(width: 3, height: 4), .point, .labeled("l", count: nil),
                                .nested(inner: Sample.Inner(name: "n", tags: ["t"], score: nil)), .nested(inner: nil)])
        #expect(Timestamp.format(ours.created) == "2026-11-21T20:24:41.123Z")
        #expect(ours.maybeDate.map(Timestamp.format) == "2026-11-21T20:24:41.500Z")
        #expect(ours.nullDate == nil)
        #expect(ours.dates.map(Timestamp.format) == ["1970-01-01T00:00:00.000Z", "2026-02-28T23:59:59.999Z"])
        #expect(ours.optionalDates.map { $0.map(Timestamp.format) } == [nil, "2026-11-21T20:24:41.000Z"])
        #expect(ours.grid == [[1, 2], [], [3]])
        #expect(ours.optionals == [1, nil, 3])
        #expect(ours.text == "café ☃ 😀 😀 \"quoted\" back\\slash / tab\t nl\n ctl\u{01} end")
    }

    @Test("A value encoded by Wire.encode decodes back to itself, as with JSONDecoder")
    func encodedRoundTrip() throws {
        let created = try #require(Timestamp.parse("2026-11-21T20:24:41.123Z"))
        let value = Sample(
            id: -1, name: "n\u{0}ul \u{1F600}", missing: "now present", explicitNull: nil, present: true,
            inner: .init(name: "i", tags: ["x", "y"], score: 0.1), inners: [], counts: ["k": Int.max],
            byNumber: [Int.min: "min"], color: .red, colors: [.blueish], shapes: [.labeled("a", count: 2), .point],
            created: created, maybeDate: nil, nullDate: created, dates: [created],
            optionalDates: [nil, created], grid: [[Int.min, Int.max]], optionals: [nil], text: "")
        let encoded = try Wire.encode(value)
        let ours = try WireDecoder.decode(Sample.self, from: encoded)
        #expect(ours == value)
        #expect(ours == (try referenceDecode(Sample.self, from: encoded)))
    }

    @Test("Dates round trip through Timestamp.format in every position")
    func dates() throws {
        for seconds in [0, 1_795_292_681.123, -86_400.5, 4_102_444_799.999] {
            let date = Date(timeIntervalSince1970: seconds)
            let text = Timestamp.format(date)
            let json = #"{"at": "\#(text)", "maybe": "\#(text)", "list": ["\#(text)"]}"#
            let ours = try WireDecoder.decode(Stamped.self, from: bytes(json))
            #expect(ours == (try referenceDecode(Stamped.self, from: bytes(json))))
            #expect(Timestamp.format(ours.at) == text)
            #expect(abs(ours.at.timeIntervalSince(date)) < 0.001)
            #expect(ours.maybe == ours.at)
            #expect(ours.list == [ours.at])
            #expect(try WireDecoder.decode(Date.self, from: bytes("\"\(text)\"")) == ours.at)
        }
        try expectSameValue(Stamped.self, #"{"at": "2026-11-21T20:24:41Z", "maybe": null}"#)
        try expectSameValue(Stamped.self, #"{"at": "2026-11-21T20:24:41Z"}"#)
    }

    @Test("Integer and floating-point boundary values decode like JSONDecoder")
    func boundaryNumbers() throws {
        let cases = [
            #"{"int": 9223372036854775807, "int64": -9223372036854775808, "int8": -128, "int16": 32767, "int32": -2147483648}"#,
            #"{"int": -9223372036854775808, "int64": 9223372036854775807, "int8": 127, "int16": -32768, "int32": 2147483647}"#,
            #"{"uint": 0, "uint8": 255, "uint16": 65535, "uint32": 4294967295, "uint64": 9223372036854775807}"#,
            #"{"uint64": 9223372036854775808, "uint": 1e19}"#,
            #"{"double": 1.7976931348623157e308, "float": 3.4028235e38}"#,
            #"{"double": -1.7976931348623157e308, "float": -3.4028235e38}"#,
            #"{"double": 5e-324, "float": 1e-40}"#,
            #"{"double": 0.1, "float": 0.1}"#,
            #"{"double": -0.0, "float": -0.0}"#,
            #"{"double": 9007199254740993, "float": 16777217}"#,
            #"{"double": 9223372036854775807, "float": -9223372036854775808}"#,
            #"{"double": 1e300, "float": 0}"#,
            #"{"int": 1.0, "int8": 1e2, "uint8": 2.55e2, "int64": -0.0, "uint": 1E2, "int32": 12e1}"#,
            #"{"int": 1e18, "int64": -9.2e18, "uint64": 1.8e19}"#,
        ]
        for text in cases { try expectSameValue(Numbers.self, text) }
        #expect(try WireDecoder.decode(Int.self, from: bytes("1.0")) == 1)
        #expect(try WireDecoder.decode(Int.self, from: bytes("1e2")) == 100)
        #expect(try WireDecoder.decode(Int8.self, from: bytes("-1.28e2")) == -128)
        #expect(try WireDecoder.decode([Int].self, from: bytes("[1.0, 1e2, -0.0]")) == [1, 100, 0])
        #expect(try WireDecoder.decode([String: Int64].self, from: bytes(#"{"a": 1e2}"#)) == ["a": 100])
        #expect(try WireDecoder.decode([[Int]].self, from: bytes("[[1e2], []]")) == [[100], []])
        #expect(try WireDecoder.decode(Int128.self, from: bytes("-9223372036854775808")) == Int128(Int64.min))
        #expect(try WireDecoder.decode([UInt128].self, from: bytes("[1e20, 7]")) == [100_000_000_000_000_000_000, 7])
        #expect(throws: DecodingError.self) { try WireDecoder.decode(UInt128.self, from: bytes("-1")) }
        #expect(summary { try WireDecoder.decode(Box<[Int]>.self, from: bytes(#"{"value": [1, 2.5]}"#)) }
            == ErrorSummary(DecodingError.dataCorrupted(.init(
                codingPath: [TestKey(stringValue: "value"), TestKey(intValue: 1, stringValue: "Index 1")],
                debugDescription: "Number 2.5 is not representable in Swift."))))
        #expect(try WireDecoder.decode(Double.self, from: bytes("3")) == 3)
        #expect(try WireDecoder.decode(Float.self, from: bytes("0.1")) == Float(0.1))
    }

    @Test("Numbers that do not fit the type fail like JSONDecoder, at the value's coding path", arguments: [
        (#"{"int": 1.5}"#, "int", "1.5"),
        (#"{"int": -0.5}"#, "int", "-0.5"),
        (#"{"int": 1e20}"#, "int", "1e+20"),
        (#"{"int": 9223372036854775808}"#, "int", "9.223372036854776e+18"),
        (#"{"int64": -9.3e18}"#, "int64", "-9.3e+18"),
        (#"{"int8": 128}"#, "int8", "128"),
        (#"{"int8": -129}"#, "int8", "-129"),
        (#"{"int16": 32768}"#, "int16", "32768"),
        (#"{"int32": 2147483648}"#, "int32", "2147483648"),
        (#"{"uint": -1}"#, "uint", "-1"),
        (#"{"uint8": 256}"#, "uint8", "256"),
        (#"{"uint8": 2.555e2}"#, "uint8", "255.5"),
        (#"{"uint16": -1.0}"#, "uint16", "-1.0"),
        (#"{"uint32": 4294967296}"#, "uint32", "4294967296"),
        (#"{"uint64": -1}"#, "uint64", "-1"),
        (#"{"uint64": 18446744073709551615}"#, "uint64", "1.8446744073709552e+19"),
        (#"{"float": 1e39}"#, "float", "1e+39"),
        (#"{"float": -3.5e38}"#, "float", "-3.5e+38"),
        (#"{"float": 1e-46}"#, "float", "1e-46"),
    ])
    func unrepresentableNumbers(text: String, key: String, number: String) throws {
        let error = summary { try WireDecoder.decode(Numbers.self, from: bytes(text)) }
        #expect(error == ErrorSummary(DecodingError.dataCorrupted(.init(
            codingPath: [TestKey(stringValue: key)], debugDescription: "Number \(number) is not representable in Swift."))))
        // JSONDecoder rejects these too (it reports them at the root as invalid JSON), except UInt64.max:
        // integers beyond Int64 reach WireDecoder as Doubles (documented difference).
        if key != "uint64" || !text.contains("18446744073709551615") {
            #expect(throws: (any Error).self) { _ = try referenceDecode(Numbers.self, from: bytes(text)) }
        }
    }

    @Test("Integers beyond Int64, and exponent forms with many digits, go through Double (documented differences)")
    func numbersThroughDouble() throws {
        // JSONDecoder reads the literal exactly; WireDecoder sees the parser's .double.
        #expect(try WireDecoder.decode(UInt64.self, from: bytes("9223372036854775808")) == 9_223_372_036_854_775_808)
        #expect(try WireDecoder.decode(UInt64.self, from: bytes("18446744073709549568")) == 18_446_744_073_709_549_568)
        #expect(throws: DecodingError.self) { try WireDecoder.decode(UInt64.self, from: bytes("18446744073709551615")) }
        #expect(try referenceDecode(UInt64.self, from: bytes("18446744073709551615")) == .max)
        #expect(try WireDecoder.decode(Int64.self, from: bytes("-9223372036854775809")) == .min)
        #expect(throws: (any Error).self) { try referenceDecode(Int64.self, from: bytes("-9223372036854775809")) }
        #expect(try WireDecoder.decode(Int64.self, from: bytes("-9.2233720368547758e18")) == .min)
        #expect(try referenceDecode(Int64.self, from: bytes("-9.2233720368547758e18")) == -9_223_372_036_854_775_800)
    }

    @Test("Unicode and escaped strings decode like JSONDecoder", arguments: [
        #""plain""#, #""""#, #""caf\u00e9 cafe\u0301""#, #""\ud83d\ude00 😀 𝄞""#, #""\"\\\/\b\f\n\r\t""#,
        #""\u0000\u001f\u007f""#, #""日本語 עברית العربية""#, #""line\u2028sep\u2029""#,
    ])
    func strings(text: String) throws {
        try expectSameValue(String.self, text)
        try expectSameValue([String].self, "[\(text), \(text)]")
        try expectSameValue([String: String].self, "{\(text): \(text)}")
    }

    // MARK: JSONValue

    @Test("A JSONValue comes out exactly as JSONValue(parsing:) gives it, wherever it is")
    func jsonValueSubtrees() throws {
        let value = #"{"a": [1, 1.0, 1e2, -0.0, 9223372036854775808, "s", null, true, {"x": {}}], "b": {"c": []}}"#
        let text = #"{"value": \#(value), "optional": 1.0, "list": [1.0, 2, null, {}], "map": {"k": 1e2, "n": null}}"#
        let holder = try WireDecoder.decode(Holder.self, from: bytes(text))
        #expect(holder.value == (try JSONValue(parsing: value)))
        #expect(holder.optional == .double(1.0))
        #expect(holder.list == [.double(1.0), .int(2), .null, .object([:])])
        #expect(holder.map == ["k": .double(100), "n": .null])
        // JSONDecoder turned 1.0 into .int(1): the intended difference.
        #expect(try referenceDecode(Holder.self, from: bytes(text)).optional == .int(1))

        #expect(try WireDecoder.decode(JSONValue.self, from: bytes(text)) == (try JSONValue(parsing: text)))
        #expect(try WireDecoder.decode(JSONValue.self, from: bytes("1.0")) == .double(1.0))
        #expect(try WireDecoder.decode(JSONValue.self, from: try JSONValue(parsing: text)) == (try JSONValue(parsing: text)))

        // A JSONValue? member that is null is absent, as with JSONDecoder; a JSONValue member that is null is .null.
        let nulls = #"{"value": null, "optional": null, "list": [], "map": {}}"#
        #expect(try WireDecoder.decode(Holder.self, from: bytes(nulls)) == Holder(value: .null, optional: nil, list: [], map: [:]))
        try expectSameValue(Holder.self, nulls)
    }

    @Test("JSONValue.init(from:) takes the subtree directly from a WireDecoder")
    func jsonValueHook() throws {
        let text = #"{"n": 1.0, "list": [1e2, 3]}"#
        let decoded = try WireDecoder.decode(DirectJSONValue.self, from: bytes(text))
        #expect(decoded.direct == (try JSONValue(parsing: text)))
        #expect(decoded.viaContainer == decoded.direct)
        // Other decoders still go through the cascade.
        let reference = try referenceDecode(DirectJSONValue.self, from: bytes(text))
        #expect(reference.direct == ["n": 1, "list": [100, 3]])
    }

    // MARK: Errors

    @Test("Type mismatches, nulls and missing keys fail like JSONDecoder, with the same coding paths", arguments: [
        #"{"steps": [{"skill": "a", "attempts": 1}, {"skill": 1, "attempts": 1}]}"#,
        #"{"steps": [{"skill": "a", "attempts": 1}, {"skill": true, "attempts": 1}]}"#,
        #"{"steps": [{"skill": "a", "attempts": 1}, {"skill": null, "attempts": 1}]}"#,
        #"{"steps": [{"skill": "a", "attempts": 1}, {"skill": [], "attempts": 1}]}"#,
        #"{"steps": [{"skill": "a", "attempts": 1}, {"skill": {}, "attempts": 1}]}"#,
        #"{"steps": [{"skill": "a", "attempts": 1}, {"attempts": 1}]}"#,
        #"{"steps": [{"skill": "a", "attempts": "1"}]}"#,
        #"{"steps": [{"skill": "a", "attempts": false}]}"#,
        #"{"steps": [{"skill": "a", "attempts": null}]}"#,
        #"{"steps": [{"skill": "a", "attempts": 1}, null]}"#,
        #"{"steps": [{"skill": "a", "attempts": 1}, 7]}"#,
        #"{"steps": [{"skill": "a", "attempts": 1}, [1]]}"#,
        #"{"steps": {}}"#,
        #"{"steps": null}"#,
        #"{"steps": "x"}"#,
        #"{}"#,
        #"[]"#,
        #"null"#,
        #"1"#,
        #""text""#,
        #"true"#,
    ])
    func planErrors(text: String) {
        expectSameError(Plan.self, text)
    }

    @Test("Errors of primitives, enums, dictionaries and arrays match JSONDecoder")
    func otherErrors() {
        expectSameError(Int.self, "null")
        expectSameError(Int.self, #""1""#)
        expectSameError(Double.self, "true")
        expectSameError(Float.self, "[]")
        expectSameError(Bool.self, "1")
        expectSameError(Bool.self, "null")
        expectSameError([Bool].self, "[true, null]")
        expectSameError(Box<Bool>.self, #"{"value": null}"#)
        expectSameError(Box<Bool>.self, #"{}"#)
        expectSameError(String.self, "null")
        expectSameError(Box<Float>.self, #"{"value": null}"#)
        expectSameError(String.self, "1")
        expectSameError(String.self, "{}")
        expectSameError(UInt8.self, "false")
        expectSameError([Int].self, "{}")
        expectSameError([Int].self, "null")
        expectSameError([Int].self, "[1, null]")
        expectSameError([Int].self, #"[1, "a"]"#)
        expectSameError([[Int]].self, #"[[1], [2, "b"]]"#)
        expectSameError([String: Int].self, #"{"a": 1, "b": "x"}"#)
        expectSameError([String: Int].self, "[]")
        expectSameError([Int: Int].self, #"{"1": 1, "b": 2}"#)
        expectSameError([String: String].self, #"{"a": "x", "1": 2}"#)
        expectSameError([String: String].self, #"{"a": null}"#)
        expectSameError([String: String].self, "[]")
        expectSameError([String: String].self, "null")
        expectSameError([String: JSONValue].self, "[]")
        expectSameError([String: JSONValue].self, "null")
        expectSameError([JSONValue].self, "{}")
        expectSameError([JSONValue].self, "null")
        expectSameError([String].self, #"["a", 1]"#)
        expectSameError([String].self, #"["a", null]"#)
        expectSameError([String].self, #"{"a": "b"}"#)
        expectSameError([Int].self, #"[1, true]"#)
        expectSameError(Box<[String: String]>.self, #"{"value": {"k": ["v"]}}"#)
        expectSameError(Box<[String]>.self, #"{"value": ["a", "b", {}]}"#)
        expectSameError(Box<[[Int]]>.self, #"{"value": [[1], [2, null]]}"#)
        expectSameError(Box<Sample.Color>.self, #"{"value": "purple"}"#)
        expectSameError(Box<Sample.Color>.self, #"{"value": 3}"#)
        expectSameError(Box<[Sample.Shape]>.self, #"{"value": [{"point": {}}, {"circle": {"radius": "x"}}]}"#)
        expectSameError(Box<Sample.Shape>.self, #"{"value": {}}"#)
        expectSameError(Box<Sample.Shape>.self, #"{"value": {"point": {}, "circle": {"radius": 1}}}"#)
        expectSameError(Box<Sample.Shape>.self, #"{"value": {"square": {}}}"#)
        expectSameError(Box<Sample.Shape>.self, #"{"value": {"rect": {"width": 1}}}"#)
        expectSameError(Box<Int?>.self, #"{"value": "x"}"#)
        expectSameError(Box<[Int?]>.self, #"{"value": [null, "x"]}"#)
        expectSameError(Box<Holder>.self, #"{"value": {"value": 1, "list": {}, "map": {}}}"#)
        expectSameError(Box<Holder>.self, #"{"value": {"value": 1, "list": [], "map": []}}"#)
        expectSameError(Box<Holder>.self, #"{"value": {"list": [], "map": {}}}"#)
    }

    @Test("Date errors match JSONDecoder's custom strategy: keyed, optional, unkeyed and single value")
    func dateErrors() {
        expectSameError(Stamped.self, #"{"at": 1700000000}"#)
        expectSameError(Stamped.self, #"{"at": null}"#)
        expectSameError(Stamped.self, #"{"at": "yesterday"}"#)
        expectSameError(Stamped.self, #"{"at": {}}"#)
        expectSameError(Stamped.self, #"{"at": "2026-11-21T20:24:41Z", "maybe": "2026-02-30T00:00:00Z"}"#)
        expectSameError(Stamped.self, #"{"at": "2026-11-21T20:24:41Z", "maybe": true}"#)
        expectSameError(Stamped.self, #"{"at": "2026-11-21T20:24:41Z", "list": ["2026-11-21T20:24:41Z", null]}"#)
        expectSameError(Stamped.self, #"{"at": "2026-11-21T20:24:41Z", "list": ["2026-11-21T20:24:41Z", "x"]}"#)
        expectSameError(Date.self, #""\#(String(repeating: "long text ", count: 10))""#)
        expectSameError(Date.self, "null")
        expectSameError(Date.self, "12")
        expectSameError([Date?].self, #"[null, "x"]"#)
        let error = summary { try WireDecoder.decode(Stamped.self, from: bytes(#"{"at": "\#(String(repeating: "x", count: 50))"}"#)) }
        #expect(error?.kind == "dataCorrupted")
        #expect(error?.path == ["at"])
        #expect(error?.debugDescription == "not an RFC 3339 timestamp: " + String(repeating: "x", count: 40))
    }

    @Test("A keyed container behaves like JSONDecoder's: allKeys, contains, decodeNil, nested containers, super decoders")
    func keyedContainer() throws {
        let text = #"{"a": 1, "b": null, "nested": {"a": 2, "b": "x"}, "list": [3, "y"], "super": "s", "zz": 0}"#
        let ours = try WireDecoder.decode(KeyedProbe.self, from: bytes(text))
        let reference = try referenceDecode(KeyedProbe.self, from: bytes(text))
        #expect(ours.log == reference.log)
        for (mine, theirs) in zip(ours.log, reference.log) where mine != theirs {
            Issue.record("ours: \(mine)\nJSONDecoder: \(theirs)")
        }
        // The same probe one level down, inside an array: every path gets the prefix.
        let nested = try WireDecoder.decode(Box<[KeyedProbe]>.self, from: bytes(#"{"value": [\#(text), \#(text)]}"#))
        let nestedReference = try referenceDecode(Box<[KeyedProbe]>.self, from: bytes(#"{"value": [\#(text), \#(text)]}"#))
        #expect(nested == nestedReference)
        #expect(nested.value[1].log.contains { $0.contains("\"value\", \"Index 1#1\", \"b\"") })
    }

    @Test("An unkeyed container behaves like JSONDecoder's: count, isAtEnd, currentIndex, decodeNil, nesting, end errors")
    func unkeyedContainer() throws {
        let ours = try WireDecoder.decode(UnkeyedProbe.self, from: bytes(unkeyedProbeText))
        let reference = try referenceDecode(UnkeyedProbe.self, from: bytes(unkeyedProbeText))
        #expect(ours.log == reference.log)
        for (mine, theirs) in zip(ours.log, reference.log) where mine != theirs {
            Issue.record("ours: \(mine)\nJSONDecoder: \(theirs)")
        }
        let wrapped = #"{"value": \#(unkeyedProbeText)}"#
        #expect(try WireDecoder.decode(Box<UnkeyedProbe>.self, from: bytes(wrapped)) == referenceDecode(Box<UnkeyedProbe>.self, from: bytes(wrapped)))
    }

    @Test("A single value container decodes every primitive like JSONDecoder", arguments: [
        "null", "true", "0", "-1", "255", "256", "70000", "5000000000", #""text""#, "[1]", #"{"skill": "s", "attempts": 2}"#,
        #""2026-11-21T20:24:41Z""#, "{}",
    ])
    func singleValueContainer(text: String) throws {
        let ours = try WireDecoder.decode(Box<SingleProbe>.self, from: bytes(#"{"value": \#(text)}"#))
        let reference = try referenceDecode(Box<SingleProbe>.self, from: bytes(#"{"value": \#(text)}"#))
        #expect(ours.value.log.count == reference.value.log.count)
        for (mine, theirs) in zip(ours.value.log, reference.value.log) where mine != theirs {
            // JSONDecoder throws an internal JSONError (not a DecodingError) for a number out of range;
            // WireDecoder throws dataCorrupted at the value's path.
            let label = String(mine.prefix { $0 != " " })
            if theirs.hasPrefix("\(label) ! other(JSONError)"),
               mine.hasPrefix(#"\#(label) ! dataCorrupted() at ["value"]: Number \#(text) is not representable in Swift."#) {
                continue
            }
            Issue.record("ours: \(mine)\nJSONDecoder: \(theirs)")
        }
    }

    @Test("Fractional and out-of-range numbers in a single value container are dataCorrupted at its path")
    func singleValueNumbers() {
        let error = summary { try WireDecoder.decode(Box<SingleProbe>.self, from: bytes(#"{"value": 1.5}"#)) }
        #expect(error == nil, "the probe records errors instead of throwing")
        let probe = try? WireDecoder.decode(Box<SingleProbe>.self, from: bytes(#"{"value": 1.5}"#))
        #expect(probe?.value.log.contains(#"Int ! dataCorrupted() at ["value"]: Number 1.5 is not representable in Swift."#) == true)
        #expect(probe?.value.log.contains("Double = 1.5") == true)
        #expect(probe?.value.log.contains("Float = 1.5") == true)
    }

    @Test("Malformed JSON is dataCorrupted at the root with the parse error", arguments: [
        "", " ", "{", #"{"a": 1"#, "[1 2]", #"{"a" 1}"#, "nul", "01", "1.", ".5", "+1", "NaN", "1e400", #""\x""#, "\"\u{01}\"",
        "[1] [2]", "// c\n1",
    ])
    func malformed(text: String) throws {
        try expectMalformed(bytes(text))
        #expect(throws: (any Error).self) { _ = try referenceDecode(JSONValue.self, from: bytes(text)) }
    }

    @Test("Invalid UTF-8 and duplicate keys are malformed JSON (stricter than JSONDecoder)")
    func stricterThanJSONDecoder() throws {
        try expectMalformed([0x22, 0xFF, 0x22])
        try expectMalformed([0x22, 0xC3, 0x22])
        try expectMalformed(bytes("\u{FEFF}1"))
        // JSONDecoder accepts trailing commas.
        try expectMalformed(bytes("[1,]"))
        try expectMalformed(bytes(#"{"steps": [],}"#))
        #expect(try referenceDecode(Plan.self, from: bytes(#"{"steps": [],}"#)) == Plan(steps: []))
        let parseError = try expectMalformed(bytes(#"{"steps": [], "steps": []}"#))
        #expect(parseError.reason.contains("duplicate key"))
        try expectMalformed(bytes(#"{"steps": [{"skill": "a", "skill": "b", "attempts": 1}]}"#))
        // JSONDecoder accepts the duplicate.
        #expect(try referenceDecode(Plan.self, from: bytes(#"{"steps": [], "steps": []}"#)) == Plan(steps: []))
    }

    @Test("Nesting up to 512 levels is accepted, deeper is malformed")
    func depth() throws {
        func nested(_ depth: Int) -> [UInt8] { bytes(String(repeating: "[", count: depth) + String(repeating: "]", count: depth)) }
        var expected = JSONValue.array([])
        for _ in 1..<500 { expected = .array([expected]) }
        #expect(try WireDecoder.decode(JSONValue.self, from: nested(500)) == expected)
        _ = try WireDecoder.decode(JSONValue.self, from: nested(WireDecoder.maxDepth))
        let parseError = try expectMalformed(nested(WireDecoder.maxDepth + 1))
        #expect(parseError.reason.contains("nesting deeper than the maximum depth of 512"))
        try expectMalformed(nested(600))
        // Typed decoding at depth: [[...[1]...]] 300 deep through unkeyed containers.
        let ints = bytes(String(repeating: "[", count: 300) + "1" + String(repeating: "]", count: 300))
        _ = try WireDecoder.decode(Deep.self, from: ints)
    }

    // MARK: Aria's own types

    @Test("Envelope<StepDispatchBody> from Wire.encode decodes like JSONDecoder")
    func stepDispatchEnvelope() throws {
        let runID = try #require(RunID("0193a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b"))
        let createdAt = try #require(Timestamp.parse("2026-11-21T20:24:41.123Z"))
        let deadline = try #require(Timestamp.parse("2026-11-21T20:34:41.500Z"))
        let envelopes = [
            Envelope(type: .stepDispatch, version: 1, tenant: TenantID(trusted: "acme"), run: runID, step: StepID(trusted: "fetch-1"),
                     attempt: 2, fencingToken: 7, seq: 12, deadline: deadline, createdAt: createdAt,
                     traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                     body: StepDispatchBody(skill: "echo", params: ["message": "hi/there", "n": [1, 2.5, .null], "o": [:], "deep": [[["x"]]]],
                                            timeoutMilliseconds: 30_000)),
            Envelope(type: .stepDispatch, tenant: TenantID(trusted: "t"), createdAt: createdAt,
                     body: StepDispatchBody(skill: "s", params: .null, timeoutMilliseconds: Int64.max)),
        ]
        for envelope in envelopes {
            let encoded = try Wire.encode(envelope)
            let ours = try WireDecoder.decode(Envelope<StepDispatchBody>.self, from: encoded)
            let reference = try referenceDecode(Envelope<StepDispatchBody>.self, from: encoded)
            #expect(ours.body == envelope.body)
            #expect(ours.body == reference.body)
            #expect(ours.type == reference.type && ours.version == reference.version && ours.tenant == reference.tenant)
            #expect(ours.run == reference.run && ours.step == reference.step && ours.attempt == reference.attempt)
            #expect(ours.fencingToken == reference.fencingToken && ours.seq == reference.seq)
            #expect(ours.deadline == reference.deadline && ours.createdAt == reference.createdAt)
            #expect(ours.traceparent == reference.traceparent)
            #expect(try Wire.encode(ours) == encoded)
            let header = try WireDecoder.decode(Envelope<IgnoredBody>.self, from: encoded)
            #expect(header.run == envelope.run && header.createdAt == reference.createdAt)
        }
    }

    @Test("Envelope<RunEventBody> from Wire.encode decodes like JSONDecoder")
    func runEventEnvelope() throws {
        let runID = try #require(RunID("0193a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b"))
        let parent = try #require(RunID("0193a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6c"))
        let createdAt = try #require(Timestamp.parse("2026-11-21T20:24:41.123Z"))
        let bodies = [
            RunEventBody(kind: .stepFailed, status: .running, idempotencyKey: "k1", step: StepID(trusted: "a"), skill: "fail", attempt: 1,
                         output: nil, error: AriaError(.skillFailed, "nope", details: ["step_id": "a"], category: .transient)),
            RunEventBody(kind: .stepRetrying, reason: "timeout", notBefore: Timestamp.parse("2026-11-21T20:24:42.623Z")),
            RunEventBody(kind: .succeeded, status: .succeeded, output: ["answer": 42, "ratio": 0.5, "tags": ["x"], "none": .null]),
            RunEventBody(kind: .accepted, status: .accepted, idempotencyKey: "idem", parentRun: parent),
        ]
        for body in bodies {
            let envelope = Envelope(type: .event(body.kind), tenant: TenantID(trusted: "acme"), run: runID, seq: 3, createdAt: createdAt, body: body)
            let encoded = try Wire.encode(envelope)
            let ours = try WireDecoder.decode(Envelope<RunEventBody>.self, from: encoded)
            let reference = try referenceDecode(Envelope<RunEventBody>.self, from: encoded)
            #expect(ours.body == body)
            #expect(ours.body == reference.body)
            #expect(ours.type == reference.type && ours.seq == reference.seq && ours.run == reference.run)
            #expect(ours.createdAt == reference.createdAt)
            #expect(try Wire.encode(ours) == encoded)
        }
    }

    @Test("Invalid envelopes fail with the same errors as with JSONDecoder", arguments: [
        #"{"type":"run.start","version":1,"tenant":"Acme Corp","created_at":"2026-11-21T20:24:41Z","body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","run":"not-a-uuid","created_at":"2026-11-21T20:24:41Z","body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","step":"Bad Step","created_at":"2026-11-21T20:24:41Z","body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","created_at":"yesterday","body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","created_at":1700000000,"body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","body":{}}"#,
        #"{"type":"run.start","tenant":"acme","created_at":"2026-11-21T20:24:41Z","body":{}}"#,
        #"{"type":"run.start","version":"1","tenant":"acme","created_at":"2026-11-21T20:24:41Z","body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","created_at":"2026-11-21T20:24:41Z"}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","created_at":"2026-11-21T20:24:41Z","body":{"kind":"nope"}}"#,
    ])
    func invalidEnvelopes(text: String) {
        if text.contains("\"kind\"") {
            expectSameError(Envelope<RunEventBody>.self, text)
        } else {
            expectSameError(Envelope<EmptyBody>.self, text)
        }
    }
}

/// Nested arrays down to an Int, decoded through unkeyed containers.
private indirect enum Deep: Decodable {
    case leaf(Int)
    case array([Deep])

    init(from decoder: any Decoder) throws {
        if let int = try? decoder.singleValueContainer().decode(Int.self) {
            self = .leaf(int)
        } else {
            self = .array(try [Deep](from: decoder))
        }
    }
}

/// Expects `WireDecoder.decode` to fail on `input` as malformed JSON and returns the parse error.
@discardableResult
private func expectMalformed(_ input: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONParseError {
    var parseError: JSONParseError?
    do {
        _ = try JSONValue(parsing: input, maxDepth: WireDecoder.maxDepth)
    } catch {
        parseError = error
    }
    let expected = try #require(parseError, "input should not parse", sourceLocation: sourceLocation)
    do {
        _ = try WireDecoder.decode(JSONValue.self, from: input)
        Issue.record("decoded malformed input", sourceLocation: sourceLocation)
    } catch DecodingError.dataCorrupted(let context) {
        #expect(context.codingPath.isEmpty, sourceLocation: sourceLocation)
        #expect(context.debugDescription == "The given data was not valid JSON: \(expected)", sourceLocation: sourceLocation)
        #expect(context.underlyingError as? JSONParseError == expected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return expected
}
