// The embedded store: one SQLite file in WAL mode.
//
// Why GRDB rather than sqlite-nio: GRDB has a built-in versioned migrator
// (DatabaseMigrator), a WAL connection pool (DatabasePool: concurrent readers, one
// serialized writer) and synchronous write transactions that make the atomic
// refresh-token rotation a plain read-check-write inside one closure, with no
// interleaving possible between the check and the write.

import Dispatch
import Foundation
import GRDB
import Synchronization

public final class SQLiteIssuerStore: IssuerStore {
    private let pool: DatabasePool
    private let path: String
    private let checkpointer: WALCheckpointer?
    private let immediateWriter = Mutex(ImmediateWriterState.notOpened)

    private enum ImmediateWriterState {
        case notOpened
        case open(ImmediateRefreshWriter)
        /// It could not be opened: every refresh waits (`refresh`).
        case unavailable
    }

    /// True when no file was at `path` and opening created a new, empty store.
    public let createdFile: Bool
    /// Device and inode of the file opened: `ping` refuses once `path` names another file.
    private let identity: FileIdentity?

    /// Opens (creating the file and its directory if needed) and migrates the database.
    public init(path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var configuration = Self.connectionConfiguration
        // The CLI writes while the server runs: wait for the writer instead of failing.
        configuration.busyMode = .timeout(10)
        self.path = path
        self.createdFile = !FileManager.default.fileExists(atPath: path)
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
        self.identity = FileIdentity(path: path)
        checkpointer = try? WALCheckpointer(path: path, interval: .seconds(1))
    }

    deinit { checkpointer?.stop() }

    /// What every connection that writes sets up.
    static var connectionConfiguration: Configuration {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Most checkpoint work (copying pages back, fsync) is done by a background
            // connection (WALCheckpointer); see there for what the writer still does.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.writerCheckpointPages)")
        }
        return configuration
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users (
                        name TEXT PRIMARY KEY NOT NULL,
                        password_hash TEXT NOT NULL,
                        roles TEXT NOT NULL,          -- JSON array
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE clients (
                        id TEXT PRIMARY KEY NOT NULL,
                        secret_hash TEXT NOT NULL,
                        scopes TEXT NOT NULL,         -- JSON array
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE refresh_tokens (
                        hash TEXT PRIMARY KEY NOT NULL, -- hex SHA-256 of the token; the token itself is never stored
                        family TEXT NOT NULL,           -- the session
                        parent TEXT,                    -- hash of the token it was rotated from
                        subject TEXT NOT NULL,
                        client_id TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        roles TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        expires_at REAL NOT NULL,
                        used_at REAL,
                        revoked INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX refresh_tokens_family ON refresh_tokens(family);
                    CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
                    CREATE TABLE access_tokens (
                        jti TEXT PRIMARY KEY NOT NULL,
                        family TEXT NOT NULL,
                        expires_at INTEGER NOT NULL
                    );
                    CREATE INDEX access_tokens_family ON access_tokens(family);
                    -- AUTOINCREMENT: sequence numbers are never reused, even after a purge,
                    -- so the feed cursor only grows.
                    CREATE TABLE revocations (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        jti TEXT NOT NULL UNIQUE,
                        expires_at INTEGER NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v2: no access_tokens.family index") { db in
            // Nothing looks access tokens up by family (logout goes jti -> family -> refresh
            // tokens), and every refresh paid for one more random index insert.
            try db.execute(sql: "DROP INDEX IF EXISTS access_tokens_family")
        }
        migrator.registerMigration("v3: readiness probe") { db in
            // One row /readyz rewrites: a write that commits is the proof the store is writable.
            try db.execute(sql: "CREATE TABLE readiness_probe (id INTEGER PRIMARY KEY, checked_at REAL NOT NULL)")
        }
        return migrator
    }

    // MARK: Users

    public func addUser(_ user: UserRecord) async throws {
        try await pool.write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [user.name]) != nil {
                throw StoreError("user \(user.name) already exists")
            }
            try db.execute(
                sql: "INSERT INTO users (name, password_hash, roles, created_at) VALUES (?, ?, ?, ?)",
                arguments: [user.name, user.passwordHash, Self.encodeList(user.roles), user.createdAt]
            )
        }
    }

