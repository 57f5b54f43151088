import CoreMetrics
import Metrics
import Prometheus

/// The ResourceAPI's own metrics, on a registry of its own so several instances
/// (tests, the end-to-end suite) never share counters through global state.
public final class ResourceAPIMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    let keysKnown: CoreMetrics.Gauge
    let jwksAgeSeconds: CoreMetrics.Gauge
    let revocationsHeld: CoreMetrics.Gauge
    let keysSkipped: CoreMetrics.Counter
    private let verifications: [String: CoreMetrics.Counter]

    static let verificationOutcomes = ["valid", "cached", "invalid_token", "invalid_request", "missing", "unavailable", "revoked", "insufficient_scope"]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
        self.keysKnown = CoreMetrics.Gauge(label: "resource_api_jwks_keys", factory: self.factory)
        self.jwksAgeSeconds = CoreMetrics.Gauge(label: "resource_api_jwks_age_seconds", factory: self.factory)
        self.revocationsHeld = CoreMetrics.Gauge(label: "resource_api_revocations_held", factory: self.factory)
        self.keysSkipped = CoreMetrics.Counter(label: "resource_api_jwks_keys_skipped_total", factory: self.factory)
        var verifications: [String: CoreMetrics.Counter] = [:]
        for outcome in Self.verificationOutcomes {
            verifications[outcome] = CoreMetrics.Counter(label: "resource_api_verifications_total", dimensions: [("outcome", outcome)], factory: self.factory)
        }
        self.verifications = verifications
    }

    /// `outcome`: `valid`, `cached`, `invalid_token`, `invalid_request`, `missing`, `unavailable`, `revoked`, `insufficient_scope`.
    func verification(_ outcome: String) {
        self.verifications[outcome]?.increment()
    }

    /// `kind`: `jwks`, `discovery`, `revocations`; `result`: `ok`, `not_modified`, `error`, `refused`.
    func fetch(_ kind: String, result: String) {
        CoreMetrics.Counter(label: "resource_api_fetches_total", dimensions: [("kind", kind), ("result", result)], factory: self.factory).increment()
    }

    /// Prometheus text format of everything registered.
    public func render() -> [UInt8] {
        self.registry.emitToBuffer()
    }
}
