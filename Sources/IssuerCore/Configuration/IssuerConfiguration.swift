import HTTPEdge
import Foundation
import Logging
import ServiceSupport
import SharedJWT

/// The option error of the three executables (ServiceSupport); the alias lets the files
/// of this module that do not import ServiceSupport (the stores) throw it.
typealias ConfigurationError = ServiceSupport.ConfigurationError

/// Moved to ServiceSupport (all three executables' loggers use it); the alias keeps the
/// module's tests that name it compiling unchanged.
typealias DeferredMetadataLogHandler = ServiceSupport.DeferredMetadataLogHandler

/// Everything the Issuer needs to run, already validated.
public struct IssuerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8081
    /// `iss` of every token, without a trailing slash.
    public var issuerURL: String = "http://127.0.0.1:8081"
    public var audience: String = "resource-api"
    public var keysDirectory: String = "keys"
    public var databasePath: String = "data/issuer.sqlite"
    /// A `postgres://` URL (`--store`): the shared store of several replicas; nil means SQLite at `databasePath`.
    public var storeURL: String? = nil
    /// Seconds.
    public var accessTTL: Int64 = 300
    public var refreshTTL: Int64 = 86400
    public var jwksMaxAge: Int64 = 300
    public var rotateEvery: Int64? = nil
    public var keyBits: Int = 2048
    public var logLevel: Logger.Level = .info
    public var logFormat: LogFormat = .text
    /// `--tls-cert` and `--tls-key`: serve HTTPS (TLS 1.2 and 1.3) instead of HTTP.
    public var tls: TLSFiles? = nil

    // Not options of the contract: tuning, mostly for tests.
    /// bcrypt cost for new hashes (and the dummy hash); 10 or more outside tests.
    public var bcryptCost: UInt8 = 10
    /// How often the key directory is re-read and lifecycle timers checked (≤ 5 s).
    public var keyReloadInterval: Duration = .seconds(5)
    /// How often expired rows are purged.
    public var purgeInterval: Duration = .seconds(60)
    /// Failed logins allowed per username in `loginFailureWindow` seconds.
    public var maxLoginFailures: Int = 5
    /// Failed logins allowed per client address (any usernames) in the same window.
    public var maxLoginFailuresPerAddress: Int = 20
    public var loginFailureWindow: Int64 = 300
    /// Answer refresh grants of `/token` on the event loop (`TokenFastRoutes`); off, every
    /// request goes through Hummingbird's router. The answers are the same either way.
    public var fastPath = true
    /// The edge's limits: sizes, timeouts, the connection cap.
    public var limits = EdgeLimits.standard
    /// `--trusted-proxy`: peers whose `Forwarded` / `X-Forwarded-For` name the client
    /// address the login limits and logs use. None by default: the peer address.
    public var trustedProxies = TrustedProxies()
    /// Seconds since 1970; injectable for tests.
    public var clock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

    public init() {}

    var lifecyclePolicy: KeyLifecyclePolicy {
        KeyLifecyclePolicy(accessTTL: Double(accessTTL), jwksMaxAge: Double(jwksMaxAge), rotateEvery: rotateEvery.map(Double.init))
    }
}

extension IssuerConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    /// The options, the store URL without its password: swift-service-lifecycle logs each
    /// service's description at debug level, and a service holding this configuration
    /// describes it with this.
    public var description: String {
        let store = self.storeURL.map { SecretRedaction.redact($0) } ?? self.databasePath
        return "IssuerConfiguration(host: \(self.host), port: \(self.port), issuerURL: \(self.issuerURL), "
            + "audience: \(self.audience), keysDirectory: \(self.keysDirectory), store: \(store), "
            + "accessTTL: \(self.accessTTL), refreshTTL: \(self.refreshTTL), jwksMaxAge: \(self.jwksMaxAge), "
            + "rotateEvery: \(self.rotateEvery.map(String.init) ?? "off"), keyBits: \(self.keyBits), "
            + "trustedProxies: \(self.trustedProxies.blocks.map(\.description)), "
            + "logLevel: \(self.logLevel), logFormat: \(self.logFormat), "
            + "tls: \(self.tls.map { "\($0.certificatePath) \($0.keyPath)" } ?? "off"))"
    }

    public var debugDescription: String { self.description }

    /// `--log-level` and `--log-format`, for `LoggingSetup`.
    public var logging: LoggingSetup { LoggingSetup(level: self.logLevel, format: self.logFormat) }
}