    public func user(named name: String) async throws -> UserRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE name = ?", arguments: [name]).map(Self.user)
        }
    }

    public func listUsers() async throws -> [UserRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM users ORDER BY name").map(Self.user)
        }
    }

    public func deleteUser(named name: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM users WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { return false }
            try db.execute(
                sql: "UPDATE refresh_tokens SET revoked = 1 WHERE subject = ? AND client_id = 'login'",
                arguments: [name]
            )
            return true
        }
    }

    private static func user(_ row: Row) -> UserRecord {
        UserRecord(name: row["name"], passwordHash: row["password_hash"], roles: decodeList(row["roles"]), createdAt: row["created_at"])
    }

    // MARK: Clients

    public func addClient(_ client: ClientRecord) async throws {
        try await pool.write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM clients WHERE id = ?", arguments: [client.id]) != nil {
                throw StoreError("client \(client.id) already exists")
            }
            try db.execute(
                sql: "INSERT INTO clients (id, secret_hash, scopes, created_at) VALUES (?, ?, ?, ?)",
                arguments: [client.id, client.secretHash, Self.encodeList(client.scopes), client.createdAt]
            )
        }
    }

    public func client(id: String) async throws -> ClientRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM clients WHERE id = ?", arguments: [id]).map { row in
                ClientRecord(id: row["id"], secretHash: row["secret_hash"], scopes: Self.decodeList(row["scopes"]), createdAt: row["created_at"])
            }
        }
    }

    // MARK: Refresh tokens

    public func storeRefreshToken(hash: String, grant: RefreshGrant, parent: String?, expiresAt: Double, now: Double) async throws {
        try await pool.write { db in
            try Self.insertRefreshToken(db, hash: hash, grant: grant, parent: parent, expiresAt: expiresAt, now: now)
        }
    }

    /// THE refresh, in a write transaction of its own (BEGIN IMMEDIATE: the write lock is
    /// taken before the row is read, so no other writer, on this connection or another,
    /// can change it between the rule's decision and its execution). It waits for the
    /// lock on GRDB's writer queue, where waiting blocks no event loop and no thread of
    /// Swift's cooperative pool. The HTTP layer commits through `makeCommitter` instead,
    /// which groups refreshes on the event loop and falls back to this when busy.
    public func refresh(_ request: RefreshRequest) async throws -> RefreshResult {
        try await pool.writeWithoutTransaction { db in
            try Self.inImmediateTransaction(db) { db in try Self.refresh(db, request) }
        }
    }

    /// `requests` in one write transaction, each checked and written in turn (as if each
    /// had its own); all or none.
    static func commitTogether(_ requests: [RefreshRequest], on writer: some DatabaseWriter) throws -> [Result<RefreshResult, any Error>] {
        try writer.writeWithoutTransaction { db in
            try Self.inImmediateTransaction(db) { db in
                try requests.map { request in Result<RefreshResult, any Error>.success(try Self.refresh(db, request)) }
            }
        }
    }

    /// `body` between BEGIN IMMEDIATE and COMMIT (cached statements); rolled back if it throws.
    private static func inImmediateTransaction<T>(_ db: Database, _ body: (Database) throws -> T) throws -> T {
        try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
        do {
            let result = try body(db)
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            return result
        } catch {
            try? db.rollback()
            throw error
        }
    }

    /// `requests` committed together now, on the calling thread (an event loop), through
    /// `ImmediateRefreshWriter`; nil when that would have to wait for the database or one
    /// of them failed (nothing is committed then: the caller takes `refresh` instead).
    /// The event loops share the one connection, so its page cache stays valid from one
    /// commit to the next; they take turns for the CPU time of a commit.
    func commitWithoutWaiting(_ requests: [RefreshRequest]) -> [Result<RefreshResult, any Error>]? {
        immediateWriter.withLock { state in
            switch state {
            case .unavailable:
                return nil
            case .open(let writer):
                return writer.commit(requests)
            case .notOpened:
                do {
                    let writer = try ImmediateRefreshWriter(path: path, checkpointsElsewhere: checkpointer != nil)
                    state = .open(writer)
                    return writer.commit(requests)
                } catch {
                    state = .unavailable
                    return nil
                }
            }
        }
    }

    /// One refresh inside the caller's write transaction: the presented token's row, the
    /// rule's decision (`RefreshRule`), and what it says to do. Cached statements only.
    static func refresh(_ db: Database, _ request: RefreshRequest) throws -> RefreshResult {
        let row = try Row.fetchOne(
            db.cachedStatement(
                sql: "SELECT family, expires_at, used_at, revoked, subject, client_id, scope, roles FROM refresh_tokens WHERE hash = ?"
            ),
            arguments: [request.oldHash]
        )
        let stored = row.map { row in
            StoredRefreshToken(family: row[0], expiresAt: row[1], usedAt: row[2], revoked: (row[3] as Int) != 0)
        }
        switch RefreshRule.decide(stored, now: request.now) {
        case .refuse:
            return .invalid
        case .revokeFamily(let family):
            try Self.revokeFamily(db, family)
            return .reused(family: family)
        case .rotate:
            guard let row, let stored else { return .invalid }  // the rule rotates only a stored row
            try db.cachedStatement(sql: "UPDATE refresh_tokens SET used_at = ? WHERE hash = ?")
                .execute(arguments: [request.now, request.oldHash])
            var grant = RefreshGrant(family: stored.family, subject: row[4], clientID: row[5], scope: row[6], roles: Self.decodeList(row[7]))
            try Self.insertRefreshToken(
                db,
                hash: request.newHash,
                grant: grant,
                parent: request.oldHash,
                expiresAt: request.newExpiresAt,
                now: request.now
            )
            if grant.clientID == request.currentRolesClientID {
                guard
                    let roles = try String.fetchOne(
                        db.cachedStatement(sql: "SELECT roles FROM users WHERE name = ?"),
                        arguments: [grant.subject]
                    )
                else {
                    try Self.revokeFamily(db, grant.family)
                    return .userGone
                }
                grant.roles = Self.decodeList(roles)
            }
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO access_tokens (jti, family, expires_at) VALUES (?, ?, ?)")
                .execute(arguments: [request.accessTokenID, grant.family, request.accessExpiresAt])
            return .rotated(grant)
        }
    }

    private static func revokeFamily(_ db: Database, _ family: String) throws {
        try db.cachedStatement(sql: "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?").execute(arguments: [family])
    }

    public func revokeFamily(ofTokenHash hash: String) async throws -> String? {
        try await pool.write { db in
            guard let family = try String.fetchOne(db, sql: "SELECT family FROM refresh_tokens WHERE hash = ?", arguments: [hash]) else {
                return nil
            }
            try db.execute(sql: "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?", arguments: [family])
            return family
        }
    }

    public func revokeFamily(_ family: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?", arguments: [family])
        }
    }

    private static func insertRefreshToken(_ db: Database, hash: String, grant: RefreshGrant, parent: String?, expiresAt: Double, now: Double) throws
    {
        try db.cachedStatement(
            sql: """
                INSERT INTO refresh_tokens (hash, family, parent, subject, client_id, scope, roles, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [hash, grant.family, parent, grant.subject, grant.clientID, grant.scope, encodeList(grant.roles), now, expiresAt])
    }

    // MARK: Access tokens and revocations

    public func recordAccessToken(jti: String, family: String, expiresAt: Int64) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO access_tokens (jti, family, expires_at) VALUES (?, ?, ?)",
                arguments: [jti, family, expiresAt]
            )
        }
    }

    public func family(ofAccessToken jti: String) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT family FROM access_tokens WHERE jti = ?", arguments: [jti])
        }
    }

    public func revokeAccessToken(jti: String, expiresAt: Int64) async throws {
        try await pool.write { db in
            // Check first: INSERT OR IGNORE would still spend a sequence number.
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM revocations WHERE jti = ?", arguments: [jti]) == nil else { return }
            try db.execute(sql: "INSERT INTO revocations (jti, expires_at) VALUES (?, ?)", arguments: [jti, expiresAt])
        }
    }

    public func isAccessTokenRevoked(jti: String) async throws -> Bool {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT 1 FROM revocations WHERE jti = ?", arguments: [jti]) != nil
        }
    }

    public func revocations(after cursor: Int64, now: Double) async throws -> (cursor: Int64, entries: [RevocationEntry]) {
        try await pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT seq, jti, expires_at FROM revocations WHERE seq > ? AND expires_at > ? ORDER BY seq",
                arguments: [cursor, Int64(now.rounded(.down))]
            )
            let newest = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'revocations'") ?? 0
            let entries = rows.map { RevocationEntry(jti: $0["jti"], exp: $0["expires_at"]) }
            // The newest cursor, even when below the one asked for (a reset store): the
            // client then starts over instead of waiting for a number that may never come.
            return (newest, entries)
        }
    }

    public func purgeExpired(now: Double) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM refresh_tokens WHERE expires_at <= ?", arguments: [now])
            try db.execute(sql: "DELETE FROM access_tokens WHERE expires_at <= ?", arguments: [Int64(now)])
            try db.execute(sql: "DELETE FROM revocations WHERE expires_at <= ?", arguments: [Int64(now)])
        }
    }

    /// Readiness: the file at `path` is still the one opened, and a write commits.
    public func ping() async throws {
        let now = FileIdentity(path: self.path)
        guard let now else {
            throw StoreHealthError("the SQLite file \(self.path) is gone (deleted while the Issuer runs); writes go to a file no restart will open")
        }
        if let identity = self.identity, identity != now {
            throw StoreHealthError("the SQLite file \(self.path) was replaced while the Issuer runs; it still writes to the file it opened")
        }
        try await pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO readiness_probe (id, checked_at) VALUES (1, ?)",
                arguments: [Date().timeIntervalSince1970]
            )
        }
    }

    // MARK: Lists as JSON text

    // Role lists are on every refresh: the usual ones (plain ASCII names) are written and
    // read without JSONEncoder/JSONDecoder, with the same text; anything else goes through them.

    static func encodeList(_ list: [String]) -> String {
        if list.allSatisfy(isPlainListElement) {
            return "[" + list.map { "\"" + $0 + "\"" }.joined(separator: ",") + "]"
        }
        return (try? String(decoding: JSONEncoder().encode(list), as: UTF8.self)) ?? "[]"
    }

    static func decodeList(_ text: String) -> [String] {
        if let list = plainList(Array(text.utf8)) { return list }
        return (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }

    /// `["a","b"]` exactly as `encodeList` writes plain elements (no spaces, no escapes);
    /// nil for anything else.
    private static func plainList(_ bytes: [UInt8]) -> [String]? {
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "["), bytes[bytes.count - 1] == UInt8(ascii: "]") else { return nil }
        if bytes.count == 2 { return [] }
        var list: [String] = []
        var index = 1
        while true {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            var end = index + 1
            while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
                guard isPlainListByte(bytes[end]) else { return nil }
                end += 1
            }
            guard end + 1 < bytes.count else { return nil }
            list.append(String(decoding: bytes[(index + 1)..<end], as: UTF8.self))
            index = end + 1
            if bytes[index] == UInt8(ascii: "]") { return index == bytes.count - 1 ? list : nil }
            guard bytes[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
    }

    /// Printable ASCII that JSON writes as is (JSONEncoder escapes `/` too).
    private static func isPlainListElement(_ text: String) -> Bool { text.utf8.allSatisfy(isPlainListByte) }

    private static func isPlainListByte(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "/")
    }
}

/// Commits refreshes on the thread that calls it (an event loop, see
/// `EventLoopRefreshCommitter`) through a connection of its own, and never waits: when
/// another connection holds the write lock (a login, the CLI, the purge) `commit` gives
/// up at once and the caller uses `SQLiteIssuerStore.refresh` instead, which waits off
/// the event loop. In WAL mode with
/// `synchronous = NORMAL` a commit appends to the WAL without fsync, so what runs here is
/// CPU work on pages already cached.
///
/// It does not checkpoint either (`wal_autocheckpoint = 0`): a checkpoint syncs files to
/// disk. `WALCheckpointer` does that from its own thread.
///
/// Not Sendable: used under `SQLiteIssuerStore`'s lock.
final class ImmediateRefreshWriter {
    /// Pages of its cache (4 KiB each): the indexes a refresh touches are hashes, so every
    /// refresh reads a few pages at random; kept here, they are not read again by pread.
    static let cachePages = 8192

    private let queue: DatabaseQueue

    /// `checkpointsElsewhere`: a `WALCheckpointer` runs; without one (it could not open its
    /// connection) this writer checkpoints at the store's mark, as the pool's writer does.
    init(path: String, checkpointsElsewhere: Bool) throws {
        var configuration = Configuration()
        configuration.label = "refresh-writer"
        configuration.busyMode = .immediateError
        let autocheckpoint = checkpointsElsewhere ? 0 : WALCheckpointer.writerCheckpointPages
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(autocheckpoint)")
            try db.execute(sql: "PRAGMA cache_size = \(Self.cachePages)")
        }
        queue = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// The results, in order, of `requests` committed in one transaction; nil when nothing
    /// was committed (the database was busy, or one of them failed: the caller then runs
    /// each on its own, so that an error stays the one request's).
    func commit(_ requests: [RefreshRequest]) -> [Result<RefreshResult, any Error>]? {
        try? SQLiteIssuerStore.commitTogether(requests, on: queue)
    }
}

/// Checkpoints the WAL from its own connection every `interval` (PASSIVE: never waits for,
/// nor blocks, readers and the writer), so that copying pages back into the database file
/// and the fsync happen beside the writer instead of in a request's commit. With SQLite's
/// default (a checkpoint in the committing connection every 1000 pages) the writer
/// waited on that fsync many times a second under load and the CPU sat idle meanwhile.
///
/// Under a steady stream of commits a PASSIVE checkpoint never catches up with the very
/// last frame, and only a checkpoint that does lets the next commit start the WAL over
/// from its beginning. So the writer keeps an automatic checkpoint too, at a high mark
/// (`writerCheckpointPages`): when it runs, the background has already copied all but
/// the last few hundred milliseconds of frames. The WAL file grows to about that many
/// pages (~80 MB at 4 KiB) under sustained load; SQLite deletes it on the last close.
///
/// @unchecked: both properties are set once; the timer's cancel() is thread-safe.
final class WALCheckpointer: @unchecked Sendable {
    /// `wal_autocheckpoint` of the store's connections.
    static let writerCheckpointPages = 20_000

    private let queue: DatabaseQueue
    private let timer: any DispatchSourceTimer

    init(path: String, interval: DispatchTimeInterval) throws {
        var configuration = Configuration()
        configuration.label = "wal-checkpoint"
        configuration.busyMode = .timeout(1)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        self.queue = queue
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "wal-checkpoint"))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(50))
        timer.setEventHandler {
            _ = try? queue.writeWithoutTransaction { db in
                let (walFrames, _) = try db.checkpoint(.passive)
                // The event loops' writer never checkpoints (`ImmediateRefreshWriter`): past
                // the writers' mark, RESTART copies the last frames and lets the next commit
                // start the WAL over. It holds the write lock meanwhile; refreshes then wait
                // for it off the event loop (`SQLiteIssuerStore.refresh`).
                if walFrames > Self.writerCheckpointPages { try db.checkpoint(.restart) }
            }
        }
        timer.resume()
    }

    func stop() { timer.cancel() }
}
