import HTTPEdge
import Prometheus

/// The ResourceAPI's metrics, on a registry of its own so several instances (tests, the
/// end-to-end suite) never share counters through global state. Every family has `# HELP`.
public final class ResourceAPIMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// `http_server_requests_total` and `http_server_request_duration_seconds`, both paths.
    public let requests: RequestMetrics

    let keysKnown: Gauge
    let jwksAgeSeconds: Gauge
    let revocationsHeld: Gauge
    let keysSkipped: Counter
    private let verifications: [String: Counter]

    static let verificationOutcomes = [
        "valid", "cached", "invalid_token", "invalid_request", "missing", "unavailable", "revoked", "insufficient_scope",
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.requests = RequestMetrics(registry: registry)
        self.keysKnown = registry.makeGauge(
            descriptor: .init(metricName: "resource_api_jwks", unitName: "keys", helpText: "Usable keys in the JWK Set cache.")
        )
        self.jwksAgeSeconds = registry.makeGauge(
            descriptor: .init(metricName: "resource_api_jwks_age", unitName: "seconds", helpText: "Time since the last good JWK Set fetch.")
        )
        self.revocationsHeld = registry.makeGauge(
            descriptor: .init(metricName: "resource_api_revocations", unitName: "held", helpText: "Revoked token ids held from the Issuer's feed.")
        )
        self.keysSkipped = registry.makeCounter(
            descriptor: .init(metricName: "resource_api_jwks_keys_skipped", unitName: "total", helpText: "JWK Set entries skipped as unusable.")
        )
        var verifications: [String: Counter] = [:]
        for outcome in Self.verificationOutcomes {
            verifications[outcome] = registry.makeCounter(
                descriptor: .init(metricName: "resource_api_verifications", unitName: "total", helpText: "Bearer token checks by outcome."),
                labels: [("outcome", outcome)]
            )
        }
        self.verifications = verifications
    }

    /// `outcome`: `valid`, `cached`, `invalid_token`, `invalid_request`, `missing`, `unavailable`, `revoked`, `insufficient_scope`.
    func verification(_ outcome: String) {
        self.verifications[outcome]?.increment()
    }

    /// `kind`: `jwks`, `discovery`, `revocations`; `result`: `ok`, `not_modified`, `error`, `refused`.
    func fetch(_ kind: String, result: String) {
        self.registry.makeCounter(
            descriptor: .init(metricName: "resource_api_fetches", unitName: "total", helpText: "Fetches from the Issuer by kind and result."),
            labels: [("kind", kind), ("result", result)]
        ).increment()
    }

    /// Prometheus text format of everything registered.
    public func render() -> [UInt8] {
        self.registry.emitToBuffer()
    }
}
