import ServiceSupport
import ArgumentParser
import CMalloc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import Logging
import Metrics
import Prometheus

/// `resource-api [serve]`: every option is a flag or a `RESOURCE_API_*` variable (flag wins).
public struct ResourceAPICommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "resource-api",
        abstract: "The resource server: verifies the Issuer's access tokens and serves /api."
    )

    @Option(help: "Address to bind (RESOURCE_API_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port to bind (RESOURCE_API_PORT; default 8082).") var port: String?
    @Option(name: .customLong("issuer-url"), help: "Where to discover jwks_uri and poll /revocations (RESOURCE_API_ISSUER_URL; default http://127.0.0.1:8081).")
    var issuerURL: String?
    @Option(name: .customLong("jwks-url"), help: "JWK Set URL; skips discovery (RESOURCE_API_JWKS_URL).") var jwksURL: String?
    @Option(name: .customLong("expected-issuer"), help: "Required iss (RESOURCE_API_EXPECTED_ISSUER; default: the discovered issuer).")
    var expectedIssuer: String?
    @Option(help: "Required aud (RESOURCE_API_AUDIENCE; default resource-api).") var audience: String?
    @Option(help: "Clock skew allowed on exp/nbf/iat (RESOURCE_API_LEEWAY; default 30s).") var leeway: String?
    @Option(name: .customLong("jwks-min-refresh"), help: "Least time between fetches for unknown kids (RESOURCE_API_JWKS_MIN_REFRESH; default 10s).")
    var jwksMinRefresh: String?
    @Option(name: .customLong("jwks-max-stale"), help: "How long keys are kept while the Issuer is unreachable (RESOURCE_API_JWKS_MAX_STALE; default 24h).")
    var jwksMaxStale: String?
    @Option(name: .customLong("revocation-poll"), help: "Revocation feed poll interval (RESOURCE_API_REVOCATION_POLL; default 2s).")
    var revocationPoll: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical (RESOURCE_API_LOG_LEVEL; default info).")
    var logLevel: String?
    @Option(name: .customLong("log-format"), help: "text or json (RESOURCE_API_LOG_FORMAT; default text).") var logFormat: String?

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
        if let command, command != "serve" {
            Self.fail("unknown command '\(command)': the ResourceAPI only has 'serve'")
        }
        let configuration: ResourceAPIConfiguration
        do {
            configuration = try self.resolve(environment: ProcessInfo.processInfo.environment)
        } catch {
            Self.fail(error.description)
        }

        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = switch configuration.logFormat {
            case .text: StreamLogHandler.standardError(label: label)
            case .json: JSONLogHandler(label: label)
            }
            handler.logLevel = configuration.logLevel
            return handler
        }
        let logger = {
            var logger = Logger(label: "resource-api")
            logger.logLevel = configuration.logLevel
            return logger
        }()

        let metrics = ResourceAPIMetrics(registry: PrometheusCollectorRegistry())
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))

        let api = ResourceAPI(configuration: configuration, logger: logger, metrics: metrics)
        let app = api.makeApplication { port in
            logger.info("resource-api listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
        }
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    /// Prints one line naming the problem and exits with status 2, as the contract asks.
    static func fail(_ message: String) -> Never {
        StandardError.write("error: \(message)\nUsage: resource-api [serve] [--option value]... (see --help)\n")
        Glibc.exit(2)
    }

    /// Flag, else environment variable, else default; every value checked.
    func resolve(environment: [String: String]) throws(ConfigurationError) -> ResourceAPIConfiguration {
        var resolver = OptionResolver(environment: environment)
        var configuration = ResourceAPIConfiguration()
        if let value = resolver.value("host", self.host) {
            guard !value.isEmpty else { throw resolver.invalid("host", value, "an address such as 127.0.0.1") }
            configuration.host = value
        }
        if let value = resolver.value("port", self.port) {
            guard let port = Int(value), (0...65535).contains(port) else {
                throw resolver.invalid("port", value, "a port number from 0 to 65535")
            }
            configuration.port = port
        }
        if let value = resolver.value("issuer-url", self.issuerURL) {
            guard OptionResolver.isHTTPURL(value) else { throw resolver.invalid("issuer-url", value, "an http or https URL") }
            configuration.issuerURL = value
        }
        if let value = resolver.value("jwks-url", self.jwksURL) {
            guard OptionResolver.isHTTPURL(value) else { throw resolver.invalid("jwks-url", value, "an http or https URL") }
            configuration.jwksURL = value
        }
        if let value = resolver.value("expected-issuer", self.expectedIssuer) {
            guard !value.isEmpty else { throw resolver.invalid("expected-issuer", value, "the iss value tokens carry") }
            configuration.expectedIssuer = value
        }
        if let value = resolver.value("audience", self.audience) {
            guard !value.isEmpty else { throw resolver.invalid("audience", value, "the aud value tokens carry") }
            configuration.audience = value
        }
        configuration.leeway = try resolver.duration("leeway", self.leeway, default: configuration.leeway, allowZero: true)
        configuration.jwksMinRefresh = try resolver.duration("jwks-min-refresh", self.jwksMinRefresh, default: configuration.jwksMinRefresh)
        configuration.jwksMaxStale = try resolver.duration("jwks-max-stale", self.jwksMaxStale, default: configuration.jwksMaxStale)
        configuration.revocationPoll = try resolver.duration("revocation-poll", self.revocationPoll, default: configuration.revocationPoll)
        if let value = resolver.value("log-level", self.logLevel) {
            guard let level = Logger.Level(rawValue: value.lowercased()) else {
                throw resolver.invalid("log-level", value, "one of trace, debug, info, notice, warning, error, critical")
            }
            configuration.logLevel = level
        }
        if let value = resolver.value("log-format", self.logFormat) {
            guard let format = ResourceAPIConfiguration.LogFormat(rawValue: value.lowercased()) else {
                throw resolver.invalid("log-format", value, "text or json")
            }
            configuration.logFormat = format
        }
        return configuration
    }
}

