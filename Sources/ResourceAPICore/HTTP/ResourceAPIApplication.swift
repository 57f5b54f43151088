import HTTPEdge
import Hummingbird
import Logging
import ServiceSupport

/// Builds the ResourceAPI application, for `resource-api serve` and for in-process tests
/// (port 0; the chosen port reaches `onServerRunning`). HTTPS when `configuration.tls` is
/// set: a certificate or key that cannot be used throws `ConfigurationError`.
public func makeResourceAPIApplication(
    configuration: ResourceAPIConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let tls = try configuration.tls.map { files throws(ConfigurationError) in try ServerTLSContext(files: files) }
    return ResourceAPI(configuration: configuration, logger: logger).makeApplication(tls: tls, onServerRunning: onServerRunning)
}
