import Foundation
import HummingbirdTesting
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import Synchronization
import Testing

@testable import IssuerCore

/// The URL of a throwaway PostgreSQL (scripts/postgres-test.sh sets it); the PostgreSQL
/// suites are skipped, with this note, when it is unset.
let postgresTestURL: String? = {
    let value = ProcessInfo.processInfo.environment["ISSUER_TEST_POSTGRES_URL"]
    return (value?.isEmpty ?? true) ? nil : value
}()
let postgresSkipNote: Comment = "ISSUER_TEST_POSTGRES_URL is unset: run scripts/postgres-test.sh for the PostgreSQL tests"

/// A fresh schema on the test server, with its pool running until `stop()`.
final class PostgresTestStore: Sendable {
    let url: String
    let store: PostgresIssuerStore
    private let task: Task<Void, any Error>

    init() async throws {
        guard let base = postgresTestURL else { throw StoreError("no ISSUER_TEST_POSTGRES_URL") }
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        url = base + (base.contains("?") ? "&" : "?") + "schema=" + schema
        let location = try PostgresLocation(url: url)
        try await PostgresIssuerStore.migrate(location: location, logger: testLogger)
        let store = PostgresIssuerStore(location: location, logger: testLogger)
        self.store = store
        task = Task { try await store.run() }
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// What every `IssuerStore` must do, whatever the database: run against each implementation.
enum StoreConformance {
    static let now: Double = 1_800_000_000

    static func grant(_ family: String = "fam-1", subject: String = "alice") -> RefreshGrant {
        RefreshGrant(family: family, subject: subject, clientID: "login", scope: "api", roles: ["user"])
    }

    /// A refresh that keeps the grant's roles (its client is not the one whose sessions
    /// take the user's current roles), so that the rotation alone is under test.
    static func rotation(_ old: String, _ new: String, expiresAt: Double, now: Double) -> RefreshRequest {
        RefreshRequest(
            oldHash: old,
            newHash: new,
            newExpiresAt: expiresAt,
            now: now,
            accessTokenID: "jti-" + new,
            accessExpiresAt: Int64(now) + 300,
            currentRolesClientID: "no-such-client"
        )
    }

    static func usersAndClients(_ store: any IssuerStore) async throws {
        try await store.addUser(UserRecord(name: "bob", passwordHash: "h1", roles: ["user", "admin"], createdAt: now))
        try await store.addUser(UserRecord(name: "alice", passwordHash: "h2", roles: [], createdAt: now))
        await #expect(throws: StoreError.self) {
            try await store.addUser(UserRecord(name: "bob", passwordHash: "x", roles: [], createdAt: now))
        }
        #expect(try await store.user(named: "bob") == UserRecord(name: "bob", passwordHash: "h1", roles: ["user", "admin"], createdAt: now))
        #expect(try await store.user(named: "nobody") == nil)
        #expect(try await store.listUsers().map(\.name) == ["alice", "bob"])

        try await store.storeRefreshToken(hash: "r-bob", grant: grant("fam-bob", subject: "bob"), parent: nil, expiresAt: now + 100, now: now)
        #expect(try await store.deleteUser(named: "bob"))
        #expect(try await !store.deleteUser(named: "bob"))
        // Deleting a user ends their sessions.
        #expect(try await store.refresh(rotation("r-bob", "r-bob-2", expiresAt: now + 200, now: now)) == .invalid)

        try await store.addClient(ClientRecord(id: "svc", secretHash: "s", scopes: ["api", "read"], createdAt: now))
        await #expect(throws: StoreError.self) {
            try await store.addClient(ClientRecord(id: "svc", secretHash: "s", scopes: [], createdAt: now))
        }
        #expect(try await store.client(id: "svc") == ClientRecord(id: "svc", secretHash: "s", scopes: ["api", "read"], createdAt: now))
        #expect(try await store.client(id: "other") == nil)
    }

