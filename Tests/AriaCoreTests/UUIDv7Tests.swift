import AriaCore
import Foundation
import Testing

@Suite("UUIDv7")
struct UUIDv7Tests {
    @Test("Version 7 and variant 10 bits are set")
    func versionAndVariant() {
        let generator = UUIDv7Generator()
        for _ in 0..<1000 {
            let bytes = generator.next().uuid
            #expect(bytes.6 >> 4 == 7)
            #expect(bytes.8 >> 6 == 0b10)
        }
        let text = UUIDv7Generator.shared.next().uuidString.lowercased()
        let characters = Array(text)
        #expect(characters.count == 36)
        #expect(characters[14] == "7")
        #expect("89ab".contains(characters[19]))
    }

    @Test("100k UUIDs generated in a loop are strictly increasing as lowercase strings")
    func monotonicStrings() {
        let generator = UUIDv7Generator()
        var previous = generator.next().uuidString.lowercased()
        var outOfOrder = 0
        for _ in 0..<100_000 {
            let current = generator.next().uuidString.lowercased()
            if !(previous < current) { outOfOrder += 1 }
            previous = current
        }
        #expect(outOfOrder == 0)
    }

    @Test("Monotonic with a frozen clock (counter overflow borrows the next millisecond)")
    func frozenClock() {
        let generator = UUIDv7Generator()
        let now = Date(timeIntervalSince1970: 1_700_000_000.123)
        var previous = generator.next(now: now)
        var outOfOrder = 0
        for _ in 0..<10_000 {  // far more than 4096 counter values
            let current = generator.next(now: now)
            if !(previous.uuidString.lowercased() < current.uuidString.lowercased()) { outOfOrder += 1 }
            previous = current
        }
        #expect(outOfOrder == 0)
        // The timestamp drifted forward by a few milliseconds at most.
        let drift = previous.uuidV7Timestamp!.timeIntervalSince(now)
        #expect(drift > 0 && drift < 0.01)
    }

    @Test("Monotonic when the clock goes backwards")
    func backwardsClock() {
        let generator = UUIDv7Generator()
        let first = generator.next(now: Date(timeIntervalSince1970: 1_700_000_100))
        let second = generator.next(now: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(first.uuidString.lowercased() < second.uuidString.lowercased())
        #expect(second.uuidV7Timestamp == first.uuidV7Timestamp)
    }

    @Test("Timestamp round trip at millisecond precision", arguments: [
        0.0, 1.0, 1_700_000_000.123, 1_734_567_890.999, 4_102_444_800.5,
    ])
    func timestampRoundTrip(seconds: Double) throws {
        let generator = UUIDv7Generator()
        let now = Date(timeIntervalSince1970: seconds)
        let uuid = generator.next(now: now)
        let timestamp = try #require(uuid.uuidV7Timestamp)
        let expectedMilliseconds = (seconds * 1000).rounded()
        #expect((timestamp.timeIntervalSince1970 * 1000).rounded() == expectedMilliseconds)
        // Feeding the decoded timestamp back in yields the same millisecond.
        let again = UUIDv7Generator().next(now: timestamp)
        #expect(again.uuidV7Timestamp == timestamp)
    }

    @Test("Timestamp bytes are big-endian Unix milliseconds")
    func timestampLayout() {
        let uuid = UUIDv7Generator().next(now: Date(timeIntervalSince1970: 1_700_000_000.123))
        // 1_700_000_000_123 ms = 0x018B_CFE5_687B
        let bytes = uuid.uuid
        #expect([bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5] == [0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x7B])
    }

    @Test("Non-v7 UUIDs have no v7 timestamp")
    func nonV7() throws {
        let v4 = try #require(UUID(uuidString: "f47ac10b-58cc-4372-a567-0e02b2c3d479"))
        #expect(v4.uuidV7Timestamp == nil)
        // Version 7 nibble but wrong variant.
        let badVariant = try #require(UUID(uuidString: "018bcfe5-687b-7000-c000-000000000000"))
        #expect(badVariant.uuidV7Timestamp == nil)
        let rfcExample = try #require(UUID(uuidString: "017F22E2-79B0-7CC3-98C4-DC0C0C07398F"))
        #expect(rfcExample.uuidV7Timestamp == Date(timeIntervalSince1970: 1_645_557_742))
    }

    @Test("Concurrent generation from 8 tasks yields no duplicates")
    func concurrent() async {
        let perTask = 20_000
        let all = await withTaskGroup(of: [UUID].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<perTask).map { _ in UUIDv7Generator.shared.next() }
                }
            }
            var collected: [UUID] = []
            for await batch in group {
                // Each task's own sequence is increasing, since all share one monotonic generator.
                let strings = batch.map { $0.uuidString.lowercased() }
                #expect(zip(strings, strings.dropFirst()).allSatisfy { $0 < $1 })
                collected += batch
            }
            return collected
        }
        #expect(all.count == 8 * perTask)
        #expect(Set(all).count == all.count)
    }
}
