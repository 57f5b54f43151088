import CurlClient
import HTTPEdge
import Logging
import ServiceSupport

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Everything the ResourceAPI needs to run. The command line fills the first block;
/// tests also tune the second (intervals, bounds, the clock) to stay fast.
public struct ResourceAPIConfiguration: Sendable {
    // MARK: Options of the contract
    public var host: String = "127.0.0.1"
    public var port: Int = 8082
    /// Where discovery and `/revocations` are fetched (the internal address of the Issuer).
    public var issuerURL: String = "http://127.0.0.1:8081"
    /// Skips discovery when set.
    public var jwksURL: String?
    /// `iss` to require; defaults to the discovered `issuer` (or `issuerURL` without discovery).
    public var expectedIssuer: String?
    public var audience: String = "resource-api"
    public var leeway: Duration = .seconds(30)
    /// Least time between two fetches triggered by unknown `kid`s.
    public var jwksMinRefresh: Duration = .seconds(10)
    /// How long the last good JWK Set is used while the Issuer cannot be reached.
    public var jwksMaxStale: Duration = .seconds(24 * 3600)
    public var revocationPoll: Duration = .seconds(2)
    public var logLevel: Logger.Level = .info
    public var logFormat: LogFormat = .text
    /// `--tls-cert` and `--tls-key`: serve HTTPS (TLS 1.2 and 1.3) instead of HTTP.
    public var tls: TLSFiles?
    /// `--issuer-ca-file`: the Issuer's certificate must chain to these CAs only; nil: the system's.
    public var issuerCAFile: String?
    /// `--allow-http-issuer`: plain `http://` to an Issuer that is not on loopback is allowed.
    public var allowHTTPIssuer = false

    // MARK: Tuning (not on the command line)
    /// `Cache-Control: max-age` is clamped into this range.
    public var jwksMinMaxAge: Duration = .seconds(5)
    public var jwksMaxMaxAge: Duration = .seconds(3600)
    /// Freshness used when the JWK Set response has no usable max-age.
    public var jwksDefaultMaxAge: Duration = .seconds(300)
    /// How long a `kid` that was just not found is answered from memory.
    public var unknownKidTTL: Duration?
    /// Backoff after a failed fetch (jittered, doubling up to the maximum).
    public var retryMinimum: Duration = .milliseconds(500)
    public var retryMaximum: Duration = .seconds(30)
    public var fetchConnectTimeout: Duration = .seconds(2)
    public var fetchTimeout: Duration = .seconds(5)
    /// Entries in the verified-token cache; 0 disables it.
    public var verifiedTokenCacheSize: Int = 10_000
    /// The size limits of every request (token, body, head).
    public var limits = EdgeLimits.standard
    /// Answer the hot routes on the event loop (`APIFastRoutes`); off, every request goes
    /// through Hummingbird's router. The answers are the same either way.
    public var fastPath = true
    /// Wall clock in seconds since 1970, for token times and cache ages. Tests move it.
    public var clock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

    public init() {}

    /// `--log-format` (the one type of the three executables).
    public typealias LogFormat = ServiceSupport.LogFormat

    /// `--log-level` and `--log-format`, for `LoggingSetup`.
    public var logging: LoggingSetup { LoggingSetup(level: self.logLevel, format: self.logFormat) }

    /// The options of every fetch from the Issuer (discovery, JWK Set, revocation feed):
    /// the timeouts, `maxBodyBytes`, and the CAs that verify an `https://` Issuer.
    func fetchOptions(maxBodyBytes: Int) -> CurlRequestOptions {
        CurlRequestOptions(
            connectTimeout: self.fetchConnectTimeout,
            timeout: self.fetchTimeout,
            maxBodyBytes: maxBodyBytes,
            caFile: self.issuerCAFile
        )
    }

    /// The kid negative-cache lifetime: by default as long as no new fetch could happen anyway.
    var effectiveUnknownKidTTL: Duration { self.unknownKidTTL ?? self.jwksMinRefresh }
}

extension Duration {
    /// Seconds as a Double, for arithmetic with the wall clock.
    var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
