import HTTPEdge
import Prometheus

/// The Issuer's own counters on /metrics, each family with `# HELP`.
struct IssuerMetrics: Sendable {
    let tokensIssued: @Sendable (_ grant: String) -> Void
    let loginFailures: Counter
    let rateLimited: Counter
    let refreshReuse: Counter
    /// Refreshes by where they were committed (see `RefreshCommitMetrics`).
    let refreshCommits: RefreshCommitMetrics
    /// `http_server_requests_total` and `http_server_request_duration_seconds`, both paths.
    let requests: RequestMetrics

    init(registry: PrometheusCollectorRegistry) {
        let issued = MetricNameDescriptor(metricName: "issuer_tokens_issued", unitName: "total", helpText: "Access tokens signed, by grant.")
        // The grants the Issuer has, made once (the registry would look the label up again
        // on every token otherwise).
        let known = Dictionary(
            uniqueKeysWithValues: ["login", "refresh_token", "client_credentials"].map { grant in
                (grant, registry.makeCounter(descriptor: issued, labels: [("grant", grant)]))
            }
        )
        self.tokensIssued = { grant in
            let other = MetricNameDescriptor(metricName: "issuer_tokens_issued", unitName: "total", helpText: "Access tokens signed, by grant.")
            (known[grant] ?? registry.makeCounter(descriptor: other, labels: [("grant", grant)])).increment()
        }
        self.loginFailures = registry.makeCounter(
            descriptor: .init(metricName: "issuer_login_failures", unitName: "total", helpText: "Failed logins and client authentications.")
        )
        self.rateLimited = registry.makeCounter(
            descriptor: .init(metricName: "issuer_login_rate_limited", unitName: "total", helpText: "Logins refused with 429 while locked.")
        )
        self.refreshReuse = registry.makeCounter(
            descriptor: .init(
                metricName: "issuer_refresh_reuse_detected",
                unitName: "total",
                helpText: "Replayed refresh tokens (their session is revoked)."
            )
        )
        self.refreshCommits = RefreshCommitMetrics(registry: registry)
        self.requests = RequestMetrics(registry: registry)
    }
}
