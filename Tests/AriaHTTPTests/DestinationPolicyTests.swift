import AriaHTTP
import Testing

/// The destination policy on its own: address classification and allowlists, no network.
@Suite struct DestinationPolicyTests {
    /// Addresses `.publicOnly` must refuse, one or more per refused range.
    static let internalAddresses = [
        "127.0.0.1", "127.255.255.254", "::1",  // loopback
        "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fd12:3456::1",  // private
        "169.254.169.254", "fe80::1", "fe80::1%eth0",  // link-local, cloud metadata
        "0.0.0.0", "::", "0.1.2.3",  // unspecified, "this network"
        "100.64.0.1", "100.127.255.255",  // CGNAT
        "224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1",  // multicast
        "240.0.0.1", "255.255.255.255",  // reserved, broadcast
        "192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1", "198.18.0.1",  // documentation, benchmarking
        "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:0.0.0.0",  // IPv4-mapped
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  // NAT64 of loopback and metadata
        "2002:7f00:1::1", "2002:c0a8:101::1",  // 6to4 of loopback and private
        "::127.0.0.1", "fec0::1", "100::1", "2001::1",  // IPv4-compatible, site-local, discard, Teredo
    ]

    /// Public addresses `.publicOnly` must permit.
    static let publicAddresses = [
        "8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
        "192.169.0.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808",
        "2002:808:808::1",
    ]

    /// Loopback, private, link-local, CGNAT, multicast, reserved and embedded-IPv4 forms of them are refused.
    @Test("publicOnly refuses internal addresses", arguments: internalAddresses)
    func refusesInternal(address: String) {
        #expect(!DestinationPolicy.publicOnly.permits(address: address, host: "example.com"))
    }

    /// Public unicast addresses, including their IPv4-mapped, NAT64 and 6to4 forms, are permitted.
    @Test("publicOnly permits public addresses", arguments: publicAddresses)
    func permitsPublic(address: String) {
        #expect(DestinationPolicy.publicOnly.permits(address: address, host: "example.com"))
    }

    /// Text that is not an IP address is refused.
    @Test func refusesWhatIsNotAnAddress() {
        #expect(!DestinationPolicy.publicOnly.permits(address: "example.com", host: "example.com"))
        #expect(!DestinationPolicy.publicOnly.permits(address: "", host: "example.com"))
        #expect(!DestinationPolicy.publicOnly.permits(address: "256.1.1.1", host: "example.com"))
    }

    /// `.allowAll` permits internal and public addresses alike.
    @Test func allowAllPermitsEverything() {
        for address in Self.internalAddresses + Self.publicAddresses {
            #expect(DestinationPolicy.allowAll.permits(address: address, host: "localhost"))
        }
    }

    /// An allowed CIDR admits its block (IPv4-mapped forms too) and nothing next to it.
    @Test func cidrAllowlistAdmitsOnlyItsBlock() {
        let policy = DestinationPolicy(allowedCIDRs: ["127.0.0.1/32", "10.1.0.0/16", "fd00::/8"])
        #expect(policy.rejectedEntries.isEmpty)
        #expect(policy.permits(address: "127.0.0.1", host: "anything"))
        #expect(policy.permits(address: "::ffff:127.0.0.1", host: "anything"))
        #expect(!policy.permits(address: "127.0.0.2", host: "anything"))
        #expect(policy.permits(address: "10.1.255.255", host: "x"))
        #expect(!policy.permits(address: "10.2.0.1", host: "x"))
        #expect(policy.permits(address: "fd12::1", host: "x"))
        #expect(!policy.permits(address: "fc00::1", host: "x"))
        #expect(policy.permits(address: "8.8.8.8", host: "x"), "public addresses stay permitted")
    }

    /// An allowed host name admits any address for that host only; `*.` admits subdomains.
    @Test func hostAllowlistAdmitsAnyAddressForThatHost() {
        let policy = DestinationPolicy(allowedHosts: ["Allowed.Test", "*.internal.example", "[::1]"])
        #expect(policy.permits(address: "127.0.0.1", host: "allowed.test"))
        #expect(policy.permits(address: "10.0.0.1", host: "ALLOWED.TEST."))
        #expect(!policy.permits(address: "127.0.0.1", host: "other.test"))
        #expect(policy.permits(address: "10.0.0.1", host: "api.internal.example"))
        #expect(!policy.permits(address: "10.0.0.1", host: "internal.example"))
        #expect(!policy.permits(address: "10.0.0.1", host: "evilinternal.example"))
        #expect(policy.permits(address: "::1", host: "[::1]"))
    }

    /// Unparsable allowlist entries are reported and admit nothing.
    @Test func unparsableEntriesAdmitNothing() {
        let policy = DestinationPolicy(allowedHosts: ["*", ""], allowedCIDRs: ["10.0.0.0/33", "not-an-ip", "::1/129"])
        #expect(policy.rejectedEntries.count == 5)
        #expect(!policy.permits(address: "10.0.0.1", host: "x"))
        #expect(!policy.permits(address: "::1", host: "x"))
    }

    /// An error's description leaves out the URL's credentials, query and fragment.
    @Test func errorDescriptionRedactsCredentialsAndQuery() {
        let error = HTTPError(code: .timeout, message: "GET timed out", url: "https://user:secret@example.com/path?token=abc#frag")
        #expect(error.description == "HTTPError(timeout): GET timed out url=https://example.com/path")
    }

    /// Header lookup ignores case and can return repeated headers.
    @Test func headerLookupIgnoresCase() {
        let response = HTTPResponse(
            status: 200, headers: [("Content-Type", "text/plain"), ("Set-Cookie", "a"), ("set-cookie", "b")], body: [],
            url: "http://x/", redirects: 0)
        #expect(response.header("content-type") == "text/plain")
        #expect(response.headers(named: "SET-COOKIE") == ["a", "b"])
        #expect(response.header("missing") == nil)
    }
}
