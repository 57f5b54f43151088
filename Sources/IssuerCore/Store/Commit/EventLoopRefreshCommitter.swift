import NIOCore
import Synchronization

/// SQLite's committer: the refreshes of one event loop that arrive in the same tick are
/// committed together, in one transaction, on that event loop, through the store's
/// never-waiting connection (`SQLiteIssuerStore.commitWithoutWaiting`, see
/// `ImmediateRefreshWriter`): CPU work on cached pages, no fsync, no lock wait. When the
/// database is busy (a login, the CLI, the purge, a checkpoint hold the write lock) or
/// the shared commit failed, each refresh of the batch instead waits for
/// `SQLiteIssuerStore.refresh` off the event loop, in a transaction of its own (an error
/// stays its request's), and is answered back on its loop.
final class EventLoopRefreshCommitter: RefreshCommitter {
    private let store: SQLiteIssuerStore
    private let metrics: RefreshCommitMetrics
    /// One batch per event loop, made on first use.
    private let batches = Mutex<[ObjectIdentifier: NIOLoopBound<EventLoopRefreshBatch>]>([:])

    init(store: SQLiteIssuerStore, metrics: RefreshCommitMetrics) {
        self.store = store
        self.metrics = metrics
    }

    func commit(_ request: RefreshRequest, on eventLoop: any EventLoop) -> EventLoopFuture<RefreshResult> {
        let promise = eventLoop.makePromise(of: RefreshResult.self)
        if eventLoop.inEventLoop {
            self.batch(on: eventLoop).submit(request, promise)
        } else {
            eventLoop.execute { self.batch(on: eventLoop).submit(request, promise) }
        }
        return promise.futureResult
    }

    /// Call on `eventLoop`.
    private func batch(on eventLoop: any EventLoop) -> EventLoopRefreshBatch {
        let bound = self.batches.withLock { table in
            let key = ObjectIdentifier(eventLoop)
            if let found = table[key] { return found }
            let made = NIOLoopBound(
                EventLoopRefreshBatch(eventLoop: eventLoop, store: self.store, metrics: self.metrics),
                eventLoop: eventLoop
            )
            table[key] = made
            return made
        }
        return bound.value
    }
}

/// Refreshes of one event loop waiting for their commit. The first of a tick schedules
/// the commit as a task of the same loop, which NIO runs after it has handled every read
/// (and every task) already queued; so the refreshes that arrive together share one
/// transaction (group commit), and each is answered after the commit that holds it.
///
/// Not Sendable: it lives on its event loop (see `EventLoopRefreshCommitter`).
final class EventLoopRefreshBatch {
    private let eventLoop: any EventLoop
    private let store: SQLiteIssuerStore
    private let metrics: RefreshCommitMetrics
    private var pending: [(request: RefreshRequest, promise: EventLoopPromise<RefreshResult>)] = []

    init(eventLoop: any EventLoop, store: SQLiteIssuerStore, metrics: RefreshCommitMetrics) {
        self.eventLoop = eventLoop
        self.store = store
        self.metrics = metrics
    }

    func submit(_ request: RefreshRequest, _ promise: EventLoopPromise<RefreshResult>) {
        self.eventLoop.preconditionInEventLoop()
        self.pending.append((request, promise))
        if self.pending.count == 1 {
            self.eventLoop.assumeIsolated().execute { self.commit() }
        }
    }

    private func commit() {
        let batch = self.pending
        self.pending.removeAll(keepingCapacity: true)
        if let results = self.store.commitWithoutWaiting(batch.map(\.request)) {
            self.metrics.onEventLoop.increment(by: Int64(batch.count))
            self.metrics.eventLoopTransactions.increment()
            for (waiter, result) in zip(batch, results) { waiter.promise.completeWith(result) }
            return
        }
        self.metrics.waited.increment(by: Int64(batch.count))
        // Busy, or an error: each in a transaction of its own, after waiting for the lock
        // on GRDB's writer queue (no event loop, no thread of the concurrency pool waits).
        for waiter in batch {
            let store = self.store
            let request = waiter.request
            waiter.promise.completeWithTask { try await store.refresh(request) }
        }
    }
}

extension SQLiteIssuerStore {
    /// The event-loop group commit (`EventLoopRefreshCommitter`).
    public func makeCommitter(metrics: RefreshCommitMetrics) -> any RefreshCommitter {
        EventLoopRefreshCommitter(store: self, metrics: metrics)
    }
}
