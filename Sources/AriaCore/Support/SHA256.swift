/// SHA-256 message digests (FIPS 180-4), implemented in pure Swift.
///
/// Use ``hash(_:)`` for the 32 raw digest bytes, ``hex(_:)`` for the lowercase hexadecimal
/// digest, or ``Context`` to hash data that arrives in pieces.
public enum SHA256 {
    /// The length of a SHA-256 digest in bytes.
    public static let digestByteCount = 32

    /// The length of a SHA-256 input block in bytes.
    public static let blockByteCount = 64

    /// Returns the 32-byte SHA-256 digest of `bytes`.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var context = Context()
        context.update(bytes)
        return context.finalize()
    }

    /// Returns the SHA-256 digest of `bytes` as 64 lowercase hexadecimal characters.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        hexEncoded(hash(bytes))
    }

    /// Returns `bytes` encoded as lowercase hexadecimal, two characters per byte (no hashing).
    public static func hexEncoded(_ bytes: some Sequence<UInt8>) -> String {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            utf8.append(hexDigits[Int(byte >> 4)])
            utf8.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// An incremental SHA-256 computation: feed data with ``update(_:)``, then call ``finalize()``.
    public struct Context: Sendable {
        private var state: [UInt32] = SHA256.initialState
        /// Bytes of a partial block waiting for more input (always fewer than 64 after an update).
        private var pending: [UInt8] = []
        private var totalByteCount: UInt64 = 0

        /// Creates a context for a new, empty message.
        public init() {
            pending.reserveCapacity(SHA256.blockByteCount)
        }

        /// Appends `bytes` to the message being hashed.
        public mutating func update(_ bytes: some Sequence<UInt8>) {
            let handled: Void? = bytes.withContiguousStorageIfAvailable { buffer in
                update(buffer)
            }
            if handled == nil {
                let copy = Array(bytes)
                copy.withUnsafeBufferPointer { update($0) }
            }
        }

        /// Appends the bytes in `buffer` to the message being hashed.
        public mutating func update(_ buffer: UnsafeBufferPointer<UInt8>) {
            guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
            totalByteCount &+= UInt64(buffer.count)
            var offset = 0

            if !pending.isEmpty {
                let take = Swift.min(SHA256.blockByteCount - pending.count, buffer.count)
                pending.append(contentsOf: UnsafeBufferPointer(start: base, count: take))
                offset = take
                if pending.count < SHA256.blockByteCount { return }
                let block = pending
                block.withUnsafeBufferPointer { compress(blocks: $0.baseAddress!, count: 1) }
                pending.removeAll(keepingCapacity: true)
            }

            let fullBlocks = (buffer.count - offset) / SHA256.blockByteCount
            if fullBlocks > 0 {
                compress(blocks: base + offset, count: fullBlocks)
                offset += fullBlocks * SHA256.blockByteCount
            }
            if offset < buffer.count {
                pending.append(contentsOf: UnsafeBufferPointer(start: base + offset, count: buffer.count - offset))
            }
        }

        /// Pads the message and returns its 32-byte digest; the context should not be used afterwards.
        public mutating func finalize() -> [UInt8] {
            let bitLength = totalByteCount &* 8
            var tail = pending
            tail.append(0x80)
            while tail.count % SHA256.blockByteCount != 56 { tail.append(0) }
            for shift in stride(from: 56, through: 0, by: -8) {
                tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
            }
            tail.withUnsafeBufferPointer {
                compress(blocks: $0.baseAddress!, count: $0.count / SHA256.blockByteCount)
            }
            pending.removeAll()

            var digest: [UInt8] = []
            digest.reserveCapacity(SHA256.digestByteCount)
            for word in state {
                digest.append(UInt8(truncatingIfNeeded: word >> 24))
                digest.append(UInt8(truncatingIfNeeded: word >> 16))
                digest.append(UInt8(truncatingIfNeeded: word >> 8))
                digest.append(UInt8(truncatingIfNeeded: word))
            }
            return digest
        }

        /// Runs the compression function over `count` consecutive 64-byte blocks starting at `blocks`.
        private mutating func compress(blocks: UnsafePointer<UInt8>, count: Int) {
            state.withUnsafeMutableBufferPointer { stateBuffer in
                SHA256.roundConstants.withUnsafeBufferPointer { kBuffer in
                    withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { wBuffer in
                        let h = stateBuffer.baseAddress!
                        let k = kBuffer.baseAddress!
                        let w = wBuffer.baseAddress!
                        for blockIndex in 0..<count {
                            SHA256.compressBlock(state: h, block: blocks + blockIndex * SHA256.blockByteCount, k: k, w: w)
                        }
                    }
                }
            }
        }
    }

    // MARK: - Internals

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static let initialState: [UInt32] = [
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
    ]

    private static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x >> n) | (x << (32 &- n))
    }

    /// Applies the SHA-256 compression function to one 64-byte block, updating the 8-word `state`.
    @inline(__always)
    private static func compressBlock(
        state: UnsafeMutablePointer<UInt32>,
        block: UnsafePointer<UInt8>,
        k: UnsafePointer<UInt32>,
        w: UnsafeMutablePointer<UInt32>
    ) {
        for t in 0..<16 {
            let p = block + t * 4
            w[t] = UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
        }
        for t in 16..<64 {
            let w15 = w[t - 15], w2 = w[t - 2]
            let s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3)
            let s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }

        var a = state[0], b = state[1], c = state[2], d = state[3]
        var e = state[4], f = state[5], g = state[6], h = state[7]
        for t in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = h &+ s1 &+ ch &+ k[t] &+ w[t]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            h = g
            g = f
            f = e
            e = d &+ t1
            d = c
            c = b
            b = a
            a = t1 &+ t2
        }
        state[0] &+= a
        state[1] &+= b
        state[2] &+= c
        state[3] &+= d
        state[4] &+= e
        state[5] &+= f
        state[6] &+= g
        state[7] &+= h
    }
}
