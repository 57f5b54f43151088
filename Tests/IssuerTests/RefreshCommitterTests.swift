import Foundation
import GRDB
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import Synchronization
import Testing

@testable import IssuerCore

/// `EventLoopRefreshCommitter` (SQLite): the refreshes of one event-loop tick share one
/// transaction on the loop; a busy database sends them to the waiting path, which still
/// answers; calls from off the loop hop onto it. On real SQLite files.
@Suite struct RefreshCommitterTests {
    static let now: Double = 1_800_000_000
    static let loops = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    /// A store with `count` live sessions of alice (tokens `old-0`...), its committer, and
    /// the registry its counters are in.
    struct Fixture {
        let directory: TempDirectory
        let store: SQLiteIssuerStore
        let committer: any RefreshCommitter
        let registry: PrometheusCollectorRegistry

        init(sessions count: Int) async throws {
            directory = try TempDirectory()
            store = try SQLiteIssuerStore(path: directory.database)
            registry = PrometheusCollectorRegistry()
            committer = store.makeCommitter(metrics: RefreshCommitMetrics(registry: registry))
            try await store.addUser(UserRecord(name: "alice", passwordHash: "h", roles: ["user"], createdAt: RefreshCommitterTests.now))
            for index in 0..<count {
                try await store.storeRefreshToken(
                    hash: "old-\(index)",
                    grant: RefreshCommitterTests.grant(index),
                    parent: nil,
                    expiresAt: RefreshCommitterTests.now + 100,
                    now: RefreshCommitterTests.now
                )
            }
        }

        /// A counter's value in the registry's exposition ("name{labels}" as written there).
        func counter(_ series: String) -> Int {
            let prefix = series + " "
            let line = registry.emitToString().split(separator: "\n").first { $0.hasPrefix(prefix) }
            return line.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
        }

