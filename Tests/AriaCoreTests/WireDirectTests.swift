@testable import AriaCore
import Foundation
import Testing

/// The direct writers produce exactly the bytes of the `Encodable` tree encoder, for every field set or
/// left out, and decode back to the same values.
@Suite struct WireDirectTests {
    /// The tree path, chosen statically for any `Encodable` (the direct overload is not visible here).
    static func treeEncode<T: Encodable>(_ value: T) throws -> [UInt8] { try WireEncoder.encode(value) }

    static let error = AriaError(.skillFailed, "it broke: \"quoted\" \\ back\nslash ✓", details: ["url": "http://x/a?b=c", "z": "last"], category: .transient)
    static let output: JSONValue = .object(["b": .array([.int(1), .double(0.5), .null, .bool(true)]), "a": .string("é\u{01}/"), "n": .object([:])])

    /// Bodies with no optional field, each field alone, and all of them.
    static var bodies: [RunEventBody] {
        let date = Date(timeIntervalSince1970: 1_765_000_000.125)
        let parent = RunID.generate()
        var all: [RunEventBody] = RunEventKind.allCases.map { RunEventBody(kind: $0) }
        all += [
            RunEventBody(kind: .stepFailed, status: .running),
            RunEventBody(kind: .accepted, idempotencyKey: "key \"1\""),
            RunEventBody(kind: .stepStarted, step: StepID(trusted: "s1")),
            RunEventBody(kind: .stepStarted, skill: "http_call"),
            RunEventBody(kind: .stepStarted, attempt: 3),
            RunEventBody(kind: .stepSucceeded, output: output),
            RunEventBody(kind: .stepSucceeded, output: .null),
            RunEventBody(kind: .failed, error: error),
            RunEventBody(kind: .stepSkipped, reason: "condition false"),
            RunEventBody(kind: .stepRetrying, notBefore: date),
            RunEventBody(kind: .stepReused, parentRun: parent),
            RunEventBody(kind: .succeeded, status: .succeeded, idempotencyKey: "k", step: StepID(trusted: "s"), skill: "echo", attempt: 1,
                         output: output, error: error, reason: "r", notBefore: date, parentRun: parent),
        ]
        return all
    }

    @Test func runEventBodiesMatchTheTreeEncoder() throws {
        for body in Self.bodies {
            let direct = try Wire.encode(body)
            #expect(direct == (try Self.treeEncode(body)), "\(String(decoding: direct, as: UTF8.self))")
            // A `null` output reads back as no output, as it does through the tree encoder.
            var expected = body
            if expected.output == .null { expected.output = nil }
            #expect(try Wire.decode(RunEventBody.self, from: direct) == expected, "\(String(decoding: direct, as: UTF8.self))")
        }
    }

    @Test func eventEnvelopesMatchTheTreeEncoder() throws {
        let run = RunID.generate()
        let created = Date(timeIntervalSince1970: 1_765_000_000.5)
        for body in Self.bodies {
            let envelopes = [
                Envelope(type: .event(body.kind), tenant: TenantID(trusted: "demo"), createdAt: created, body: body),
                Envelope(type: .event(body.kind), version: 2, tenant: TenantID(trusted: "demo"), run: run, step: StepID(trusted: "a"), attempt: 2,
                         fencingToken: 7, seq: 42, deadline: created.addingTimeInterval(60), createdAt: created,
                         traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", body: body),
            ]
            for envelope in envelopes {
                let direct = try Wire.encode(envelope)
                #expect(direct == (try Self.treeEncode(envelope)), "\(String(decoding: direct, as: UTF8.self))")
                let decoded = try Wire.decode(Envelope<RunEventBody>.self, from: direct)
                var expected = body
                if expected.output == .null { expected.output = nil }
                #expect(decoded.body == expected && decoded.seq == envelope.seq && decoded.run == envelope.run && decoded.createdAt == envelope.createdAt)
            }
        }
    }

    @Test func nonFiniteNumbersInAnOutputAreRefusedLikeTheTreeEncoder() {
        let body = RunEventBody(kind: .stepSucceeded, output: .double(.infinity))
        #expect(throws: EncodingError.self) { try Wire.encode(body) }
        #expect(throws: EncodingError.self) { try Self.treeEncode(body) }
    }
}
