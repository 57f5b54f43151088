import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceSupport
import SharedJWT

/// Options every subcommand shares: each is a flag and an `ISSUER_*` variable (flag wins).
public struct IssuerOptions: ParsableArguments {
    @Option(help: "Address to bind (ISSUER_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port to bind, 0 lets the OS choose (ISSUER_PORT; default 8081).") var port: String?
    @Option(help: "Public base URL, the iss of every token (ISSUER_ISSUER_URL; default http://127.0.0.1:8081).") var issuerUrl: String?
    @Option(help: "aud of every token (ISSUER_AUDIENCE; default resource-api).") var audience: String?
    @Option(help: "Key directory (ISSUER_KEYS_DIR; default keys).") var keysDir: String?
    @Option(help: "SQLite file (ISSUER_DATA; default data/issuer.sqlite).") var data: String?
    @Option(help: "A SQLite path or a postgres:// URL; wins over --data (ISSUER_STORE; default: --data).") var store: String?
    @Option(help: "Access token lifetime (ISSUER_ACCESS_TTL; default 5m).") var accessTtl: String?
    @Option(help: "Refresh token lifetime (ISSUER_REFRESH_TTL; default 24h).") var refreshTtl: String?
    @Option(help: "JWKS Cache-Control max-age (ISSUER_JWKS_MAX_AGE; default 5m).") var jwksMaxAge: String?
    @Option(help: "Rotate keys on this schedule, or off (ISSUER_ROTATE_EVERY; default off).") var rotateEvery: String?
    @Option(help: "RSA key size: 2048, 3072 or 4096 (ISSUER_KEY_BITS; default 2048).") var keyBits: String?
    @Option(help: "trace, debug, info, notice, warning, error, critical (ISSUER_LOG_LEVEL; default info).") var logLevel: String?
    @Option(help: "text or json (ISSUER_LOG_FORMAT; default text).") var logFormat: String?
    @Option(
        help: "on: refresh grants of /token are answered on the event loop; off: every request through the router (ISSUER_FAST_PATH; default on)."
    )
    var fastPath: String?
    @OptionGroup var connections: ConnectionOptions
    @Option(
        name: .customLong("trusted-proxy"),
        help: """
            A proxy (IP or CIDR, repeatable) whose Forwarded/X-Forwarded-For names the client for login limits \
            (ISSUER_TRUSTED_PROXY, comma-separated; default none).
            """
    )
    var trustedProxy: [String] = []
    @Option(help: "PEM certificate chain: serve HTTPS, with --tls-key (ISSUER_TLS_CERT; re-read on SIGHUP).") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert, mode 0600 (ISSUER_TLS_KEY; re-read on SIGHUP).") var tlsKey: String?
    @Option(help: .hidden) var bcryptCost: String?

    public init() {}

    /// Validates every option (flag, else `ISSUER_*` variable, else default); the first bad
    /// one throws a `ConfigurationError` naming it.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> IssuerConfiguration {
        let resolver = OptionResolver(environmentPrefix: "ISSUER_", environment: environment)
        var configuration = IssuerConfiguration()
        configuration.host = try resolver.host("host", self.host) ?? configuration.host
        configuration.port = try resolver.port("port", self.port) ?? configuration.port
        configuration.tls = try resolver.tlsFiles(certificate: self.tlsCert, key: self.tlsKey)
        // Over HTTPS the default public URL is the https one.
        let defaultURL = configuration.tls == nil ? configuration.issuerURL : "https://127.0.0.1:8081"
        configuration.issuerURL =
            try resolver.httpURL("issuer-url", self.issuerUrl, plain: true, trimmingSlashes: true) ?? defaultURL
        configuration.audience = try resolver.word("audience", self.audience) ?? configuration.audience
        configuration.keysDirectory = resolver.string("keys-dir", self.keysDir) ?? configuration.keysDirectory
        configuration.databasePath = resolver.string("data", self.data) ?? configuration.databasePath
        try StoreSelection.apply(resolver.string("store", self.store), to: &configuration)
        if let value = try resolver.duration("access-ttl", self.accessTtl, .wholeSeconds) {
            configuration.accessTTL = value.components.seconds
        }
        if let value = try resolver.duration("refresh-ttl", self.refreshTtl, .wholeSeconds) {
            configuration.refreshTTL = value.components.seconds
        }
        if let value = try resolver.duration("jwks-max-age", self.jwksMaxAge, .wholeSeconds) {
            configuration.jwksMaxAge = value.components.seconds
        }
        if case .some(let value) = try resolver.durationOrOff("rotate-every", self.rotateEvery, .wholeSeconds) {
            configuration.rotateEvery = value?.components.seconds
        }
        configuration.keyBits = try resolver.integer("key-bits", self.keyBits, oneOf: [2048, 3072, 4096]) ?? configuration.keyBits
        configuration.fastPath = try resolver.choice("fast-path", self.fastPath, as: OnOff.self)?.isOn ?? configuration.fastPath
        try configuration.limits.resolveConnections(resolver, self.connections)
        configuration.trustedProxies = try resolver.addressBlocks("trusted-proxy", self.trustedProxy) ?? configuration.trustedProxies
        let logging = try resolver.logging(level: self.logLevel, format: self.logFormat)
        configuration.logLevel = logging.level
        configuration.logFormat = logging.format
        // Test-only knob (hidden): real deployments keep the default of 10 or more.
        if let cost = try resolver.integer("bcrypt-cost", self.bcryptCost, in: 4...31) {
            configuration.bcryptCost = UInt8(cost)
        }
        return configuration
    }

    /// These options, with every one that `later` gives replacing this one's: for options
    /// written after a command's arguments (`keys retire -- KID --keys-dir DIR`).
    func overridden(by later: IssuerOptions) -> IssuerOptions {
        var merged = self
        merged.host = later.host ?? self.host
        merged.port = later.port ?? self.port
        merged.issuerUrl = later.issuerUrl ?? self.issuerUrl
        merged.audience = later.audience ?? self.audience
        merged.keysDir = later.keysDir ?? self.keysDir
        merged.data = later.data ?? self.data
        merged.store = later.store ?? self.store
        merged.accessTtl = later.accessTtl ?? self.accessTtl
        merged.refreshTtl = later.refreshTtl ?? self.refreshTtl
        merged.jwksMaxAge = later.jwksMaxAge ?? self.jwksMaxAge
        merged.rotateEvery = later.rotateEvery ?? self.rotateEvery
        merged.keyBits = later.keyBits ?? self.keyBits
        merged.logLevel = later.logLevel ?? self.logLevel
        merged.logFormat = later.logFormat ?? self.logFormat
        merged.fastPath = later.fastPath ?? self.fastPath
        merged.trustedProxy = later.trustedProxy.isEmpty ? self.trustedProxy : later.trustedProxy
        merged.bcryptCost = later.bcryptCost ?? self.bcryptCost
        return merged
    }

    /// Resolves, or prints the error (two lines) and exits with status 2.
    func resolveOrExit() throws -> IssuerConfiguration {
        do {
            return try self.resolve()
        } catch let error as ConfigurationError {
            throw error.report(command: "issuer")
        }
    }
}
