import NIOCore
import Synchronization

// TEMPORARY: replaced by the committer of the store redesign when it merges.

/// Commits refreshes for both HTTP paths.
protocol RefreshCommitter: Sendable {
    /// Commits one refresh; the future completes on `eventLoop`.
    func commit(_ request: RefreshRequest, on eventLoop: any EventLoop) -> EventLoopFuture<RefreshResult>
}

/// Any store: the commit runs off the event loop.
struct WaitingRefreshCommitter: RefreshCommitter {
    let store: any IssuerStore

    func commit(_ request: RefreshRequest, on eventLoop: any EventLoop) -> EventLoopFuture<RefreshResult> {
        let store = self.store
        let promise = eventLoop.makePromise(of: RefreshResult.self)
        promise.completeWithTask { try await store.refresh(request) }
        return promise.futureResult
    }
}

/// SQLite: the refreshes of one event-loop tick committed together on the loop.
struct EventLoopRefreshCommitter: RefreshCommitter {
    let store: SQLiteIssuerStore
    let metrics: IssuerMetrics
    let batchers = EventLoopRefreshBatchers()

    func commit(_ request: RefreshRequest, on eventLoop: any EventLoop) -> EventLoopFuture<RefreshResult> {
        guard eventLoop.inEventLoop else {
            return eventLoop.flatSubmit { self.commit(request, on: eventLoop) }
        }
        let promise = eventLoop.makePromise(of: RefreshResult.self)
        self.batchers.batcher(on: eventLoop, store: self.store, metrics: self.metrics).submit(request) { result in
            promise.completeWith(result)
        }
        return promise.futureResult
    }
}

enum RefreshCommitters {
    static func make(store: any IssuerStore, metrics: IssuerMetrics) -> any RefreshCommitter {
        if let sqlite = store as? SQLiteIssuerStore { return EventLoopRefreshCommitter(store: sqlite, metrics: metrics) }
        return WaitingRefreshCommitter(store: store)
    }
}

/// Refreshes of one event loop waiting for their commit. The first of a tick schedules
/// the commit as a task of the same loop, which NIO runs after it has handled every read
/// of that tick; so the refreshes that arrive together share one transaction (group
/// commit), and each is answered after the commit that holds it.
///
/// Not Sendable: it lives on its event loop (see `EventLoopRefreshBatchers`).
final class EventLoopRefreshBatcher {
    typealias Completion = (Result<RefreshResult, any Error>) -> Void

    private let eventLoop: any EventLoop
    private let store: SQLiteIssuerStore
    private let metrics: IssuerMetrics
    private var pending: [(request: RefreshRequest, completion: Completion)] = []

    init(eventLoop: any EventLoop, store: SQLiteIssuerStore, metrics: IssuerMetrics) {
        self.eventLoop = eventLoop
        self.store = store
        self.metrics = metrics
    }

    func submit(_ request: RefreshRequest, completion: @escaping Completion) {
        eventLoop.preconditionInEventLoop()
        pending.append((request, completion))
        if pending.count == 1 {
            eventLoop.assumeIsolated().execute { self.commit() }
        }
    }

    private func commit() {
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        if let results = store.commitWithoutWaiting(batch.map(\.request)) {
            metrics.fastRefreshesOnEventLoop.increment(by: Int64(batch.count))
            for (waiter, result) in zip(batch, results) { waiter.completion(result) }
            return
        }
        metrics.fastRefreshesWaited.increment(by: Int64(batch.count))
        // Busy, or an error: each in a transaction of its own (an error stays its request's)
        // after waiting for the lock off the event loop; answered back on this loop.
        for waiter in batch {
            let store = self.store
            let request = waiter.request
            let promise = eventLoop.makePromise(of: RefreshResult.self)
            promise.completeWithTask { try await store.refreshAfterWaiting(request) }
            promise.futureResult.assumeIsolated().whenComplete(waiter.completion)
        }
    }
}

/// One batcher per event loop, made on first use.
final class EventLoopRefreshBatchers: Sendable {
    private let batchers = Mutex<[ObjectIdentifier: NIOLoopBound<EventLoopRefreshBatcher>]>([:])

    /// Call on `eventLoop`.
    func batcher(on eventLoop: any EventLoop, store: SQLiteIssuerStore, metrics: IssuerMetrics) -> EventLoopRefreshBatcher {
        let bound = batchers.withLock { table in
            let key = ObjectIdentifier(eventLoop)
            if let found = table[key] { return found }
            let made = NIOLoopBound(
                EventLoopRefreshBatcher(eventLoop: eventLoop, store: store, metrics: metrics), eventLoop: eventLoop
            )
            table[key] = made
            return made
        }
        return bound.value
    }
}

