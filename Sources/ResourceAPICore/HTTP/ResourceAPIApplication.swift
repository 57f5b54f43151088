import Hummingbird
import Logging

/// Builds the ResourceAPI application, for `resource-api serve` and for in-process tests
/// (port 0; the chosen port reaches `onServerRunning`).
public func makeResourceAPIApplication(
    configuration: ResourceAPIConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    ResourceAPI(configuration: configuration, logger: logger).makeApplication(onServerRunning: onServerRunning)
}
