import AriaCore
import Testing

@Suite("SHA256")
struct SHA256Tests {
    @Test("NIST FIPS 180-4 test vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        (
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        ),
    ])
    func vectors(message: String, expected: String) {
        #expect(SHA256.hex(Array(message.utf8)) == expected)
        #expect(SHA256.hex(message.utf8) == expected)
    }

    @Test("One million 'a'")
    func millionA() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hex(message) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("Digest is 32 bytes and hex matches the raw digest")
    func digestShape() {
        let digest = SHA256.hash(Array("abc".utf8))
        #expect(digest.count == 32)
        #expect(digest.prefix(4) == [0xba, 0x78, 0x16, 0xbf])
        #expect(SHA256.hexEncoded(digest) == SHA256.hex(Array("abc".utf8)))
        #expect(SHA256.hexEncoded([0x00, 0x0f, 0xf0, 0xff]) == "000ff0ff")
    }

    @Test("Non-contiguous sequences hash like arrays")
    func nonContiguous() {
        let bytes = (0..<1000).lazy.map { UInt8(truncatingIfNeeded: $0 * 7) }
        #expect(SHA256.hash(bytes) == SHA256.hash(Array(bytes)))
    }

    @Test("Incremental updates match one-shot hashing across block boundaries")
    func incremental() {
        let message = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let expected = SHA256.hash(message)
        for chunkSize in [1, 3, 55, 56, 63, 64, 65, 127, 128, 999] {
            var context = SHA256.Context()
            var start = 0
            while start < message.count {
                let end = min(start + chunkSize, message.count)
                context.update(message[start..<end])
                start = end
            }
            #expect(context.finalize() == expected, "chunk size \(chunkSize)")
        }
    }

    @Test("Padding boundary lengths match a reference")
    func paddingBoundaries() {
        // Lengths around the 55/56/64-byte padding boundaries; values from `shasum -a 256`.
        let expected: [Int: String] = [
            55: "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            56: "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            63: "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
            64: "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
        ]
        for (length, digest) in expected {
            #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: length)) == digest, "length \(length)")
        }
    }
}