    static func refreshRotationAndReuse(_ store: any IssuerStore) async throws {
        try await store.storeRefreshToken(hash: "r1", grant: grant(), parent: nil, expiresAt: now + 100, now: now)
        #expect(try await store.refresh(rotation("r1", "r2", expiresAt: now + 200, now: now + 1)) == .rotated(grant()))
        #expect(try await store.refresh(rotation("r2", "r3", expiresAt: now + 300, now: now + 2)) == .rotated(grant()))
        // Replaying r1: the family dies, r3 included.
        #expect(try await store.refresh(rotation("r1", "x", expiresAt: now + 300, now: now + 3)) == .reused(family: "fam-1"))
        #expect(try await store.refresh(rotation("r3", "r4", expiresAt: now + 400, now: now + 4)) == .invalid)
        #expect(try await store.refresh(rotation("unknown", "y", expiresAt: now, now: now)) == .invalid)

        // Expired.
        try await store.storeRefreshToken(hash: "e1", grant: grant("fam-2"), parent: nil, expiresAt: now + 10, now: now)
        #expect(try await store.refresh(rotation("e1", "e2", expiresAt: now + 100, now: now + 10)) == .invalid)

        // Revocation by token and by family.
        try await store.storeRefreshToken(hash: "f1", grant: grant("fam-3"), parent: nil, expiresAt: now + 100, now: now)
        #expect(try await store.revokeFamily(ofTokenHash: "f1") == "fam-3")
        #expect(try await store.revokeFamily(ofTokenHash: "nope") == nil)
        #expect(try await store.refresh(rotation("f1", "f2", expiresAt: now + 100, now: now)) == .invalid)
        try await store.storeRefreshToken(hash: "g1", grant: grant("fam-4"), parent: nil, expiresAt: now + 100, now: now)
        try await store.revokeFamily("fam-4")
        #expect(try await store.refresh(rotation("g1", "g2", expiresAt: now + 100, now: now)) == .invalid)
    }

