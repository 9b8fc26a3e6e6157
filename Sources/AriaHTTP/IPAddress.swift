#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// An IPv4 or IPv6 address as its network-order bytes (4 or 16).
struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address bytes, most significant first.
    let bytes: [UInt8]

    /// Whether this is an IPv4 address.
    var isIPv4: Bool { bytes.count == 4 }

    /// Wraps 4 or 16 bytes.
    init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text; brackets and a zone (`%eth0`) are accepted.
    init?(_ text: String) {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        var v4 = in_addr()
        if inet_pton(AF_INET, String(text), &v4) == 1 {
            self.bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, String(text), &v6) == 1 {
            self.bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    /// Reads the address out of a `sockaddr` of `family` (AF_INET or AF_INET6) that is `length` bytes long.
    init?(sockaddr pointer: UnsafeRawPointer, family: Int32, length: Int) {
        switch family {
        case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
            var address = pointer.loadUnaligned(as: sockaddr_in.self).sin_addr
            self.bytes = withUnsafeBytes(of: &address) { Array($0) }
        case AF_INET6 where length >= MemoryLayout<sockaddr_in6>.size:
            var address = pointer.loadUnaligned(as: sockaddr_in6.self).sin6_addr
            self.bytes = withUnsafeBytes(of: &address) { Array($0) }
        default:
            return nil
        }
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), or self.
    var unmapped: IPAddress {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else {
            return self
        }
        return IPAddress(bytes: Array(bytes[12..<16]))!
    }

    /// The address in its usual text form (`inet_ntop`).
    var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in
            buffer.withUnsafeMutableBufferPointer { inet_ntop(family, raw.baseAddress, $0.baseAddress, socklen_t($0.count)) }
        }
        guard ok != nil else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A block of addresses: an address and how many leading bits of it are fixed.
struct CIDRBlock: Hashable, Sendable, CustomStringConvertible {
    /// The network address (bits beyond the prefix are ignored).
    let network: IPAddress
    /// The number of leading bits that must match.
    let prefixLength: Int

    /// Creates a block; `prefixLength` must fit the address family.
    init(_ network: IPAddress, _ prefixLength: Int) {
        precondition(prefixLength >= 0 && prefixLength <= network.bytes.count * 8)
        self.network = network
        self.prefixLength = prefixLength
    }

    /// Parses `a.b.c.d/n`, `x:y::/n`, or a bare address (a block of one).
    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let bits = address.bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), parsed >= 0, parsed <= bits, parts[1].allSatisfy(\.isASCII) else { return nil }
            length = parsed
        }
        self.init(address, length)
    }

    /// A block from a literal that is known to be valid.
    static func literal(_ text: String) -> CIDRBlock { CIDRBlock(text)! }

    /// Whether `address` (of the same family) lies in the block.
    func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = prefixLength
        var index = 0
        while remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if address.bytes[index] & mask != network.bytes[index] & mask { return false }
            remaining -= 8
            index += 1
        }
        return true
    }

    /// The block as `address/length`.
    var description: String { "\(network)/\(prefixLength)" }
}
