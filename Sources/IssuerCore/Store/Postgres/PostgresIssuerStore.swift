// The shared store for several Issuer replicas: PostgreSQL through postgres-nio's
// PostgresClient (a connection pool, run as a ServiceLifecycle service).
//
// Concurrency across replicas, where SQLite relied on its single writer:
// - Refresh rotation locks the presented token's row (SELECT ... FOR UPDATE): a second
//   replica rotating the same token waits, then sees it used (a replay) and revokes the
//   family. The decision itself is `RefreshRule`'s, on the row as locked (see `refresh`).
// - The revocation feed's cursor is a database sequence, but a sequence alone hands out
//   numbers in call order while transactions commit in any order: a poller could read 11
//   before 10 commits and skip 10 forever. Feed writers therefore lock the one row of
//   `feed_state` before taking a number and keep it until commit, so numbers become visible
//   in order; readers take the cursor and the entries from one statement (one snapshot).
// - Login failure counts live in `login_failures`, updated by one upsert, so the limits hold
//   whichever replica a client hits.
// Deadlocks and serialization failures (two revocations of one family from two replicas)
// are retried a few times rather than surfacing as a 500.

import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

public final class PostgresIssuerStore: IssuerStore, SharedLoginFailures, Service {
    private let client: PostgresClient
    private let logger: Logger

    /// Creates the pool; nothing connects until `run()` runs (as a service, or `runInBackground()`).
    public init(location: PostgresLocation, logger: Logger) {
        self.client = PostgresClient(configuration: location.clientConfiguration, backgroundLogger: logger)
        self.logger = logger
    }

    /// Runs the connection pool until cancelled or gracefully shut down.
    public func run() async throws {
        await client.run()
    }

    // MARK: Transactions

    /// One transaction, retried on deadlock (40P01) or serialization failure (40001).
    private func transaction<Result: Sendable>(
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        var attempt = 0
        while true {
            do {
                return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            } catch let error as PostgresTransactionError {
                let state =
                    (error.closureError as? PSQLError)?.serverInfo?[.sqlState]
                    ?? (error.commitError as? PSQLError)?.serverInfo?[.sqlState]
                guard attempt < 4, state == "40P01" || state == "40001" else { throw error }
                attempt += 1
            }
        }
    }

    // MARK: Users

    public func addUser(_ user: UserRecord) async throws {
        let roles = SQLiteIssuerStore.encodeList(user.roles)
        let rows = try await client.query(
            """
            INSERT INTO users (name, password_hash, roles, created_at) VALUES (\(user.name), \(user.passwordHash), \(roles), \(user.createdAt))
            ON CONFLICT (name) DO NOTHING RETURNING name
            """,
            logger: logger
        ).collect()
        if rows.isEmpty { throw StoreError("user \(user.name) already exists") }
    }

    public func user(named name: String) async throws -> UserRecord? {
        try await client.query("SELECT name, password_hash, roles, created_at FROM users WHERE name = \(name)", logger: logger)
            .collect().first.map(Self.user)
    }

    public func listUsers() async throws -> [UserRecord] {
        try await client.query("SELECT name, password_hash, roles, created_at FROM users ORDER BY name", logger: logger)
            .collect().map(Self.user)
    }

    public func deleteUser(named name: String) async throws -> Bool {
        try await transaction { connection in
            let deleted = try await connection.query("DELETE FROM users WHERE name = \(name) RETURNING name", logger: self.logger).collect()
            guard !deleted.isEmpty else { return false }
            try await connection.query(
                "UPDATE refresh_tokens SET revoked = TRUE WHERE subject = \(name) AND client_id = 'login'",
                logger: self.logger
            )
            return true
        }
    }

    private static func user(_ row: PostgresRow) throws -> UserRecord {
        let (name, hash, roles, createdAt) = try row.decode((String, String, String, Double).self)
        return UserRecord(name: name, passwordHash: hash, roles: SQLiteIssuerStore.decodeList(roles), createdAt: createdAt)
    }

    // MARK: Clients

