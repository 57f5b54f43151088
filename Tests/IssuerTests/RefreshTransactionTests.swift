import Foundation
import GRDB
import Metrics
import Prometheus
import Testing

@testable import IssuerCore

/// `IssuerStore.refresh`: the whole refresh (rotation, current roles, access-token record)
/// in one store call, one transaction; and the same answers through SQLite's committer.
@Suite struct RefreshTransactionTests {
    static let now: Double = 1_800_000_000

    static func request(_ old: String, _ new: String, jti: String) -> RefreshRequest {
        RefreshRequest(
            oldHash: old,
            newHash: new,
            newExpiresAt: now + 100,
            now: now,
            accessTokenID: jti,
            accessExpiresAt: Int64(now) + 300,
            currentRolesClientID: "login"
        )
    }

    static func exercise(_ store: any IssuerStore, sqlite: SQLiteIssuerStore) async throws {
        try await sqlite.addUser(UserRecord(name: "alice", passwordHash: "h", roles: ["user", "admin"], createdAt: now))
        // The grant was minted with older roles: the rotation picks up the current ones.
        let grant = RefreshGrant(family: "fam-a", subject: "alice", clientID: "login", scope: "api", roles: ["user"])
        try await sqlite.storeRefreshToken(hash: "r0", grant: grant, parent: nil, expiresAt: now + 100, now: now)

        var expected = grant
        expected.roles = ["user", "admin"]
        #expect(try await store.refresh(request("r0", "r1", jti: "j1")) == .rotated(expected))
        // The access token is recorded with its family (what /logout needs).
        #expect(try await sqlite.family(ofAccessToken: "j1") == "fam-a")
        // The successor works once; the used token is a replay that revokes the family.
        #expect(try await store.refresh(request("r1", "r2", jti: "j2")) == .rotated(expected))
        #expect(try await store.refresh(request("r1", "r3", jti: "j3")) == .reused(family: "fam-a"))
        #expect(try await store.refresh(request("r2", "r4", jti: "j4")) == .invalid)
        #expect(try await sqlite.family(ofAccessToken: "j4") == nil)
        #expect(try await store.refresh(request("unknown", "r5", jti: "j5")) == .invalid)

        // A deleted user's session ends at its next refresh.
        try await sqlite.addUser(UserRecord(name: "bob", passwordHash: "h", roles: ["user"], createdAt: now))
        let bob = RefreshGrant(family: "fam-b", subject: "bob", clientID: "login", scope: "api", roles: ["user"])
        try await sqlite.storeRefreshToken(hash: "b0", grant: bob, parent: nil, expiresAt: now + 100, now: now)
        #expect(try await store.refresh(request("b0", "b1", jti: "jb1")) == .rotated(bob))
        _ = try await sqlite.deleteUser(named: "bob")
        try await sqlite.storeRefreshToken(hash: "b9", grant: bob, parent: nil, expiresAt: now + 100, now: now)
        #expect(try await store.refresh(request("b9", "b10", jti: "jb2")) == .userGone)
        #expect(try await store.refresh(request("b10", "b11", jti: "jb3")) == .invalid)

        // Other clients keep the roles of their grant (none for a service client).
        let service = RefreshGrant(family: "fam-s", subject: "svc", clientID: "svc", scope: "api", roles: [])
        try await sqlite.storeRefreshToken(hash: "s0", grant: service, parent: nil, expiresAt: now + 100, now: now)
        #expect(try await store.refresh(request("s0", "s1", jti: "js1")) == .rotated(service))
    }

    static func database() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("refresh-\(UUID().uuidString).sqlite").path
    }

    @Test func sqliteDoesTheRefreshInOneCall() async throws {
        let path = Self.database()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sqlite = try SQLiteIssuerStore(path: path)
        try await Self.exercise(sqlite, sqlite: sqlite)
    }

    @Test func theEventLoopCommitterGivesTheSameAnswers() async throws {
        let path = Self.database()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sqlite = try SQLiteIssuerStore(path: path)
        let committed = CommittedRefreshes(
            base: sqlite,
            committer: EventLoopRefreshCommitter(store: sqlite, metrics: RefreshCommitMetrics(registry: PrometheusCollectorRegistry())),
            eventLoops: CommittedRefreshes.eventLoops
        )
        try await Self.exercise(committed, sqlite: sqlite)
    }
}

/// `commitWithoutWaiting` (the event loops' writer) gives up at once while another
/// connection holds the write lock, commits nothing then, and gives the store's answers.
@Suite struct ImmediateRefreshWriterTests {
    @Test func givesUpWhileAnotherConnectionWritesThenCommits() async throws {
        let directory = try TempDirectory()
        let path = directory.path + "/issuer.sqlite"
        let store = try SQLiteIssuerStore(path: path)
        let now = RefreshTransactionTests.now
        try await store.addUser(UserRecord(name: "alice", passwordHash: "h", roles: ["user"], createdAt: now))
        let grant = RefreshGrant(family: "fam", subject: "alice", clientID: "login", scope: "api", roles: ["user"])
        try await store.storeRefreshToken(hash: "r0", grant: grant, parent: nil, expiresAt: now + 100, now: now)

        let blocker = try DatabaseQueue(path: path)
        try await blocker.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            let started = ContinuousClock.now
            #expect(store.commitWithoutWaiting([RefreshTransactionTests.request("r0", "r1", jti: "j1")]) == nil)
            // At once: with a busy handler it would wait for the lock (the pool's: 10 s).
            #expect(ContinuousClock.now - started < .seconds(5), "\(ContinuousClock.now - started)")
            try db.execute(sql: "COMMIT")
        }
        // Nothing was committed: r0 is still live, and now rotates on the event loops' writer.
        let results = try #require(
            store.commitWithoutWaiting([
                RefreshTransactionTests.request("r0", "r1", jti: "j1"),
                RefreshTransactionTests.request("r0", "r2", jti: "j2"),
                RefreshTransactionTests.request("nope", "r3", jti: "j3"),
            ])
        )
        #expect(try results.map { try $0.get() } == [.rotated(grant), .reused(family: "fam"), .invalid])
        // And the store's own path sees the same database: r1 died with its family.
        #expect(try await store.refresh(RefreshTransactionTests.request("r1", "r4", jti: "j4")) == .invalid)
        // The waiting path commits on its own once the lock is free.
        let grant2 = RefreshGrant(family: "fam2", subject: "alice", clientID: "login", scope: "api", roles: ["user"])
        try await store.storeRefreshToken(hash: "s0", grant: grant2, parent: nil, expiresAt: now + 100, now: now)
        #expect(try await store.refresh(RefreshTransactionTests.request("s0", "s1", jti: "k1")) == .rotated(grant2))
    }
}
