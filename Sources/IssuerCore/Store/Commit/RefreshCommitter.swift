import NIOCore

/// How the HTTP layer commits a refresh (`IssuerStore.refresh`'s work), from the `/token`
/// fast path on the event loop and from the router alike. Made by the store
/// (`IssuerStore.makeCommitter(metrics:)`): SQLite groups the refreshes of one event-loop
/// tick into one transaction on the event loop (`EventLoopRefreshCommitter`); any other
/// store waits for `refresh` off the event loop (`WaitingRefreshCommitter`).
///
/// `commit` may be called on `eventLoop` or from anywhere else (it hops onto the loop).
public protocol RefreshCommitter: Sendable {
    /// Commits one refresh; the future completes on `eventLoop`.
    func commit(_ request: RefreshRequest, on eventLoop: any EventLoop) -> EventLoopFuture<RefreshResult>
}