    public func addClient(_ client: ClientRecord) async throws {
        let scopes = SQLiteIssuerStore.encodeList(client.scopes)
        let rows = try await self.client.query(
            """
            INSERT INTO clients (id, secret_hash, scopes, created_at) VALUES (\(client.id), \(client.secretHash), \(scopes), \(client.createdAt))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """,
            logger: logger
        ).collect()
        if rows.isEmpty { throw StoreError("client \(client.id) already exists") }
    }

    public func client(id: String) async throws -> ClientRecord? {
        try await client.query("SELECT id, secret_hash, scopes, created_at FROM clients WHERE id = \(id)", logger: logger)
            .collect().first.map { row in
                let (id, hash, scopes, createdAt) = try row.decode((String, String, String, Double).self)
                return ClientRecord(id: id, secretHash: hash, scopes: SQLiteIssuerStore.decodeList(scopes), createdAt: createdAt)
            }
    }

    // MARK: Refresh tokens

    public func storeRefreshToken(hash: String, grant: RefreshGrant, parent: String?, expiresAt: Double, now: Double) async throws {
        try await client.query(Self.insertRefreshToken(hash: hash, grant: grant, parent: parent, expiresAt: expiresAt, now: now), logger: logger)
    }

    /// THE refresh, in one transaction of four round trips in the usual case (BEGIN, the
    /// locked read, one statement that does the rotation's writes, COMMIT).
    ///
    /// Concurrency: the presented token's row is read with SELECT ... FOR UPDATE and the
    /// rule (`RefreshRule`) decides on that row. A second transaction presenting the same
    /// token, on this replica or another, waits at its own SELECT ... FOR UPDATE until the
    /// first commits, then (READ COMMITTED re-reads a locked row's newest version) sees it
    /// used: a replay. Chosen over an UPDATE guarded by `used_at IS NULL`: that needs the
    /// row read first all the same (the rule decides on it), and a retry when the guard
    /// finds the row changed; the lock costs no extra round trip and has no retry.
    public func refresh(_ request: RefreshRequest) async throws -> RefreshResult {
        try await transaction { connection in
            let rows = try await connection.query(
                """
                SELECT family, expires_at, used_at, revoked, subject, client_id, scope, roles
                FROM refresh_tokens WHERE hash = \(request.oldHash) FOR UPDATE
                """,
                logger: self.logger
            ).collect()
            var stored: StoredRefreshToken?
            var grant: RefreshGrant?
            if let row = rows.first {
                let (family, expiresAt, usedAt, revoked, subject, clientID, scope, roles) = try row.decode(
                    (String, Double, Double?, Bool, String, String, String, String).self
                )
                stored = StoredRefreshToken(family: family, expiresAt: expiresAt, usedAt: usedAt, revoked: revoked)
                grant = RefreshGrant(family: family, subject: subject, clientID: clientID, scope: scope, roles: SQLiteIssuerStore.decodeList(roles))
            }
            switch RefreshRule.decide(stored, now: request.now) {
            case .refuse:
                return .invalid
            case .revokeFamily(let family):
                try await connection.query("UPDATE refresh_tokens SET revoked = TRUE WHERE family = \(family)", logger: self.logger)
                return .reused(family: family)
            case .rotate:
                guard var grant else { return .invalid }  // the rule rotates only a stored row
                // One statement: the mark, the successor, the access-token record (writes in
                // WITH run exactly once, read or not), and the user's roles as they are now.
                let roles = SQLiteIssuerStore.encodeList(grant.roles)
                let users = try await connection.query(
                    """
                    WITH marked AS (
                        UPDATE refresh_tokens SET used_at = \(request.now) WHERE hash = \(request.oldHash)
                    ), successor AS (
                        INSERT INTO refresh_tokens (hash, family, parent, subject, client_id, scope, roles, created_at, expires_at)
                        VALUES (\(request.newHash), \(grant.family), \(request.oldHash), \(grant.subject), \(grant.clientID), \(grant.scope), \(roles), \(request.now), \(request.newExpiresAt))
                    ), access AS (
                        INSERT INTO access_tokens (jti, family, expires_at) VALUES (\(request.accessTokenID), \(grant.family), \(request.accessExpiresAt))
                        ON CONFLICT (jti) DO NOTHING
                    )
                    SELECT roles FROM users WHERE name = \(grant.subject)
                    """,
                    logger: self.logger
                ).collect()
                if grant.clientID == request.currentRolesClientID {
                    guard let current = try users.first?.decode(String.self) else {
                        // The user is gone: the session ends (its access token is never signed;
                        // the record just written dies with the family).
                        try await connection.query("UPDATE refresh_tokens SET revoked = TRUE WHERE family = \(grant.family)", logger: self.logger)
                        return .userGone
                    }
                    grant.roles = SQLiteIssuerStore.decodeList(current)
                }
                return .rotated(grant)
            }
        }
    }

