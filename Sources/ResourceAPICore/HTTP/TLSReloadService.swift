import HTTPEdge
import Logging
import ServiceLifecycle
import UnixSignals

/// Re-reads the TLS certificate and key on every `SIGHUP` (`ServerTLSContext.reload`):
/// new connections get the renewed pair, open ones keep theirs.
struct TLSReloadService: Service, CustomStringConvertible {
    let tls: ServerTLSContext?
    /// SIGHUP (swift-service-lifecycle's `UnixSignals`); nil when not handled (tests, HTTP).
    let hangups: UnixSignalsSequence?
    let logger: Logger

    var description: String { "TLSReloadService" }

    func run() async throws {
        guard let tls = self.tls, let hangups = self.hangups else {
            try? await gracefulShutdown()
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Ends when the group is cancelled (the sequence's iterator is cancellable).
                for await _ in hangups {
                    self.logger.info("SIGHUP: reloading the TLS certificate and key")
                    tls.reload(logger: self.logger)
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}
