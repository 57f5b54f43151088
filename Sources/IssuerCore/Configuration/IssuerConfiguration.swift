import Foundation
import Logging
import ServiceSupport
import SharedJWT

/// A configuration value that could not be used: names the option, exits with status 2.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let option: String
    public let problem: String
    public init(option: String, problem: String) {
        self.option = option
        self.problem = problem
    }
    public var description: String { "invalid value for \(option): \(problem)" }
}

public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

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
    /// Seconds since 1970; injectable for tests.
    public var clock: @Sendable () -> Double = { Date().timeIntervalSince1970 }

    public init() {}

    var lifecyclePolicy: KeyLifecyclePolicy {
        KeyLifecyclePolicy(accessTTL: Double(accessTTL), jwksMaxAge: Double(jwksMaxAge), rotateEvery: rotateEvery.map(Double.init))
    }
}

/// Reads an option from its flag value or its `ISSUER_*` variable (the flag wins).
struct OptionSource {
    var environment: [String: String]

    func value(_ flag: String?, env: String) -> String? {
        if let flag { return flag }
        if let value = environment[env], !value.isEmpty { return value }
        return nil
    }

    func duration(_ flag: String?, option: String, env: String, allowOff: Bool = false) throws -> Int64?? {
        guard let text = value(flag, env: env) else { return .none }
        if allowOff, ["off", "0", "none", "never"].contains(text.lowercased()) { return .some(nil) }
        guard let seconds = DurationText.seconds(text), seconds > 0 else {
            throw ConfigurationError(option: option, problem: "'\(text)' is not a positive duration (use e.g. 300, 300s, 5m, 1h, 30d)")
        }
        return .some(seconds)
    }
}