    public func revokeFamily(ofTokenHash hash: String) async throws -> String? {
        try await transaction { connection in
            let rows = try await connection.query("SELECT family FROM refresh_tokens WHERE hash = \(hash)", logger: self.logger).collect()
            guard let family = try rows.first?.decode(String.self) else { return nil }
            try await connection.query("UPDATE refresh_tokens SET revoked = TRUE WHERE family = \(family)", logger: self.logger)
            return family
        }
    }

    public func revokeFamily(_ family: String) async throws {
        _ = try await transaction { connection in
            try await connection.query("UPDATE refresh_tokens SET revoked = TRUE WHERE family = \(family)", logger: self.logger)
            return true
        }
    }

    private static func insertRefreshToken(hash: String, grant: RefreshGrant, parent: String?, expiresAt: Double, now: Double) -> PostgresQuery {
        let roles = SQLiteIssuerStore.encodeList(grant.roles)
        return """
            INSERT INTO refresh_tokens (hash, family, parent, subject, client_id, scope, roles, created_at, expires_at)
            VALUES (\(hash), \(grant.family), \(parent), \(grant.subject), \(grant.clientID), \(grant.scope), \(roles), \(now), \(expiresAt))
            """
    }

    // MARK: Access tokens and revocations

    public func recordAccessToken(jti: String, family: String, expiresAt: Int64) async throws {
        try await client.query(
            "INSERT INTO access_tokens (jti, family, expires_at) VALUES (\(jti), \(family), \(expiresAt)) ON CONFLICT (jti) DO NOTHING",
            logger: logger
        )
    }

    public func family(ofAccessToken jti: String) async throws -> String? {
        try await client.query("SELECT family FROM access_tokens WHERE jti = \(jti)", logger: logger).collect().first?.decode(String.self)
    }

    public func revokeAccessToken(jti: String, expiresAt: Int64) async throws {
        _ = try await transaction { connection in
            // Held until commit: the next writer takes its number only after this entry is
            // visible, so sequence order is commit order.
            try await connection.query("SELECT last_seq FROM feed_state WHERE id = 1 FOR UPDATE", logger: self.logger)
            let known = try await connection.query("SELECT 1 FROM revocations WHERE jti = \(jti)", logger: self.logger).collect()
            guard known.isEmpty else { return false }
            try await connection.query(
                """
                WITH entry AS (
                    INSERT INTO revocations (seq, jti, expires_at) VALUES (nextval('revocation_seq'), \(jti), \(expiresAt)) RETURNING seq
                )
                UPDATE feed_state SET last_seq = (SELECT seq FROM entry) WHERE id = 1
                """,
                logger: self.logger
            )
            return true
        }
    }

    public func isAccessTokenRevoked(jti: String) async throws -> Bool {
        try await !client.query("SELECT 1 FROM revocations WHERE jti = \(jti)", logger: logger).collect().isEmpty
    }

    public func revocations(after cursor: Int64, now: Double) async throws -> (cursor: Int64, entries: [RevocationEntry]) {
        // One statement, one snapshot: the cursor answered covers exactly the entries answered.
        let nowSeconds = Int64(now.rounded(.down))
        let rows = try await client.query(
            """
            SELECT f.last_seq, r.jti, r.expires_at FROM feed_state f
            LEFT JOIN revocations r ON r.seq > \(cursor) AND r.seq <= f.last_seq AND r.expires_at > \(nowSeconds)
            WHERE f.id = 1 ORDER BY r.seq
            """,
            logger: logger
        ).collect()
        var newest: Int64 = 0
        var entries: [RevocationEntry] = []
        for row in rows {
            let (last, jti, exp) = try row.decode((Int64, String?, Int64?).self)
            newest = last
            if let jti, let exp { entries.append(RevocationEntry(jti: jti, exp: exp)) }
        }
        return (newest, entries)
    }

