import AriaCore
import Foundation
import Testing

@Suite("AriaDuration")
struct AriaDurationTests {
    @Test("Valid forms parse to milliseconds and print canonically", arguments: [
        ("250ms", 250, "250ms"),
        ("1ms", 1, "1ms"),
        ("30s", 30_000, "30s"),
        ("90s", 90_000, "1m30s"),
        ("1m30s", 90_000, "1m30s"),
        ("2h", 7_200_000, "2h"),
        ("1500ms", 1500, "1s500ms"),
        ("1s500ms", 1500, "1s500ms"),
        ("60m", 3_600_000, "1h"),
        ("36h", 129_600_000, "36h"),
        ("1h1m1s1ms", 3_661_001, "1h1m1s1ms"),
        ("1h0m30s", 3_630_000, "1h30s"),
        ("0h5m", 300_000, "5m"),
        ("1m05s", 65_000, "1m5s"),
        ("168h", 604_800_000, "168h"),
        ("167h59m59s999ms", 604_799_999, "167h59m59s999ms"),
        ("604800000ms", 604_800_000, "168h"),
        ("10080m", 604_800_000, "168h"),
    ])
    func valid(text: String, milliseconds: Int64, canonical: String) throws {
        let duration = try AriaDuration(parsing: text)
        #expect(duration.milliseconds == milliseconds)
        #expect(duration.description == canonical)
        #expect(try AriaDuration(parsing: canonical) == duration)
    }

    @Test("Invalid forms are rejected with a reason", arguments: [
        ("", "empty"),
        ("0s", "greater than zero"),
        ("0ms", "greater than zero"),
        ("0h0m", "greater than zero"),
        ("-5s", "negative"),
        ("+5s", "expected a number"),
        ("5", "missing unit"),
        ("s", "expected a number"),
        ("ms", "expected a number"),
        ("5x", "invalid unit"),
        ("5S", "invalid unit"),
        ("5 s", "invalid unit"),
        (" 5s", "expected a number"),
        ("5s ", "expected a number"),
        ("1m 30s", "expected a number"),
        ("1.5s", "invalid unit"),
        ("1d", "invalid unit"),
        ("30s1m", "order h, m, s, ms"),
        ("1s1s", "order h, m, s, ms"),
        ("1ms1s", "order h, m, s, ms"),
        ("169h", "maximum of 7 days"),
        ("168h1ms", "maximum of 7 days"),
        ("604800001ms", "maximum of 7 days"),
        ("99999999999999999999999h", "maximum of 7 days"),
        ("9223372036854775807ms", "maximum of 7 days"),
        ("1h2", "missing unit"),
    ])
    func invalid(text: String, reason: String) {
        #expect {
            _ = try AriaDuration(parsing: text)
        } throws: { error in
            guard let error = error as? AriaDurationError else { return false }
            return error.input == text && error.reason.contains(reason)
        }
    }

    @Test("Canonical description from milliseconds", arguments: [
        (Int64(1), "1ms"), (999, "999ms"), (1000, "1s"), (1500, "1s500ms"), (60_000, "1m"),
        (61_000, "1m1s"), (3_600_000, "1h"), (3_600_001, "1h1ms"), (86_400_000, "24h"),
        (AriaDuration.maxMilliseconds, "168h"),
    ])
    func canonical(milliseconds: Int64, expected: String) throws {
        let duration = AriaDuration(milliseconds: milliseconds)
        #expect(duration.description == expected)
        #expect(try AriaDuration(parsing: expected) == duration)
    }

    @Test("Conversions, factories and ordering")
    func conversions() throws {
        let duration = try AriaDuration(parsing: "1m30s")
        #expect(duration.duration == .seconds(90))
        #expect(duration.timeInterval == 90)
        #expect(AriaDuration.seconds(90) == duration)
        #expect(AriaDuration.minutes(2) > duration)
        #expect(AriaDuration.milliseconds(1) < AriaDuration.hours(1))
        #expect(AriaDuration.maximum.milliseconds == 604_800_000)
        #expect([AriaDuration.hours(1), .seconds(1), .minutes(1)].sorted() == [.seconds(1), .minutes(1), .hours(1)])
        #expect(try AriaDuration(validatingMilliseconds: 250) == .milliseconds(250))
        #expect(throws: AriaDurationError.self) { try AriaDuration(validatingMilliseconds: 0) }
        #expect(throws: AriaDurationError.self) { try AriaDuration(validatingMilliseconds: -1) }
        #expect(throws: AriaDurationError.self) { try AriaDuration(validatingMilliseconds: 604_800_001) }
        let error = AriaDurationError(input: "5x", reason: "bad")
        #expect(error.description == "invalid duration \"5x\": bad")
    }

    struct Config: Codable, Equatable {
        let timeout: AriaDuration
    }

    @Test("Codable as the canonical string; decodes strings and integer milliseconds")
    func codable() throws {
        let data = try JSONEncoder().encode(Config(timeout: .seconds(90)))
        #expect(String(decoding: data, as: UTF8.self) == #"{"timeout":"1m30s"}"#)
        #expect(try JSONDecoder().decode(Config.self, from: data) == Config(timeout: .seconds(90)))
        #expect(try JSONDecoder().decode(Config.self, from: Data(#"{"timeout":"250ms"}"#.utf8)).timeout == .milliseconds(250))
        #expect(try JSONDecoder().decode(Config.self, from: Data(#"{"timeout":1500}"#.utf8)).timeout.description == "1s500ms")

        for bad in [#"{"timeout":"soon"}"#, #"{"timeout":0}"#, #"{"timeout":-5}"#, #"{"timeout":1.5}"#,
                    #"{"timeout":604800001}"#, #"{"timeout":null}"#, #"{"timeout":true}"#, #"{"timeout":"0s"}"#] {
            #expect(throws: DecodingError.self, "\(bad)") {
                try JSONDecoder().decode(Config.self, from: Data(bad.utf8))
            }
        }
    }
}
