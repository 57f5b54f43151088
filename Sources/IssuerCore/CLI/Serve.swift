import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceSupport
import SharedJWT

public struct Serve: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(abstract: "Run the HTTP server (the default).")
    @OptionGroup var options: IssuerOptions

    public init() {}

    public func run() async throws {
        let configuration = try options.resolveOrExit()
        // SIGHUP means "reload keys", never "terminate", even before the handler is up.
        signal(SIGHUP, SIG_IGN)
        let logger = configuration.logging.bootstrap(label: "issuer")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let app: IssuerApplication
        do {
            app = try await makeIssuerApplication(
                configuration: configuration,
                logger: logger,
                metricsRegistry: registry,
                handleSIGHUP: true
            )
        } catch let error as KeyDirectoryError {
            CLIOutput.error("issuer: \(error.description)")
            throw ExitCode(ConfigurationError.exitStatus)
        } catch let error as ConfigurationError {
            throw error.report(command: "issuer")
        }
        // runService traps SIGTERM and SIGINT: stop accepting, finish in-flight requests, exit 0.
        try await app.runService()
    }
}

// MARK: users