    public func purgeExpired(now: Double) async throws {
        let seconds = Int64(now)
        _ = try await transaction { connection in
            try await connection.query("DELETE FROM refresh_tokens WHERE expires_at <= \(now)", logger: self.logger)
            try await connection.query("DELETE FROM access_tokens WHERE expires_at <= \(seconds)", logger: self.logger)
            try await connection.query("DELETE FROM revocations WHERE expires_at <= \(seconds)", logger: self.logger)
            // Failure windows are minutes long: a day-old one is over whatever the configuration.
            try await connection.query("DELETE FROM login_failures WHERE window_start < \(now - 86400)", logger: self.logger)
            return true
        }
    }

    public func ping() async throws {
        try await client.query("SELECT 1", logger: logger)
    }

    // MARK: Login failures, shared by every replica

    /// Seconds to wait when `key` has `maxFailures` failures in its current window, nil otherwise.
    public func loginRetryAfter(key: String, maxFailures: Int, window: Double, now: Double) async throws -> Int? {
        let rows = try await client.query(
            "SELECT window_start, failures FROM login_failures WHERE key = \(key)",
            logger: logger
        ).collect()
        guard let row = rows.first else { return nil }
        let (start, failures) = try row.decode((Double, Int32).self)
        guard now < start + window, Int(failures) >= maxFailures else { return nil }
        return max(1, Int((start + window - now).rounded(.up)))
    }

    public func recordLoginFailure(key: String, window: Double, now: Double) async throws {
        // One statement: concurrent failures from several replicas all count.
        try await client.query(
            """
            INSERT INTO login_failures AS f (key, window_start, failures) VALUES (\(key), \(now), 1)
            ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN \(now) < f.window_start + \(window) THEN f.failures + 1 ELSE 1 END,
                window_start = CASE WHEN \(now) < f.window_start + \(window) THEN f.window_start ELSE \(now) END
            """,
            logger: logger
        )
    }

    public func clearLoginFailures(key: String) async throws {
        try await client.query("DELETE FROM login_failures WHERE key = \(key)", logger: logger)
    }
}

/// A parsed `postgres://user:password@host:port/database?sslmode=...` URL.
public struct PostgresLocation: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String?
    public var sslMode: String
    /// `?schema=NAME`: the tables live in this schema (created when missing), so several
    /// deployments (or tests) can share one database.
    public var schema: String?

    /// Whether `text` is a postgres:// or postgresql:// URL.
    public static func isPostgresURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// Throws a `ConfigurationError` for `--store` (never echoing the password).
    public init(url text: String) throws {
        guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty,
            let user = components.user, !user.isEmpty
        else {
            throw ConfigurationError(
                option: "--store",
                problem: "'\(Self.redacted(text))' is not postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
            )
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? nil : path
        let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
        guard ["disable", "prefer", "require"].contains(mode) else {
            throw ConfigurationError(option: "--store", problem: "sslmode '\(mode)' is not disable, prefer or require")
        }
        self.sslMode = mode
        if let schema = components.queryItems?.first(where: { $0.name == "schema" })?.value {
            let allowed = schema.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
            guard !schema.isEmpty, schema.utf8.count <= 63, allowed, let first = schema.utf8.first, !(48...57).contains(first) else {
                throw ConfigurationError(option: "--store", problem: "schema '\(schema)' must be lower-case letters, digits and _")
            }
            self.schema = schema
        }
    }

    /// The URL without its password, for logs and messages.
    public static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? "postgres://***"
    }

    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database ?? "")" + (schema.map { "?schema=\($0)" } ?? "")
    }

    var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        case "require": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tls
        )
        configuration.options.maximumConnections = 20
        configuration.options.connectTimeout = .seconds(5)
        if let schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
        return configuration
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        case "require": tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        default: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tls
        )
        if let schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
        return configuration
    }
}