    /// `refresh` (rotation, current roles, access-token record) in one call.
    static func refreshInOneCall(_ store: any IssuerStore) async throws {
        func request(_ old: String, _ new: String, jti: String) -> RefreshRequest {
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
        try await store.addUser(UserRecord(name: "alice", passwordHash: "h", roles: ["user", "admin"], createdAt: now))
        try await store.storeRefreshToken(hash: "r0", grant: grant("fam-r"), parent: nil, expiresAt: now + 100, now: now)
        var current = grant("fam-r")
        current.roles = ["user", "admin"]
        #expect(try await store.refresh(request("r0", "r1", jti: "j1")) == .rotated(current))
        #expect(try await store.family(ofAccessToken: "j1") == "fam-r")
        #expect(try await store.refresh(request("r0", "r2", jti: "j2")) == .reused(family: "fam-r"))
        #expect(try await store.family(ofAccessToken: "j2") == nil)
        #expect(try await store.refresh(request("r1", "r3", jti: "j3")) == .invalid)
        try await store.storeRefreshToken(hash: "g0", grant: grant("fam-g", subject: "ghost"), parent: nil, expiresAt: now + 100, now: now)
        #expect(try await store.refresh(request("g0", "g1", jti: "jg")) == .userGone)
        #expect(try await store.refresh(request("g1", "g2", jti: "jg2")) == .invalid)
    }

    /// Many concurrent rotations of one token: exactly one wins, and the session ends.
    static func concurrentRotationHasOneWinner(_ store: any IssuerStore) async throws {
        try await store.storeRefreshToken(hash: "c1", grant: grant("fam-c"), parent: nil, expiresAt: now + 100, now: now)
        let outcomes = try await withThrowingTaskGroup(of: RefreshResult.self) { group in
            for index in 0..<16 {
                group.addTask {
                    try await store.refresh(rotation("c1", "c2-\(index)", expiresAt: now + 200, now: now + 1))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .rotated(grant("fam-c")) }.count == 1)
        // The first loser is a replay and kills the family; later ones find it revoked.
        #expect(outcomes.filter { $0 == .reused(family: "fam-c") }.count == 1)
        #expect(outcomes.filter { $0 == .invalid }.count == 14)
        let successors = (0..<16).map { "c2-\($0)" }
        for successor in successors {
            #expect(try await store.refresh(rotation(successor, successor + "-next", expiresAt: now + 300, now: now + 2)) == .invalid)
        }
    }

    static func revocationFeed(_ store: any IssuerStore) async throws {
        let start = try await store.revocations(after: 0, now: now)
        #expect(start.cursor == 0 && start.entries.isEmpty)
        try await store.recordAccessToken(jti: "a1", family: "fam-1", expiresAt: Int64(now) + 100)
        try await store.recordAccessToken(jti: "a1", family: "fam-1", expiresAt: Int64(now) + 100)  // idempotent
        #expect(try await store.family(ofAccessToken: "a1") == "fam-1")
        #expect(try await store.family(ofAccessToken: "zz") == nil)

        try await store.revokeAccessToken(jti: "j1", expiresAt: Int64(now) + 100)
        try await store.revokeAccessToken(jti: "j2", expiresAt: Int64(now) + 10)
        try await store.revokeAccessToken(jti: "j1", expiresAt: Int64(now) + 100)  // once only
        #expect(try await store.isAccessTokenRevoked(jti: "j1"))
        #expect(try await !store.isAccessTokenRevoked(jti: "j3"))
        let all = try await store.revocations(after: 0, now: now)
        #expect(all.entries == [RevocationEntry(jti: "j1", exp: Int64(now) + 100), RevocationEntry(jti: "j2", exp: Int64(now) + 10)])
        #expect(all.cursor == 2)
        let later = try await store.revocations(after: 1, now: now)
        #expect(later.entries.map(\.jti) == ["j2"])
        // Expired entries leave the feed; the cursor stays.
        #expect(try await store.revocations(after: 0, now: now + 20).entries.map(\.jti) == ["j1"])
        try await store.purgeExpired(now: now + 20)
        let purged = try await store.revocations(after: 0, now: now + 20)
        #expect(purged.cursor == 2 && purged.entries.map(\.jti) == ["j1"])
        try await store.revokeAccessToken(jti: "j3", expiresAt: Int64(now) + 100)
        #expect(try await store.revocations(after: 2, now: now + 20) == (3, [RevocationEntry(jti: "j3", exp: Int64(now) + 100)]))
        // A cursor from the future (a reset store) gets the newest one back.
        #expect(try await store.revocations(after: 99, now: now).cursor == 3)
        try await store.ping()
    }

    /// Concurrent feed writers: every entry is seen by a poller that follows the cursor.
    static func concurrentFeedWritersLoseNothing(_ store: any IssuerStore) async throws {
        let seen = SeenSet()
        let writers = 8
        let perWriter = 25
        let writersDone = DoneClock()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingTaskGroup(of: Void.self) { writing in
                    for writer in 0..<writers {
                        writing.addTask {
                            for index in 0..<perWriter {
                                try await store.revokeAccessToken(jti: "w\(writer)-\(index)", expiresAt: Int64(now) + 1000)
                            }
                        }
                    }
                    try await writing.waitForAll()
                }
                writersDone.finish()
            }
            // A poller racing the writers, as a resource server would: until it has seen them
            // all, or 30 s after the last write (a loaded machine may take long to write them;
            // an entry the cursor skipped is never seen, however long it polls).
            group.addTask {
                var cursor: Int64 = 0
                while true {
                    let page = try await store.revocations(after: cursor, now: now)
                    seen.add(page.entries.map(\.jti))
                    cursor = page.cursor
                    if seen.values.count == writers * perWriter { return }
                    if let done = writersDone.finishedAt, ContinuousClock.now > done + .seconds(30) { return }
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            try await group.waitForAll()
        }
        let final = try await store.revocations(after: 0, now: now)
        #expect(final.entries.count == writers * perWriter)
        #expect(final.cursor == Int64(writers * perWriter))
        // The poller only ever moved forward; anything it skipped would be missing here.
        let missing = Set(final.entries.map(\.jti)).subtracting(seen.values)
        #expect(missing.isEmpty, "entries the polling cursor skipped: \(missing.sorted().prefix(5))")
    }
}

/// A store whose `refresh` goes through a `RefreshCommitter` (as the HTTP layer's does),
/// everything else straight to the real store underneath: the conformance checks of the
/// refresh then hold for the committer too.
struct CommittedRefreshes: IssuerStore {
    let base: any IssuerStore
    let committer: any RefreshCommitter
    /// Alternately called on a loop and from off the loops: both must work.
    let eventLoops: any EventLoopGroup

    static let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    static func waiting(_ base: any IssuerStore) -> CommittedRefreshes {
        CommittedRefreshes(
            base: base,
            committer: WaitingRefreshCommitter(store: base, metrics: RefreshCommitMetrics(registry: PrometheusCollectorRegistry())),
            eventLoops: Self.eventLoops
        )
    }

    func refresh(_ request: RefreshRequest) async throws -> RefreshResult {
        let loop = eventLoops.next()
        if Bool.random() {
            return try await committer.commit(request, on: loop).get()
        }
        return try await loop.flatSubmit { committer.commit(request, on: loop) }.get()
    }

    func addUser(_ user: UserRecord) async throws { try await base.addUser(user) }
    func user(named name: String) async throws -> UserRecord? { try await base.user(named: name) }
    func listUsers() async throws -> [UserRecord] { try await base.listUsers() }
    func deleteUser(named name: String) async throws -> Bool { try await base.deleteUser(named: name) }
    func addClient(_ client: ClientRecord) async throws { try await base.addClient(client) }
    func client(id: String) async throws -> ClientRecord? { try await base.client(id: id) }
    func storeRefreshToken(hash: String, grant: RefreshGrant, parent: String?, expiresAt: Double, now: Double) async throws {
        try await base.storeRefreshToken(hash: hash, grant: grant, parent: parent, expiresAt: expiresAt, now: now)
    }
    func revokeFamily(ofTokenHash hash: String) async throws -> String? { try await base.revokeFamily(ofTokenHash: hash) }
    func revokeFamily(_ family: String) async throws { try await base.revokeFamily(family) }
    func recordAccessToken(jti: String, family: String, expiresAt: Int64) async throws {
        try await base.recordAccessToken(jti: jti, family: family, expiresAt: expiresAt)
    }
    func family(ofAccessToken jti: String) async throws -> String? { try await base.family(ofAccessToken: jti) }
    func revokeAccessToken(jti: String, expiresAt: Int64) async throws { try await base.revokeAccessToken(jti: jti, expiresAt: expiresAt) }
    func isAccessTokenRevoked(jti: String) async throws -> Bool { try await base.isAccessTokenRevoked(jti: jti) }
    func revocations(after cursor: Int64, now: Double) async throws -> (cursor: Int64, entries: [RevocationEntry]) {
        try await base.revocations(after: cursor, now: now)
    }
    func purgeExpired(now: Double) async throws { try await base.purgeExpired(now: now) }
    func ping() async throws { try await base.ping() }
}

@Suite("Store conformance: SQLite")
struct SQLiteStoreConformanceTests {
    static func withStore(_ body: (any IssuerStore) async throws -> Void) async throws {
        let directory = try TempDirectory()
        try await body(try SQLiteIssuerStore(path: directory.database))
    }

    @Test func usersAndClients() async throws { try await Self.withStore(StoreConformance.usersAndClients) }
    @Test func refreshRotationAndReuse() async throws { try await Self.withStore(StoreConformance.refreshRotationAndReuse) }
    @Test func concurrentRotationHasOneWinner() async throws { try await Self.withStore(StoreConformance.concurrentRotationHasOneWinner) }
    @Test func refreshInOneCall() async throws { try await Self.withStore(StoreConformance.refreshInOneCall) }
    @Test func revocationFeed() async throws { try await Self.withStore(StoreConformance.revocationFeed) }
    @Test func concurrentFeedWritersLoseNothing() async throws { try await Self.withStore(StoreConformance.concurrentFeedWritersLoseNothing) }

    // The refresh through each committer the HTTP layer may use on this store.
    static func withCommitters(_ body: (any IssuerStore) async throws -> Void) async throws {
        try await Self.withStore { store in try await body(CommittedRefreshes.waiting(store)) }
        try await Self.withStore { store in
            try await body(
                CommittedRefreshes(
                    base: store,
                    committer: store.makeCommitter(metrics: RefreshCommitMetrics(registry: PrometheusCollectorRegistry())),
                    eventLoops: CommittedRefreshes.eventLoops
                )
            )
        }
    }

    @Test func sqliteMakesTheEventLoopCommitter() throws {
        let directory = try TempDirectory()
        let store: any IssuerStore = try SQLiteIssuerStore(path: directory.database)
        #expect(store.makeCommitter(metrics: RefreshCommitMetrics(registry: PrometheusCollectorRegistry())) is EventLoopRefreshCommitter)
    }

    @Test func committersRotateAndDetectReuse() async throws { try await Self.withCommitters(StoreConformance.refreshRotationAndReuse) }
    @Test func committersRefreshInOneCall() async throws { try await Self.withCommitters(StoreConformance.refreshInOneCall) }
    @Test func committersHaveOneWinner() async throws { try await Self.withCommitters(StoreConformance.concurrentRotationHasOneWinner) }
}

@Suite("Store conformance: PostgreSQL", .enabled(if: postgresTestURL != nil, postgresSkipNote))
struct PostgresStoreConformanceTests {
    static func withStore(_ body: (any IssuerStore) async throws -> Void) async throws {
        let database = try await PostgresTestStore()
        do {
            try await body(database.store)
        } catch {
            await database.stop()
            throw error
        }
        await database.stop()
    }

    @Test func usersAndClients() async throws { try await Self.withStore(StoreConformance.usersAndClients) }
    @Test func refreshRotationAndReuse() async throws { try await Self.withStore(StoreConformance.refreshRotationAndReuse) }
    @Test func concurrentRotationHasOneWinner() async throws { try await Self.withStore(StoreConformance.concurrentRotationHasOneWinner) }
    @Test func refreshInOneCall() async throws { try await Self.withStore(StoreConformance.refreshInOneCall) }
    @Test func revocationFeed() async throws { try await Self.withStore(StoreConformance.revocationFeed) }
    @Test func concurrentFeedWritersLoseNothing() async throws { try await Self.withStore(StoreConformance.concurrentFeedWritersLoseNothing) }

    // The refresh through the committer the HTTP layer uses on PostgreSQL.
    @Test func makesTheWaitingCommitter() async throws {
        try await Self.withStore { store in
            #expect(store.makeCommitter(metrics: RefreshCommitMetrics(registry: PrometheusCollectorRegistry())) is WaitingRefreshCommitter)
        }
    }

    @Test func waitingCommitterRotatesAndDetectsReuse() async throws {
        try await Self.withStore { try await StoreConformance.refreshRotationAndReuse(CommittedRefreshes.waiting($0)) }
    }
    @Test func waitingCommitterRefreshInOneCall() async throws {
        try await Self.withStore { try await StoreConformance.refreshInOneCall(CommittedRefreshes.waiting($0)) }
    }
    @Test func waitingCommitterHasOneWinner() async throws {
        try await Self.withStore { try await StoreConformance.concurrentRotationHasOneWinner(CommittedRefreshes.waiting($0)) }
    }

    /// The `/token` fast path and the router on PostgreSQL: both commit through the waiting
    /// committer (counted as `waited`), with the answers of SQLite's.
    @Test func tokenFastPathAndRouterCommitThroughTheWaitingCommitter() async throws {
        let database = try await PostgresTestStore()
        let directory = try TempDirectory()
        var configuration = testConfiguration(directory, clock: ManualClock())
        configuration.storeURL = database.url
        let hash = try await PasswordHasher(cost: configuration.bcryptCost).hash("password1")
        try await database.store.addUser(UserRecord(name: "user1", passwordHash: hash, roles: ["user"], createdAt: configuration.clock()))
        let app = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        try await app.test(.live) { client in
            func waited() async throws -> Int {
                TokenFastPathTests.fastRefreshes(inMetrics: try await client.get("/metrics").text, commit: "waited")
            }
            let before = try await waited()
            let session = try await client.login("user1", "password1")
            let fast = try await client.postForm("/token", TokenFastPathTests.refreshForm(try string(session, "refresh_token")))
            #expect(fast.status == .ok)
            let routed = try await client.postForm(
                "/token?via=router",
                TokenFastPathTests.refreshForm(try string(try fast.jsonObject(), "refresh_token"))
            )
            #expect(routed.status == .ok)
            #expect(try await waited() == before + 2)
            #expect(TokenFastPathTests.fastRefreshes(inMetrics: try await client.get("/metrics").text, commit: "event_loop") == 0)
            // The replay of the first token ends the session, on either path.
            let replay = try await client.postForm("/token", TokenFastPathTests.refreshForm(try string(session, "refresh_token")))
            #expect(replay.status == .badRequest)
            let successor = try await client.postForm(
                "/token?via=router",
                TokenFastPathTests.refreshForm(try string(try routed.jsonObject(), "refresh_token"))
            )
            #expect(successor.status == .badRequest)
        }
        await database.stop()
    }

    /// Two pools (two replicas) rotating the same token: one winner across them.
    @Test func rotationRaceAcrossTwoPools() async throws {
        let first = try await PostgresTestStore()
        let location = try PostgresLocation(url: first.url)
        let second = PostgresIssuerStore(location: location, logger: testLogger)
        let secondTask = Task { try await second.run() }
        defer { secondTask.cancel() }
        let now = StoreConformance.now
        let grant = StoreConformance.grant("fam-x")
        for round in 0..<10 {
            try await first.store.storeRefreshToken(hash: "x\(round)", grant: grant, parent: nil, expiresAt: now + 100, now: now)
            async let a = first.store.refresh(StoreConformance.rotation("x\(round)", "xa\(round)", expiresAt: now + 100, now: now))
            async let b = second.refresh(StoreConformance.rotation("x\(round)", "xb\(round)", expiresAt: now + 100, now: now))
            let outcomes = try await [a, b]
            #expect(outcomes.filter { $0 == .rotated(grant) }.count == 1, "round \(round): \(outcomes)")
            #expect(outcomes.contains(.reused(family: "fam-x")))
        }
        await first.stop()
    }

    /// Failure counts are the database's: what one replica counts, another enforces.
    @Test func loginFailuresAreShared() async throws {
        let first = try await PostgresTestStore()
        let second = PostgresIssuerStore(location: try PostgresLocation(url: first.url), logger: testLogger)
        let secondTask = Task { try await second.run() }
        defer { secondTask.cancel() }
        let a = LoginRateLimiter(maxFailures: 3, window: 60, shared: first.store, sharedPrefix: "user:")
        let b = LoginRateLimiter(maxFailures: 3, window: 60, shared: second, sharedPrefix: "user:")
        let now = StoreConformance.now
        try await a.recordFailure(key: "carol", now: now)
        try await b.recordFailure(key: "carol", now: now + 1)
        #expect(try await a.retryAfter(key: "carol", now: now + 2) == nil)
        try await a.recordFailure(key: "carol", now: now + 2)
        #expect(try await b.retryAfter(key: "carol", now: now + 3) == 57)
        // The window ends; a success clears the count.
        #expect(try await b.retryAfter(key: "carol", now: now + 61) == nil)
        try await b.recordSuccess(key: "carol")
        #expect(try await a.retryAfter(key: "carol", now: now + 3) == nil)
        await first.stop()
    }

    /// `users` and `clients` work on the database named by --store, as on the SQLite file.
    @Test func cliWritesToTheSharedStore() async throws {
        let database = try await PostgresTestStore()
        let directory = try TempDirectory()
        let base = ["--keys-dir", directory.keys, "--store", database.url, "--bcrypt-cost", "4"]
        #expect(try await runCommand(["users", "add", "erin", "--role", "admin"] + base) == 0)
        #expect(try await runCommand(["users", "add", "erin"] + base) == 1)
        #expect(try await runCommand(["clients", "add", "svc"] + base) == 0)
        #expect(try await database.store.user(named: "erin")?.roles == ["admin"])
        #expect(try await database.store.client(id: "svc")?.scopes == ["api"])
        #expect(try await runCommand(["users", "delete", "erin"] + base) == 0)
        #expect(try await database.store.user(named: "erin") == nil)
        // The SQLite file was never created: --store won.
        #expect(!FileManager.default.fileExists(atPath: directory.database))
        await database.stop()
    }

    @Test func migrationsRunOnceWhenReplicasStartTogether() async throws {
        let first = try await PostgresTestStore()
        let location = try PostgresLocation(url: first.url)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresIssuerStore.migrate(location: location, logger: testLogger) } }
            try await group.waitForAll()
        }
        try await first.store.addUser(UserRecord(name: "dave", passwordHash: "h", roles: [], createdAt: 0))
        #expect(try await first.store.user(named: "dave") != nil)
        await first.stop()
    }
}

