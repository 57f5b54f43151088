import CurlClient
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Polls `<issuer-url>/revocations?after=<cursor>` every `--revocation-poll`: revoked
/// `jti`s go to the `RevocationList`, `retired_kids` straight out of the key cache.
public final class RevocationPoller: Service, Sendable {
    let configuration: ResourceAPIConfiguration
    let client: CurlClient
    let list: RevocationList
    let keys: JWKSCache
    let metrics: ResourceAPIMetrics
    let logger: Logger
    private let failing = Mutex(false)

    init(
        configuration: ResourceAPIConfiguration,
        client: CurlClient,
        list: RevocationList,
        keys: JWKSCache,
        metrics: ResourceAPIMetrics,
        logger: Logger
    ) {
        self.configuration = configuration
        self.client = client
        self.list = list
        self.keys = keys
        self.metrics = metrics
        self.logger = logger
    }

    private struct Feed: Decodable {
        struct Entry: Decodable {
            var jti: String
            var exp: Double
        }

        var cursor: Int?
        var revoked: [Entry]?
        var retired_kids: [String]?
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    await self.pollOnce()
                    try await Task.sleep(for: self.configuration.revocationPoll)
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }

    /// One request to the feed; failures are logged (once per outage) and retried at the next tick.
    func pollOnce() async {
        var url = Discovery.trimmingSlash(self.configuration.issuerURL) + "/revocations"
        if let cursor = self.list.cursor { url += "?after=\(cursor)" }
        do {
            let response = try await self.client.get(
                url,
                headers: [("Accept", "application/json")],
                options: self.configuration.fetchOptions(maxBodyBytes: 8 << 20)
            )
            guard response.status == 200 else {
                throw FetchFailure(description: "HTTP status \(response.status)")
            }
            let feed: Feed
            do {
                feed = try JSONDecoder().decode(Feed.self, from: Data(response.body))
            } catch {
                throw FetchFailure(description: "not a revocation feed")
            }
            if let retired = feed.retired_kids, !retired.isEmpty {
                self.keys.retire(retired)
            }
            let revoked = (feed.revoked ?? []).compactMap { entry -> (jti: String, exp: Int64)? in
                guard entry.exp.isFinite, entry.exp >= 0, entry.exp < 1e13 else { return nil }
                return (entry.jti, Int64(entry.exp))
            }
            let held = self.list.apply(cursor: feed.cursor, revoked: revoked, now: self.configuration.clock())
            self.metrics.revocationsHeld.set(Double(held))
            self.metrics.fetch("revocations", result: "ok")
            if self.failing.withLock({
                let was = $0
                $0 = false
                return was
            }) {
                self.logger.info("revocation feed reachable again")
            }
        } catch let error as CurlError where error == .cancelled {
            return  // shutting down
        } catch {
            self.metrics.fetch("revocations", result: "error")
            if !self.failing.withLock({
                let was = $0
                $0 = true
                return was
            }) {
                self.logger.warning("revocation feed unreachable", metadata: ["url": "\(url)", "error": "\(error)"])
            }
        }
    }
}
