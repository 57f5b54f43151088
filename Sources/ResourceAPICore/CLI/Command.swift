import ArgumentParser
import CMalloc
import HTTPEdge
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceSupport
import HTTPEdge
import UnixSignals

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `resource-api [serve]`: every option is a flag or a `RESOURCE_API_*` variable (flag wins).
public struct ResourceAPICommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "resource-api",
        abstract: "The resource server: verifies the Issuer's access tokens and serves /api.",
        version: ServiceVersion.current
    )

    @Option(help: "Address to bind (RESOURCE_API_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port to bind (RESOURCE_API_PORT; default 8082).") var port: String?
    @Option(
        name: .customLong("issuer-url"),
        help: "Where to discover jwks_uri and poll /revocations (RESOURCE_API_ISSUER_URL; default http://127.0.0.1:8081)."
    )
    var issuerURL: String?
    @Option(name: .customLong("jwks-url"), help: "JWK Set URL; skips discovery (RESOURCE_API_JWKS_URL).") var jwksURL: String?
    @Option(name: .customLong("expected-issuer"), help: "Required iss (RESOURCE_API_EXPECTED_ISSUER; default: the discovered issuer).")
    var expectedIssuer: String?
    @Option(help: "Required aud (RESOURCE_API_AUDIENCE; default resource-api).") var audience: String?
    @Option(help: "Clock skew allowed on exp/nbf/iat (RESOURCE_API_LEEWAY; default 30s).") var leeway: String?
    @Option(name: .customLong("jwks-min-refresh"), help: "Least time between fetches for unknown kids (RESOURCE_API_JWKS_MIN_REFRESH; default 10s).")
    var jwksMinRefresh: String?
    @Option(
        name: .customLong("jwks-max-stale"),
        help: "How long keys are kept while the Issuer is unreachable (RESOURCE_API_JWKS_MAX_STALE; default 24h)."
    )
    var jwksMaxStale: String?
    @Option(name: .customLong("revocation-poll"), help: "Revocation feed poll interval (RESOURCE_API_REVOCATION_POLL; default 2s).")
    var revocationPoll: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical (RESOURCE_API_LOG_LEVEL; default info).")
    var logLevel: String?
    @Option(name: .customLong("log-format"), help: "text or json (RESOURCE_API_LOG_FORMAT; default text).") var logFormat: String?
    @Option(
        name: .customLong("fast-path"),
        help: "on: the hot routes are answered on the event loop; off: every request through the router (RESOURCE_API_FAST_PATH; default on)."
    )
    var fastPath: String?
    @OptionGroup var connections: ConnectionOptions

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve HTTPS, with --tls-key (RESOURCE_API_TLS_CERT; re-read on SIGHUP).")
    var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert, mode 0600 (RESOURCE_API_TLS_KEY; re-read on SIGHUP).")
    var tlsKey: String?
    @Option(
        name: .customLong("issuer-ca-file"),
        help: "PEM CAs an https Issuer must chain to, instead of the system's (RESOURCE_API_ISSUER_CA_FILE)."
    )
    var issuerCAFile: String?
    @Flag(
        name: .customLong("allow-http-issuer"),
        help: "Allow plain http to an Issuer that is not on loopback (RESOURCE_API_ALLOW_HTTP_ISSUER=true)."
    )
    var allowHTTPIssuer = false

    @Argument(help: "serve (the default and only command).") var command: String?

    public init() {}

    /// Entry point for `main.swift` (the async `main()` is not picked from top-level code).
    public static func start(arguments: [String]? = nil) async {
        Self.limitMallocArenas()
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    /// glibc gives each thread that allocates (event loops, curl workers, Swift
    /// concurrency) an arena of its own, up to 8 per core, and keeps what they free. Two
    /// arenas hold the resident size after load about 2 MB lower, with no change in
    /// throughput measured (bench/RESULTS.md). `MALLOC_ARENA_MAX` in the environment wins.
    ///
    /// A fixed mmap threshold: by default glibc raises it to the size of any mapped block
    /// freed, so after the verified-token cache drops its old generation (a dictionary of
    /// about a megabyte) the next ones come from the heap and stay resident; the resident
    /// size then swung by about 5 MB during a soak. `MALLOC_MMAP_THRESHOLD_` wins.
    static func limitMallocArenas() {
        #if canImport(Glibc)
        if getenv("MALLOC_ARENA_MAX") == nil { mallopt(M_ARENA_MAX, 2) }
        if getenv("MALLOC_MMAP_THRESHOLD_") == nil { mallopt(M_MMAP_THRESHOLD, 256 * 1024) }
        #endif
    }

    public func run() async throws {
        let configuration = try ConfigurationError.reporting(command: "resource-api") {
            () throws(ConfigurationError) -> ResourceAPIConfiguration in
            if let command = self.command, command != "serve" {
                throw ConfigurationError(option: "command", value: command, isNot: "serve, the ResourceAPI's only command")
            }
            return try self.resolve(environment: ProcessInfo.processInfo.environment)
        }

        let logger = configuration.logging.bootstrap(label: "resource-api")

        let metrics = ResourceAPIMetrics(registry: PrometheusCollectorRegistry())
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))

        // SIGHUP re-reads the TLS certificate and key, and never terminates (HTTPS only).
        var hangups: UnixSignalsSequence?
        if configuration.tls != nil {
            signal(SIGHUP, SIG_IGN)
            hangups = await UnixSignalsSequence(trapping: .sighup)
        }
        let api = ResourceAPI(configuration: configuration, logger: logger, metrics: metrics)
        let tls = try ConfigurationError.reporting(command: "resource-api") { () throws(ConfigurationError) -> ServerTLSContext? in
            try configuration.tls.map { files throws(ConfigurationError) in try ServerTLSContext(files: files) }
        }
        let app = api.makeApplication(tls: tls, hangups: hangups) { port in
            logger.info(
                "resource-api listening",
                metadata: [
                    "host": "\(configuration.host)", "port": .stringConvertible(port),
                    "scheme": .string(configuration.tls == nil ? "http" : "https"),
                ]
            )
        }
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    /// Flag, else `RESOURCE_API_*` variable, else default; every value checked.
    func resolve(environment: [String: String]) throws(ConfigurationError) -> ResourceAPIConfiguration {
        let resolver = OptionResolver(environmentPrefix: "RESOURCE_API_", environment: environment)
        var configuration = ResourceAPIConfiguration()
        configuration.host = try resolver.host("host", self.host) ?? configuration.host
        configuration.port = try resolver.port("port", self.port) ?? configuration.port
        configuration.issuerURL = try resolver.httpURL("issuer-url", self.issuerURL) ?? configuration.issuerURL
        configuration.jwksURL = try resolver.httpURL("jwks-url", self.jwksURL) ?? configuration.jwksURL
        configuration.expectedIssuer = try resolver.word("expected-issuer", self.expectedIssuer) ?? configuration.expectedIssuer
        configuration.audience = try resolver.word("audience", self.audience) ?? configuration.audience
        configuration.leeway = try resolver.duration("leeway", self.leeway, .nonNegative) ?? configuration.leeway
        configuration.jwksMinRefresh = try resolver.duration("jwks-min-refresh", self.jwksMinRefresh, .positive) ?? configuration.jwksMinRefresh
        configuration.jwksMaxStale = try resolver.duration("jwks-max-stale", self.jwksMaxStale, .positive) ?? configuration.jwksMaxStale
        configuration.revocationPoll = try resolver.duration("revocation-poll", self.revocationPoll, .positive) ?? configuration.revocationPoll
        configuration.fastPath = try resolver.choice("fast-path", self.fastPath, as: OnOff.self)?.isOn ?? configuration.fastPath
        try configuration.limits.resolveConnections(resolver, self.connections)
        let logging = try resolver.logging(level: self.logLevel, format: self.logFormat)
        configuration.logLevel = logging.level
        configuration.logFormat = logging.format
        configuration.tls = try resolver.tlsFiles(certificate: self.tlsCert, key: self.tlsKey)
        configuration.issuerCAFile = try resolver.caFile("issuer-ca-file", self.issuerCAFile)
        configuration.allowHTTPIssuer = resolver.isOn("allow-http-issuer", self.allowHTTPIssuer)
        // Plain HTTP to a remote Issuer is a choice made in the open, never a default.
        if !configuration.allowHTTPIssuer {
            let urls: [(option: String, url: String?)] = [("issuer-url", configuration.issuerURL), ("jwks-url", configuration.jwksURL)]
            for (option, url) in urls {
                guard let url, LoopbackHost.isRemotePlainHTTP(url) else { continue }
                let source = resolver.given(option, option == "issuer-url" ? self.issuerURL : self.jwksURL)?.source ?? "--\(option)"
                throw ConfigurationError(
                    option: "--\(option)",
                    source: source,
                    problem: "'\(url)' is plain http to a host that is not loopback; use https, or set --allow-http-issuer "
                        + "(RESOURCE_API_ALLOW_HTTP_ISSUER=true) to accept it"
                )
            }
        }
        return configuration
    }
}