@Suite("--store option")
struct StoreOptionTests {
    @Test func postgresURLOrSQLitePath() throws {
        var configuration = IssuerConfiguration()
        try StoreSelection.apply("postgres://u:secret@db:6543/issuer?sslmode=disable&schema=s1", to: &configuration)
        #expect(configuration.storeURL != nil)
        let location = try PostgresLocation(url: try #require(configuration.storeURL))
        #expect(location.host == "db" && location.port == 6543 && location.username == "u" && location.password == "secret")
        #expect(location.database == "issuer" && location.schema == "s1" && location.sslMode == "disable")
        #expect(!location.description.contains("secret"))

        try StoreSelection.apply("/tmp/x.sqlite", to: &configuration)
        #expect(configuration.storeURL == nil && configuration.databasePath == "/tmp/x.sqlite")
        try StoreSelection.apply(nil, to: &configuration)
        #expect(configuration.databasePath == "/tmp/x.sqlite")
    }

    @Test func badURLsNameTheOptionWithoutThePassword() throws {
        for bad in ["postgres://", "postgres://host/db", "postgres://u:pw@h/db?sslmode=maybe", "postgres://u:pw@h/db?schema=Bad-Name"] {
            var configuration = IssuerConfiguration()
            let error = try #require(throws: ConfigurationError.self) { try StoreSelection.apply(bad, to: &configuration) }
            #expect(error.option == "--store")
            #expect(!error.description.contains(":pw@"), "\(error)")
        }
    }

    @Test func flagAndEnvironment() throws {
        let fromEnv = try IssuerOptions.parse([]).resolve(environment: ["ISSUER_STORE": "postgres://u@h/d"])
        #expect(fromEnv.storeURL == "postgres://u@h/d")
        let flagWins = try IssuerOptions.parse(["--store", "/tmp/a.sqlite"]).resolve(environment: ["ISSUER_STORE": "postgres://u@h/d"])
        #expect(flagWins.storeURL == nil && flagWins.databasePath == "/tmp/a.sqlite")
        let dataStill = try IssuerOptions.parse(["--data", "/tmp/b.sqlite"]).resolve(environment: [:])
        #expect(dataStill.storeURL == nil && dataStill.databasePath == "/tmp/b.sqlite")
    }
}

/// The jtis a poller has seen.
/// When the writers of a test finished.
final class DoneClock: Sendable {
    private let instant = Mutex<ContinuousClock.Instant?>(nil)
    var finishedAt: ContinuousClock.Instant? { self.instant.withLock { $0 } }
    func finish() { self.instant.withLock { $0 = .now } }
}

final class SeenSet: Sendable {
    private let jtis = Mutex<Set<String>>([])
    var values: Set<String> { jtis.withLock { $0 } }
    func add(_ more: [String]) { jtis.withLock { $0.formUnion(more) } }
}
