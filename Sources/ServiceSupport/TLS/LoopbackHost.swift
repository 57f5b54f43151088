#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Whether a URL's host is this machine's loopback: the one place plain `http://` to an
/// Issuer is allowed without `--allow-http-issuer`.
public enum LoopbackHost {
    /// `localhost`, `*.localhost`, `127.0.0.0/8` and `::1`.
    public static func contains(_ host: String) -> Bool {
        var host = host.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { part in UInt8(part) != nil }
    }

    /// Whether `url` is plain `http://` to a host that is not loopback.
    public static func isRemotePlainHTTP(_ url: String) -> Bool {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "http",
            let host = components.host
        else { return false }
        return !Self.contains(host)
    }
}