/// An invalid option; `description` is the one line printed before exiting with 2.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var description: String
}

/// Reads one option from its flag or its `RESOURCE_API_*` variable and remembers which,
/// so an error names what the user actually wrote.
struct OptionResolver {
    let environment: [String: String]
    private var sources: [String: String] = [:]

    init(environment: [String: String]) {
        self.environment = environment
    }

    static func variable(_ option: String) -> String {
        "RESOURCE_API_" + String(option.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    mutating func value(_ option: String, _ flag: String?) -> String? {
        if let flag {
            self.sources[option] = "--\(option)"
            return flag
        }
        // An empty variable counts as unset (compose files often pass `${X:-}`).
        if let value = self.environment[Self.variable(option)], !value.isEmpty {
            self.sources[option] = Self.variable(option)
            return value
        }
        return nil
    }

    func invalid(_ option: String, _ value: String, _ expected: String) -> ConfigurationError {
        let source = self.sources[option] ?? "--\(option)"
        let shown = String(value.prefix(64))
        return ConfigurationError(description: "invalid value '\(shown)' for \(source): expected \(expected)")
    }

    mutating func duration(_ option: String, _ flag: String?, default: Duration, allowZero: Bool = false) throws(ConfigurationError) -> Duration {
        guard let value = self.value(option, flag) else { return `default` }
        guard let duration = DurationText.parse(value), allowZero || duration > .zero else {
            throw self.invalid(option, value, "a duration such as 300, 300s, 5m, 1h or 30d\(allowZero ? "" : " (above zero)")")
        }
        return duration
    }

    static func isHTTPURL(_ value: String) -> Bool {
        guard let components = URLComponents(string: value), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { return false }
        return true
    }
}
