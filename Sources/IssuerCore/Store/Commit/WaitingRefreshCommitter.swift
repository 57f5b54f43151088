import NIOCore

/// Commits each refresh through `IssuerStore.refresh`, in a task off the event loop: the
/// store may wait (for the PostgreSQL pool, for SQLite's write lock) without holding an
/// event loop. Works with any store; answered on the event loop asked for.
struct WaitingRefreshCommitter: RefreshCommitter {
    let store: any IssuerStore
    let metrics: RefreshCommitMetrics

    func commit(_ request: RefreshRequest, on eventLoop: any EventLoop) -> EventLoopFuture<RefreshResult> {
        let promise = eventLoop.makePromise(of: RefreshResult.self)
        let store = self.store
        self.metrics.waited.increment()
        promise.completeWithTask { try await store.refresh(request) }
        return promise.futureResult
    }
}
