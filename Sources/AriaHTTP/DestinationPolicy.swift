/// Decides whether a connection to an address may be made (SSRF defence): called for EVERY connection
/// curl opens, with the address AFTER DNS resolution.
///
/// Checking the resolved address at connect time, rather than the URL's host beforehand, closes DNS
/// rebinding (a name that resolves to a public address when checked and a private one when used) and
/// covers every redirect hop. An allowlisted host name is trusted whatever it resolves to; an
/// allowlisted CIDR admits addresses in it whatever the name.
public struct DestinationPolicy: Sendable {
    private enum Mode: Sendable {
        case allowAll
        case publicOnly
    }

    private let mode: Mode
    private let allowedHostNames: Set<String>
    private let allowedDomainSuffixes: [String]
    private let allowedBlocks: [CIDRBlock]

    /// Allowlist entries that could not be parsed and so admit nothing (fail closed).
    public let rejectedEntries: [String]

    /// Refuses every address that is not globally routable unicast: loopback (127/8, ::1), private
    /// (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10), unspecified and
    /// "this network" (0.0.0.0/8, ::), CGNAT 100.64/10, multicast (224/4, ff00::/8), reserved (240/4,
    /// broadcast), benchmarking and documentation ranges, IETF special blocks, IPv6 outside 2000::/3,
    /// and IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses embedding any of those.
    public static let publicOnly = DestinationPolicy(
        mode: .publicOnly, hosts: [], suffixes: [], blocks: [], rejected: [])

    /// Permits every address (for trusted, operator-configured URLs only).
    public static let allowAll = DestinationPolicy(mode: .allowAll, hosts: [], suffixes: [], blocks: [], rejected: [])

    /// `publicOnly` plus an explicit allowlist.
    ///
    /// - Parameters:
    ///   - allowedHosts: host names as written in URLs (case-insensitive; `*.example.com` admits every
    ///     subdomain but not `example.com` itself); a connection for such a host goes to any address.
    ///   - allowedCIDRs: address blocks (`10.1.0.0/16`, `127.0.0.1/32`, `fd00::/8`; a bare address is a
    ///     block of one) admitted whatever host name led to them. Unparsable entries admit nothing and
    ///     are listed in `rejectedEntries`.
    public init(allowedHosts: [String] = [], allowedCIDRs: [String] = []) {
        var hosts = Set<String>()
        var suffixes: [String] = []
        var rejected: [String] = []
        for entry in allowedHosts {
            let name = Self.normalizedHost(entry)
            if name.hasPrefix("*.") {
                let suffix = String(name.dropFirst(1))
                if suffix.count > 1 { suffixes.append(suffix) } else { rejected.append(entry) }
            } else if name.isEmpty || name.contains("*") {
                rejected.append(entry)
            } else {
                hosts.insert(name)
            }
        }
        var blocks: [CIDRBlock] = []
        for entry in allowedCIDRs {
            if let block = CIDRBlock(entry.trimmingWhitespace()) { blocks.append(block) } else { rejected.append(entry) }
        }
        self.init(mode: .publicOnly, hosts: hosts, suffixes: suffixes, blocks: blocks, rejected: rejected)
    }

    private init(mode: Mode, hosts: Set<String>, suffixes: [String], blocks: [CIDRBlock], rejected: [String]) {
        self.mode = mode
        self.allowedHostNames = hosts
        self.allowedDomainSuffixes = suffixes
        self.allowedBlocks = blocks
        self.rejectedEntries = rejected
    }

    /// Whether a connection to `address` (IPv4 or IPv6 text, after DNS) for a URL whose host is `host`
    /// may be made. Text that is not an IP address is refused (except under `allowAll`).
    public func permits(address: String, host: String) -> Bool {
        if case .allowAll = mode { return true }
        guard let parsed = IPAddress(address) else { return false }
        return permits(parsed, host: host)
    }

    /// The check behind `permits(address:host:)`, on a parsed address.
    func permits(_ address: IPAddress, host: String) -> Bool {
        if case .allowAll = mode { return true }
        if permitsHost(host) { return true }
        let unmapped = address.unmapped
        if allowedBlocks.contains(where: { $0.contains(address) || $0.contains(unmapped) }) { return true }
        return Self.isGloballyRoutable(unmapped)
    }

    private func permitsHost(_ host: String) -> Bool {
        guard !allowedHostNames.isEmpty || !allowedDomainSuffixes.isEmpty else { return false }
        let name = Self.normalizedHost(host)
        if allowedHostNames.contains(name) { return true }
        return allowedDomainSuffixes.contains { name.hasSuffix($0) && name.count > $0.count }
    }

    /// Lowercased, without IPv6 brackets or a trailing dot.
    static func normalizedHost(_ host: String) -> String {
        var name = Substring(host.trimmingWhitespace().lowercased())
        if name.hasPrefix("["), name.hasSuffix("]") { name = name.dropFirst().dropLast() }
        if name.hasSuffix(".") { name = name.dropLast() }
        return String(name)
    }

    // MARK: - Special-purpose ranges

    /// IPv4 blocks that are not public destinations (IANA special-purpose registry and friends).
    static let nonPublicIPv4: [CIDRBlock] = [
        "0.0.0.0/8",  // "this network", unspecified
        "10.0.0.0/8",  // private
        "100.64.0.0/10",  // carrier-grade NAT
        "127.0.0.0/8",  // loopback
        "169.254.0.0/16",  // link-local (cloud metadata services live here)
        "172.16.0.0/12",  // private
        "192.0.0.0/24",  // IETF protocol assignments
        "192.0.2.0/24",  // documentation
        "192.88.99.0/24",  // 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  // private
        "198.18.0.0/15",  // benchmarking
        "198.51.100.0/24",  // documentation
        "203.0.113.0/24",  // documentation
        "224.0.0.0/4",  // multicast
        "240.0.0.0/4",  // reserved, broadcast
    ].map(CIDRBlock.literal)

    /// IPv6 global unicast: everything outside it (loopback, unspecified, IPv4-compatible, discard,
    /// unique-local, link-local, site-local, multicast) is refused.
    static let globalUnicastIPv6 = CIDRBlock.literal("2000::/3")

    /// Blocks inside 2000::/3 that are not public destinations.
    static let nonPublicIPv6: [CIDRBlock] = [
        "2001::/23",  // IETF protocol assignments (Teredo, ORCHID, benchmarking, ...)
        "2001:db8::/32",  // documentation
        "3fff::/20",  // documentation
    ].map(CIDRBlock.literal)

    /// NAT64 well-known prefix: the last 32 bits are an IPv4 address.
    static let nat64 = CIDRBlock.literal("64:ff9b::/96")
    /// 6to4: bits 16–47 are an IPv4 address.
    static let sixToFour = CIDRBlock.literal("2002::/16")

    /// Whether `address` (already unmapped) is a public unicast destination.
    static func isGloballyRoutable(_ address: IPAddress) -> Bool {
        if address.isIPv4 {
            return !nonPublicIPv4.contains { $0.contains(address) }
        }
        if nat64.contains(address) {
            return isGloballyRoutable(IPAddress(bytes: Array(address.bytes[12..<16]))!)
        }
        if sixToFour.contains(address) {
            return isGloballyRoutable(IPAddress(bytes: Array(address.bytes[2..<6]))!)
        }
        guard globalUnicastIPv6.contains(address) else { return false }
        return !nonPublicIPv6.contains { $0.contains(address) }
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and line breaks.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0.isNewline }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return String(self[start...end])
    }
}
