/// The proxies (`--trusted-proxy CIDR`) whose `Forwarded` / `X-Forwarded-For` say who the
/// client is.
///
/// Only a request whose peer lies in one of the blocks has its client address taken from
/// those headers: the right-most address that is not itself a trusted proxy. From any other
/// peer the headers are ignored, so a client cannot choose the address its failed logins
/// count against.
public struct TrustedProxies: Sendable, Hashable {
    public var blocks: [IPAddressBlock]

    public init(_ blocks: [IPAddressBlock] = []) {
        self.blocks = blocks
    }

    /// True when `address` is inside one of the blocks.
    public func isTrusted(_ address: String) -> Bool {
        self.blocks.contains { $0.contains(address) }
    }

    /// The client address of a request from `peer`, with the values of its `Forwarded` and
    /// `X-Forwarded-For` fields (each line as received). `Forwarded` wins when both are there.
    public func clientAddress(peer: String, forwarded: [String], xForwardedFor: [String]) -> String {
        guard !self.blocks.isEmpty, self.isTrusted(peer) else { return peer }
        var hops = Self.forwardedFor(forwarded)
        if hops.isEmpty {
            hops = xForwardedFor.flatMap { $0.split(separator: ",") }.map { Self.trimmed($0) }.filter { !$0.isEmpty }
        }
        // Right to left: each hop was written by the one after it; stop at the first we do
        // not trust, or at a value that is no address (then the proxy that wrote it is the
        // last address we know).
        var known = peer
        for hop in hops.reversed() {
            guard let address = Self.address(hop) else { return known }
            if !self.isTrusted(address) { return address }
            known = address
        }
        return known
    }

    /// The `for=` values of `Forwarded` (RFC 7239), in order.
    static func forwardedFor(_ lines: [String]) -> [String] {
        var hops: [String] = []
        for element in lines.flatMap({ $0.split(separator: ",") }) {
            for pair in element.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, Self.trimmed(parts[0]).lowercased() == "for" else { continue }
                var value = Self.trimmed(parts[1])
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                hops.append(value)
            }
        }
        return hops
    }

    /// The address in a hop value: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`,
    /// `2001:db8::1`; nil for `unknown`, obfuscated names and anything else.
    static func address(_ hop: String) -> String? {
        var candidate = hop
        if candidate.hasPrefix("[") {
            guard let close = candidate.firstIndex(of: "]") else { return nil }
            candidate = String(candidate[candidate.index(after: candidate.startIndex)..<close])
        } else if candidate.contains("."), let colon = candidate.firstIndex(of: ":") {
            // IPv4 with a port.
            candidate = String(candidate[..<colon])
        }
        return IPAddressBlock.bytes(of: candidate) == nil ? nil : candidate
    }

    static func trimmed(_ text: Substring) -> String {
        String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
