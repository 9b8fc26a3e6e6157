import AriaCore
import Foundation
import Testing

private let runID = RunID("0193a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b")!
private let createdAt = Timestamp.parse("2026-11-21T20:24:41.123Z")!
private let deadline = Timestamp.parse("2026-11-21T20:34:41.500Z")!

private func dispatchEnvelope() -> Envelope<StepDispatchBody> {
    Envelope(type: .stepDispatch, version: 1, tenant: TenantID(trusted: "acme"), run: runID, step: StepID(trusted: "fetch-1"),
             attempt: 2, fencingToken: 7, seq: 12, deadline: deadline, createdAt: createdAt,
             traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
             body: StepDispatchBody(skill: "echo", params: ["message": "hi/there", "n": [1, 2.5, .null]], timeoutMilliseconds: 30_000))
}

/// The encoded bytes parsed back as a plain JSON value, to look at the actual keys.
private func json(_ bytes: [UInt8]) throws -> JSONValue {
    try JSONValue(parsing: bytes)
}

@Suite("Envelope and Wire")
struct EnvelopeTests {
    // MARK: Encoding

    @Test("Envelope<StepDispatchBody> encodes with the documented snake_case keys")
    func snakeCaseKeys() throws {
        let value = try json(try Wire.encode(dispatchEnvelope()))
        let object = try #require(value.objectValue)
        #expect(Set(object.keys) == [
            "type", "version", "tenant", "run", "step", "attempt", "fencing_token", "seq", "deadline", "created_at", "traceparent", "body",
        ])
        #expect(value["type"] == "step.dispatch")
        #expect(value["version"] == 1)
        #expect(value["tenant"] == "acme")
        #expect(value["run"] == "0193a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b")
        #expect(value["step"] == "fetch-1")
        #expect(value["attempt"] == 2)
        #expect(value["fencing_token"] == 7)
        #expect(value["seq"] == 12)
        #expect(value["created_at"] == "2026-11-21T20:24:41.123Z")
        #expect(value["deadline"] == "2026-11-21T20:34:41.500Z")
        #expect(value["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let body = try #require(value["body"]?.objectValue)
        #expect(Set(body.keys) == ["skill", "params", "timeout_ms"])
        #expect(body["timeout_ms"] == 30_000)
        #expect(body["skill"] == "echo")
        #expect(body["params"] == ["message": "hi/there", "n": [1, 2.5, .null]])
    }

    @Test("Encoding is compact, with sorted keys and unescaped slashes")
    func stableBytes() throws {
        let text = String(decoding: try Wire.encode(dispatchEnvelope()), as: UTF8.self)
        #expect(text.hasPrefix(#"{"attempt":2,"body":{"params":{"message":"hi/there","n":[1,2.5,null]},"skill":"echo","timeout_ms":30000},"created_at":"#))
        #expect(text.hasSuffix(#""traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","type":"step.dispatch","version":1}"#))
        #expect(!text.contains("\n"))
        #expect(!text.contains(#"\/"#))
        #expect(try Wire.encode(dispatchEnvelope()) == Wire.encode(dispatchEnvelope()), "same value, same bytes")
    }

    @Test("Absent optional header fields are left out, not written as null")
    func absentFieldsOmitted() throws {
        let envelope = Envelope(type: .runStart, tenant: TenantID(trusted: "acme"), createdAt: createdAt, body: EmptyBody())
        let object = try #require(try json(try Wire.encode(envelope)).objectValue)
        #expect(Set(object.keys) == ["type", "version", "tenant", "created_at", "body"])
        #expect(object["body"] == [:])
        #expect(object["version"] == 1, "version defaults to 1")
    }

    // MARK: Round trip

    @Test("Envelope<StepDispatchBody> survives encode -> decode")
    func roundTrip() throws {
        let original = dispatchEnvelope()
        let decoded = try Wire.decode(Envelope<StepDispatchBody>.self, from: try Wire.encode(original))
        #expect(decoded.type == original.type)
        #expect(decoded.version == original.version)
        #expect(decoded.tenant == original.tenant)
        #expect(decoded.run == original.run)
        #expect(decoded.step == original.step)
        #expect(decoded.attempt == original.attempt)
        #expect(decoded.fencingToken == original.fencingToken)
        #expect(decoded.seq == original.seq)
        #expect(decoded.traceparent == original.traceparent)
        #expect(decoded.body == original.body)
        #expect(decoded.deadline.map(Timestamp.format) == "2026-11-21T20:34:41.500Z")
        #expect(Timestamp.format(decoded.createdAt) == "2026-11-21T20:24:41.123Z")
        #expect(abs(decoded.createdAt.timeIntervalSince(original.createdAt)) < 0.001)
        // And the bytes are a fixed point.
        #expect(try Wire.encode(decoded) == Wire.encode(original))
    }

    @Test("Run event bodies round trip with their snake_case keys and typed errors")
    func runEventRoundTrip() throws {
        let error = AriaError(.skillFailed, "nope", details: ["step_id": "a"], category: .transient)
        let envelope = Envelope(type: .event(.stepFailed), tenant: TenantID(trusted: "acme"), run: runID, seq: 3, createdAt: createdAt,
                                body: RunEventBody(kind: .stepFailed, status: .running, idempotencyKey: "k1", step: StepID(trusted: "a"),
                                                   skill: "fail", attempt: 1, output: nil, error: error))
        let bytes = try Wire.encode(envelope)
        let value = try json(bytes)
        #expect(value["type"] == "event.step_failed")
        #expect(value["body"]?["kind"] == "step_failed")
        #expect(value["body"]?["idempotency_key"] == "k1")
        #expect(value["body"]?["error"] == ["code": "skill_failed", "message": "nope", "category": "transient", "details": ["step_id": "a"]])
        let decoded = try Wire.decode(Envelope<RunEventBody>.self, from: bytes)
        #expect(decoded.body == envelope.body)
        #expect(decoded.body.error?.code == .skillFailed)
    }

    @Test("Message types have the documented names", arguments: [
        (MessageType.jobSubmit, "job.submit"), (.planRequest, "plan.request"), (.runStart, "run.start"),
        (.stepDispatch, "step.dispatch"), (.stepFinished, "step.finished"), (.apiRequest, "api.request"), (.apiReply, "api.reply"),
        (.event(.accepted), "event.accepted"), (.event(.stepStarted), "event.step_started"),
        (.event(.stepSucceeded), "event.step_succeeded"), (.event(.rejected), "event.rejected"),
    ])
    func messageTypes(type: MessageType, name: String) {
        #expect(type.rawValue == name)
        #expect(type.description == name)
    }

    // MARK: Decoding tolerance

    @Test("Unknown fields are ignored on decode, in the header and in the body")
    func unknownFieldsTolerated() throws {
        let text = """
        {"type":"step.dispatch","version":1,"tenant":"acme","created_at":"2026-11-21T20:24:41.123Z",
         "future_header":{"anything":[1,2,3]},"priority":"high",
         "body":{"skill":"echo","params":{},"timeout_ms":1000,"retry_budget":3}}
        """
        let decoded = try Wire.decode(Envelope<StepDispatchBody>.self, from: Array(text.utf8))
        #expect(decoded.body == StepDispatchBody(skill: "echo", params: [:], timeoutMilliseconds: 1000))
        #expect(decoded.run == nil)
        #expect(decoded.fencingToken == nil)
        #expect(decoded.deadline == nil)
    }

    @Test("A newer version decodes (the consumer decides what to accept)")
    func newerVersionDecodes() throws {
        let text = #"{"type":"step.finished","version":9,"tenant":"acme","created_at":"2026-11-21T20:24:41Z","body":{"status":"succeeded"}}"#
        let decoded = try Wire.decode(Envelope<StepFinishedBody>.self, from: Array(text.utf8))
        #expect(decoded.version == 9)
        #expect(decoded.body.status == .succeeded)
    }

    @Test("Invalid header values fail to decode", arguments: [
        #"{"type":"run.start","version":1,"tenant":"Acme Corp","created_at":"2026-11-21T20:24:41Z","body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","run":"not-a-uuid","created_at":"2026-11-21T20:24:41Z","body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","step":"Bad Step","created_at":"2026-11-21T20:24:41Z","body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","created_at":"yesterday","body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","created_at":1700000000,"body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","body":{}}"#,
        #"{"type":"run.start","tenant":"acme","created_at":"2026-11-21T20:24:41Z","body":{}}"#,
        #"{"type":"run.start","version":"1","tenant":"acme","created_at":"2026-11-21T20:24:41Z","body":{}}"#,
        #"{"type":"run.start","version":1,"tenant":"acme","created_at":"2026-11-21T20:24:41Z"}"#,
        "not json",
    ])
    func invalidHeaders(text: String) {
        #expect(throws: (any Error).self) {
            _ = try Wire.decode(Envelope<EmptyBody>.self, from: Array(text.utf8))
        }
    }

    // MARK: Wire.peek

    @Test("peek reads the header of any message, whatever its body")
    func peek() throws {
        let header = try Wire.peek(try Wire.encode(dispatchEnvelope()))
        #expect(header.type == .stepDispatch)
        #expect(header.tenant == TenantID(trusted: "acme"))
        #expect(header.run == runID)
        #expect(header.step == StepID(trusted: "fetch-1"))
        #expect(header.attempt == 2)
        #expect(header.fencingToken == 7)
        #expect(header.seq == 12)
        #expect(header.deadline != nil)
        #expect(Timestamp.format(header.createdAt) == "2026-11-21T20:24:41.123Z")
    }

    @Test("peek accepts bodies of any JSON type and unknown types", arguments: [
        #"{"skill":"x","params":{},"timeout_ms":"not even a number"}"#, "[1,2,3]", "\"text\"", "42", "null", "{}",
    ])
    func peekAnyBody(body: String) throws {
        let text = #"{"type":"something.new","version":3,"tenant":"acme","created_at":"2026-11-21T20:24:41Z","body":\#(body)}"#
        let header = try Wire.peek(Array(text.utf8))
        #expect(header.type.rawValue == "something.new")
        #expect(header.version == 3)
    }

    @Test("peek still rejects an invalid header")
    func peekInvalidHeader() {
        #expect(throws: (any Error).self) {
            _ = try Wire.peek(Array(#"{"type":"run.start","version":1,"tenant":"NOPE!","created_at":"2026-11-21T20:24:41Z","body":{}}"#.utf8))
        }
        #expect(throws: (any Error).self) { _ = try Wire.peek(Array("{".utf8)) }
    }

    @Test("An IgnoredBody encodes as an empty object")
    func ignoredBodyEncodes() throws {
        #expect(try Wire.encode(IgnoredBody()) == Array("{}".utf8))
    }

    // MARK: Timestamps

    @Test("Timestamps are RFC 3339 UTC with exactly three fractional digits", arguments: [
        Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_795_292_741), Date(timeIntervalSince1970: 1_795_292_741.5),
        Date(timeIntervalSinceReferenceDate: 816_985_481.123456), Date(timeIntervalSince1970: 4_102_444_799.999),
    ])
    func timestampFormat(date: Date) throws {
        let text = Timestamp.format(date)
        #expect(text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(text)")
        let parsed = try #require(Timestamp.parse(text))
        #expect(abs(parsed.timeIntervalSince(date)) < 0.0015)
    }

    @Test("Known instants format as expected")
    func knownInstants() {
        #expect(Timestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_795_292_741.5)) == "2026-11-21T20:25:41.500Z")
    }

    @Test("Timestamps parse with or without fractional seconds, and with offsets", arguments: [
        ("2026-11-21T20:24:41.123Z", 1_795_292_681.123),
        ("2026-11-21T20:24:41Z", 1_795_292_681),
        ("2026-11-21T20:24:41.5Z", 1_795_292_681.5),
        ("2026-11-21T21:24:41.123+01:00", 1_795_292_681.123),
    ] as [(String, Double)])
    func timestampParse(text: String, seconds: Double) throws {
        let date = try #require(Timestamp.parse(text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.000_5)
    }

    @Test("Non-RFC 3339 text is not a timestamp", arguments: [
        "", "yesterday", "2026-11-21", "2026-11-21 20:24:41Z", "2026-11-21T20:24:41", "1700000000", "2026-13-01T00:00:00Z",
        "2026-11-21T20:24:41.Z", "+2026-11-21T20:24:41Z",
    ])
    func timestampReject(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test("Out-of-range fields and trailing characters are not a timestamp",
          arguments: [
              "2026-02-30T00:00:00Z", "2026-11-21T25:00:00Z", "2026-11-21T20:60:00Z", "2026-11-21T20:00:61Z",
              "2026-11-21T20:24:41ZZ", "2026-11-21T20:24:41+0100",
          ])
    func timestampRejectOutOfRange(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test("Every millisecond timestamp survives parse -> format unchanged")
    func millisecondsRoundTripExactly() throws {
        for millisecond in 0..<1000 {
            let text = "2026-11-21T20:24:41." + String(repeating: "0", count: 3 - String(millisecond).count) + "\(millisecond)Z"
            let date = try #require(Timestamp.parse(text))
            #expect(Timestamp.format(date) == text)
        }
    }

    @Test("A date that is a whole number of milliseconds formats to that millisecond")
    func formatRoundsToNearestMillisecond() {
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_800_000_000.123)) == "2027-01-15T08:00:00.123Z")
    }

    // MARK: Ids

    @Test("Run ids are written in lower case and read in either case")
    func runIDCase() throws {
        let upper = try #require(RunID("0193A3C4-5B6D-7E8F-9A0B-1C2D3E4F5A6B"))
        #expect(upper == runID)
        #expect(upper.description == "0193a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b")
        #expect(RunID("0193a3c4") == nil)
    }
}
