import ServiceSupport
import Testing

/// `--trusted-proxy` (issue 19): which address the Issuer's login limits count against.
@Suite struct TrustedProxiesTests {
    static let balancer = TrustedProxies([IPAddressBlock("10.0.0.2/32"), IPAddressBlock("fd00::/8")].compactMap { $0 })

    @Test func blocksParseAndContain() throws {
        let v4 = try #require(IPAddressBlock("10.0.0.0/8"))
        #expect(v4.contains("10.200.3.4"))
        #expect(v4.contains("::ffff:10.1.2.3"))  // an IPv4 peer on a dual-stack socket
        #expect(!v4.contains("11.0.0.1"))
        let single = try #require(IPAddressBlock("192.168.1.5"))
        #expect(single.contains("192.168.1.5") && !single.contains("192.168.1.6"))
        let v6 = try #require(IPAddressBlock("2001:db8::/32"))
        #expect(v6.contains("2001:db8:1::7") && !v6.contains("2001:db9::1"))
        #expect(try #require(IPAddressBlock("0.0.0.0/0")).contains("8.8.8.8"))
        for bad in ["", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0/8", "fd00::/129", "host.example", "10.0.0.0/8/9", "10.0.0.0/ 8", "::/x"] {
            #expect(IPAddressBlock(bad) == nil, "\(bad)")
        }
        #expect(!v4.contains("not an address"))
    }

    @Test func headersCountOnlyFromATrustedPeer() {
        // No proxies configured: the peer, whatever the headers say.
        #expect(TrustedProxies().clientAddress(peer: "10.0.0.2", forwarded: [], xForwardedFor: ["203.0.113.9"]) == "10.0.0.2")
        // A peer that is not a trusted proxy cannot choose its address.
        #expect(Self.balancer.clientAddress(peer: "198.51.100.7", forwarded: ["for=203.0.113.9"], xForwardedFor: ["203.0.113.9"]) == "198.51.100.7")
        // From the balancer: the right-most address that is not a trusted proxy.
        #expect(Self.balancer.clientAddress(peer: "10.0.0.2", forwarded: [], xForwardedFor: ["1.2.3.4, 203.0.113.9"]) == "203.0.113.9")
        #expect(Self.balancer.clientAddress(peer: "10.0.0.2", forwarded: [], xForwardedFor: ["1.2.3.4", "203.0.113.9, 10.0.0.2"]) == "203.0.113.9")
        // No header from the balancer: the balancer itself.
        #expect(Self.balancer.clientAddress(peer: "10.0.0.2", forwarded: [], xForwardedFor: []) == "10.0.0.2")
    }

    @Test func forwardedWinsAndItsFormsAreRead() {
        #expect(
            Self.balancer.clientAddress(
                peer: "10.0.0.2",
                forwarded: [#"for=192.0.2.60;proto=http, for="[2001:db8::5]:4711""#],
                xForwardedFor: ["9.9.9.9"]
            )
                == "2001:db8::5"
        )
        #expect(Self.balancer.clientAddress(peer: "10.0.0.2", forwarded: [#"For="192.0.2.43:47011""#], xForwardedFor: []) == "192.0.2.43")
        // A hop that is no address (`unknown`, an obfuscated name): the proxy that wrote it.
        #expect(Self.balancer.clientAddress(peer: "10.0.0.2", forwarded: ["for=unknown"], xForwardedFor: []) == "10.0.0.2")
        #expect(Self.balancer.clientAddress(peer: "10.0.0.2", forwarded: [], xForwardedFor: ["203.0.113.9, _hidden, fd00::1"]) == "fd00::1")
        // Garbage never crashes and never yields a made-up address.
        #expect(Self.balancer.clientAddress(peer: "10.0.0.2", forwarded: [";;;,=,for", "for=\""], xForwardedFor: [",,, ,"]) == "10.0.0.2")
    }

    @Test func optionResolverReadsFlagsOrTheCommaSeparatedVariable() throws {
        let resolver = OptionResolver(environmentPrefix: "ISSUER_", environment: ["ISSUER_TRUSTED_PROXY": "10.0.0.2/32, fd00::/8"])
        let fromVariable = try #require(try resolver.addressBlocks("trusted-proxy", []))
        #expect(fromVariable.blocks.map(\.description) == ["10.0.0.2/32", "fd00::/8"])
        let fromFlags = try #require(try resolver.addressBlocks("trusted-proxy", ["192.168.0.0/16"]))
        #expect(fromFlags.blocks.map(\.description) == ["192.168.0.0/16"])
        #expect(try OptionResolver(environmentPrefix: "ISSUER_", environment: [:]).addressBlocks("trusted-proxy", []) == nil)
        #expect(throws: ConfigurationError.self) {
            let bad = OptionResolver(environmentPrefix: "ISSUER_", environment: ["ISSUER_TRUSTED_PROXY": "10.0.0.0/8,nope"])
            _ = try bad.addressBlocks("trusted-proxy", [])
        }
        do {
            _ = try resolver.addressBlocks("trusted-proxy", ["10.0.0.0/40"])
            Issue.record("10.0.0.0/40 was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("--trusted-proxy"))
            #expect(error.description.contains("10.0.0.0/40"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
