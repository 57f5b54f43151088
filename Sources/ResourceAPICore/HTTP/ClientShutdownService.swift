import CurlClient
import ServiceLifecycle

/// Waits for shutdown, then stops the ResourceAPI's own curl threads.
struct ClientShutdownService: Service {
    let client: CurlClient?

    func run() async throws {
        try? await gracefulShutdown()
        await self.client?.shutdown()
    }
}