        var onEventLoop: Int { counter(#"issuer_refresh_commits_total{path="event_loop"}"#) }
        var waited: Int { counter(#"issuer_refresh_commits_total{path="waited"}"#) }
        var transactions: Int { counter("issuer_refresh_event_loop_transactions_total") }
    }

    static func grant(_ index: Int) -> RefreshGrant {
        RefreshGrant(family: "fam-\(index)", subject: "alice", clientID: "login", scope: "api", roles: ["user"])
    }

    static func request(_ old: String, _ new: String) -> RefreshRequest {
        RefreshRequest(
            oldHash: old,
            newHash: new,
            newExpiresAt: now + 100,
            now: now,
            accessTokenID: "jti-" + new,
            accessExpiresAt: Int64(now) + 300,
            currentRolesClientID: "login"
        )
    }

    /// Submitted in one tick of one loop (one task on it): one transaction for all, each
    /// answered as on its own, the replay in the same batch included.
    @Test func oneTickSharesOneTransaction() async throws {
        let fixture = try await Fixture(sessions: 8)
        let loop = Self.loops.next()
        let committer = fixture.committer
        let futures = try await loop.submit {
            var futures = (0..<8).map { committer.commit(Self.request("old-\($0)", "new-\($0)"), on: loop) }
            // A racing duplicate of the first, in the same batch: after it, a replay.
            futures.append(committer.commit(Self.request("old-0", "dup-0"), on: loop))
            return futures
        }.get()
        var results: [RefreshResult] = []
        for future in futures { results.append(try await future.get()) }
        #expect(Array(results.prefix(8)) == (0..<8).map { .rotated(Self.grant($0)) })
        #expect(results[8] == .reused(family: "fam-0"))
        #expect(fixture.onEventLoop == 9)
        #expect(fixture.transactions == 1)
        #expect(fixture.waited == 0)
        // Committed: the access tokens are recorded, the replayed family is revoked.
        #expect(try await fixture.store.family(ofAccessToken: "jti-new-3") == "fam-3")
        #expect(try await fixture.store.refresh(Self.request("new-0", "after-0")) == .invalid)
        #expect(try await fixture.store.refresh(Self.request("new-1", "after-1")) == .rotated(Self.grant(1)))
    }

    /// From off the loop (here, a Swift task): the commit hops onto the loop asked for, and
    /// the future completes there.
    @Test func callsFromOffTheLoopAreAnsweredOnIt() async throws {
        let fixture = try await Fixture(sessions: 3)
        let loop = Self.loops.next()
        for index in 0..<3 {
            let future = fixture.committer.commit(Self.request("old-\(index)", "new-\(index)"), on: loop)
            #expect(future.eventLoop === loop)
            let onLoop = future.map { result in (result, loop.inEventLoop) }
            let (result, wasOnLoop) = try await onLoop.get()
            #expect(result == .rotated(Self.grant(index)))
            #expect(wasOnLoop)
        }
        #expect(fixture.onEventLoop == 3)
    }

    /// Another connection holds the write lock: the batch is not committed on the loop
    /// (which never waits) but handed to the waiting path, and the loop stays free
    /// meanwhile; once the lock goes, every refresh is answered, each as on its own.
    @Test func busyDatabaseFallsBackToWaitingAndStillAnswers() async throws {
        let fixture = try await Fixture(sessions: 4)
        let blocker = try DatabaseQueue(path: fixture.directory.database)
        let locked = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let blockerError = Mutex<String?>(nil)
        Thread {
            do {
                try blocker.writeWithoutTransaction { db in
                    try db.execute(sql: "BEGIN IMMEDIATE")
                    locked.signal()
                    release.wait()
                    try db.execute(sql: "COMMIT")
                }
            } catch {
                blockerError.withLock { $0 = "\(error)" }
                locked.signal()
            }
        }.start()
        locked.wait()
        let loop = Self.loops.next()
        let committer = fixture.committer
        let futures = try await loop.submit {
            (0..<3).map { committer.commit(Self.request("old-\($0)", "new-\($0)"), on: loop) }
                + [committer.commit(Self.request("old-0", "dup-0"), on: loop)]
        }.get()
        // Polled: the batch's commit runs in the next task of the loop.
        for _ in 0..<400 where fixture.waited < 4 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(fixture.waited == 4)
        #expect(fixture.onEventLoop == 0)
        // The loop is not held by the waiting refreshes.
        #expect(try await loop.submit { 42 }.get() == 42)
        release.signal()
        var results: [RefreshResult] = []
        for future in futures { results.append(try await future.get()) }
        #expect(blockerError.withLock { $0 } == nil)
        // Each in a transaction of its own, in whatever order the writer queue took them:
        // the three distinct tokens rotate; of the two on old-0 one rotates and one is a replay.
        #expect(results[1] == .rotated(Self.grant(1)))
        #expect(results[2] == .rotated(Self.grant(2)))
        let onToken0 = [results[0], results[3]]
        #expect(onToken0.filter { $0 == .rotated(Self.grant(0)) }.count == 1)
        #expect(onToken0.filter { $0 == .reused(family: "fam-0") }.count == 1)
        // Not busy any more: back on the loop.
        #expect(try await committer.commit(Self.request("old-3", "new-3"), on: loop).get() == .rotated(Self.grant(3)))
        #expect(fixture.onEventLoop == 1)
        #expect(fixture.transactions == 1)
    }

    /// The waiting committer works for SQLite too (any store), on or off the loop.
    @Test func waitingCommitterOnSQLite() async throws {
        let fixture = try await Fixture(sessions: 2)
        let registry = PrometheusCollectorRegistry()
        let waiting = WaitingRefreshCommitter(store: fixture.store, metrics: RefreshCommitMetrics(registry: registry))
        let loop = Self.loops.next()
        #expect(try await waiting.commit(Self.request("old-0", "new-0"), on: loop).get() == .rotated(Self.grant(0)))
        let fromLoop = try await loop.flatSubmit { waiting.commit(Self.request("old-1", "new-1"), on: loop) }.get()
        #expect(fromLoop == .rotated(Self.grant(1)))
        #expect(registry.emitToString().contains(#"issuer_refresh_commits_total{path="waited"} 2"#))
    }
}
