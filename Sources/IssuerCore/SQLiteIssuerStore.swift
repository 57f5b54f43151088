// The embedded store: one SQLite file in WAL mode.
//
// Why GRDB rather than sqlite-nio: GRDB has a built-in versioned migrator
// (DatabaseMigrator), a WAL connection pool (DatabasePool: concurrent readers, one
// serialized writer) and synchronous write transactions that make the atomic
// refresh-token rotation a plain read-check-write inside one closure, with no
// interleaving possible between the check and the write.

import Foundation
import GRDB

public final class SQLiteIssuerStore: IssuerStore {
    private let pool: DatabasePool

    /// Opens (creating the file and its directory if needed) and migrates the database.
    public init(path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var configuration = Configuration()
        // The CLI writes while the server runs: wait for the writer instead of failing.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
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

    public func rotateRefreshToken(oldHash: String, newHash: String, newExpiresAt: Double, now: Double) async throws -> RefreshOutcome {
        // One write transaction: GRDB serializes writers, so the check and the mark
        // cannot interleave with another rotation of the same token.
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM refresh_tokens WHERE hash = ?", arguments: [oldHash]) else {
                return .invalid
            }
            let family: String = row["family"]
            if (row["revoked"] as Int) != 0 { return .invalid }
            if (row["used_at"] as Double?) != nil {
                try db.execute(sql: "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?", arguments: [family])
                return .reused(family: family)
            }
            if (row["expires_at"] as Double) <= now { return .invalid }
            try db.execute(
                sql: "UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL",
                arguments: [now, oldHash]
            )
            guard db.changesCount == 1 else { return .invalid }
            let grant = RefreshGrant(
                family: family, subject: row["subject"], clientID: row["client_id"], scope: row["scope"],
                roles: Self.decodeList(row["roles"])
            )
            try Self.insertRefreshToken(db, hash: newHash, grant: grant, parent: oldHash, expiresAt: newExpiresAt, now: now)
            return .rotated(grant)
        }
    }

    /// The hot path of /token and /refresh: rotation, current roles and the access-token
    /// record in ONE write transaction with cached statements, instead of two write
    /// transactions and a read (each a hop to GRDB's queue and a commit).
    public func refresh(_ request: RefreshRequest) async throws -> RefreshResult {
        try await pool.write { db in
            guard let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM refresh_tokens WHERE hash = ?"), arguments: [request.oldHash]
            ) else { return .invalid }
            let family: String = row["family"]
            if (row["revoked"] as Int) != 0 { return .invalid }
            if (row["used_at"] as Double?) != nil {
                try db.cachedStatement(sql: "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?").execute(arguments: [family])
                return .reused(family: family)
            }
            if (row["expires_at"] as Double) <= request.now { return .invalid }
            try db.cachedStatement(sql: "UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL")
                .execute(arguments: [request.now, request.oldHash])
            guard db.changesCount == 1 else { return .invalid }
            var grant = RefreshGrant(
                family: family, subject: row["subject"], clientID: row["client_id"], scope: row["scope"],
                roles: Self.decodeList(row["roles"])
            )
            try Self.insertRefreshToken(db, hash: request.newHash, grant: grant, parent: request.oldHash, expiresAt: request.newExpiresAt, now: request.now)
            if grant.clientID == request.currentRolesClientID {
                guard let roles = try String.fetchOne(
                    db.cachedStatement(sql: "SELECT roles FROM users WHERE name = ?"), arguments: [grant.subject]
                ) else {
                    try db.cachedStatement(sql: "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?").execute(arguments: [family])
                    return .userGone
                }
                grant.roles = Self.decodeList(roles)
            }
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO access_tokens (jti, family, expires_at) VALUES (?, ?, ?)")
                .execute(arguments: [request.accessTokenID, family, request.accessExpiresAt])
            return .rotated(grant)
        }
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

    private static func insertRefreshToken(_ db: Database, hash: String, grant: RefreshGrant, parent: String?, expiresAt: Double, now: Double) throws {
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

    public func ping() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    // MARK: Lists as JSON text

    static func encodeList(_ list: [String]) -> String {
        (try? String(decoding: JSONEncoder().encode(list), as: UTF8.self)) ?? "[]"
    }

    static func decodeList(_ text: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }
}
