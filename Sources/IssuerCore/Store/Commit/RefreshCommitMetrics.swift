import Prometheus

/// `issuer_refresh_commits_total{path}`: refreshes committed by a `RefreshCommitter`, by
/// where. `event_loop`: on the event loop, in the never-waiting group commit (SQLite);
/// `waited`: off the event loop by the store's own `refresh`, after waiting for the
/// database if need be (SQLite when it was busy; every refresh on other stores).
/// `issuer_refresh_event_loop_transactions_total`: the transactions the `event_loop` ones
/// shared (refreshes per transaction: the group commit's batch size).
public struct RefreshCommitMetrics: Sendable {
    public let onEventLoop: Counter
    public let waited: Counter
    public let eventLoopTransactions: Counter

    public init(registry: PrometheusCollectorRegistry) {
        let commits = MetricNameDescriptor(
            metricName: "issuer_refresh_commits",
            unitName: "total",
            helpText: "Refresh rotations committed, by where the commit ran."
        )
        self.onEventLoop = registry.makeCounter(descriptor: commits, labels: [("path", "event_loop")])
        self.waited = registry.makeCounter(descriptor: commits, labels: [("path", "waited")])
        self.eventLoopTransactions = registry.makeCounter(
            descriptor: .init(
                metricName: "issuer_refresh_event_loop_transactions",
                unitName: "total",
                helpText: "Transactions the event-loop group commits shared."
            )
        )
    }
}
