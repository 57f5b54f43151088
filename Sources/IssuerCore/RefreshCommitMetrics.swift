import Metrics

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

    public init(factory: any MetricsFactory) {
        self.onEventLoop = Counter(label: "issuer_refresh_commits_total", dimensions: [("path", "event_loop")], factory: factory)
        self.waited = Counter(label: "issuer_refresh_commits_total", dimensions: [("path", "waited")], factory: factory)
        self.eventLoopTransactions = Counter(label: "issuer_refresh_event_loop_transactions_total", factory: factory)
    }
}
