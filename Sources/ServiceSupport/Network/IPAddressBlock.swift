#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address block in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address
/// is a block of one).
///
/// Addresses are compared as 16 bytes: an IPv4 address is held IPv4-mapped
/// (`::ffff:a.b.c.d`), so `10.0.0.0/8` also holds `::ffff:10.1.2.3`, which is how a
/// dual-stack socket reports an IPv4 peer.
public struct IPAddressBlock: Sendable, Hashable, CustomStringConvertible {
    /// The network's 16 bytes, bits past the prefix cleared.
    let network: [UInt8]
    /// Prefix length over the 16-byte form (an IPv4 `/8` is 96 + 8).
    let prefixLength: Int
    public let description: String

    /// Parses `ADDRESS` or `ADDRESS/PREFIX`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let address = Self.bytes(of: String(first)) else { return nil }
        let isIPv4 = String(first).contains(".") && !String(first).contains(":")
        let maximum = isIPv4 ? 32 : 128
        var prefix = maximum
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maximum).contains(value), parts[1].allSatisfy(\.isASCII) else { return nil }
            prefix = value
        }
        self.prefixLength = prefix + (isIPv4 ? 96 : 0)
        self.network = Self.masked(address, prefixLength: self.prefixLength)
        self.description = text
    }

    /// True when `address` (text, IPv4 or IPv6) lies in the block.
    public func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(of: address) else { return false }
        return Self.masked(bytes, prefixLength: self.prefixLength) == self.network
    }

    /// The 16 bytes of an address (IPv4 mapped into IPv6); nil when it is not one.
    static func bytes(of text: String) -> [UInt8]? {
        var candidate = text
        // `[::1]` as in Forwarded, and an IPv6 zone (`fe80::1%eth0`), are accepted.
        if candidate.hasPrefix("["), candidate.hasSuffix("]") { candidate = String(candidate.dropFirst().dropLast()) }
        if let percent = candidate.firstIndex(of: "%") { candidate = String(candidate[..<percent]) }
        guard !candidate.isEmpty, candidate.utf8.count <= 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, candidate, &v4) == 1 {
            let value = UInt32(bigEndian: v4.s_addr)
            return [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF]
                + [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, candidate, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func masked(_ bytes: [UInt8], prefixLength: Int) -> [UInt8] {
        var result = bytes
        for index in 0..<result.count {
            let bitsKept = max(0, min(8, prefixLength - index * 8))
            result[index] &= bitsKept == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsKept))
        }
        return result
    }
}
