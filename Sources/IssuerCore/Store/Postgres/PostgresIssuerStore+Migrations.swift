import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The schema and its migrations.
extension PostgresIssuerStore {
    // MARK: Migrations

    /// Versioned schema changes; each runs once, in order, in its own transaction.
    /// Never edit a released step: add a new one.
    static let migrations: [(version: Int, statements: [String])] = [
        (
            1,
            [
                """
                CREATE TABLE users (
                    name TEXT PRIMARY KEY,
                    password_hash TEXT NOT NULL,
                    roles TEXT NOT NULL,               -- JSON array, as in SQLite
                    created_at DOUBLE PRECISION NOT NULL
                )
                """,
                """
                CREATE TABLE clients (
                    id TEXT PRIMARY KEY,
                    secret_hash TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL
                )
                """,
                """
                CREATE TABLE refresh_tokens (
                    hash TEXT PRIMARY KEY,             -- hex SHA-256; the token itself is never stored
                    family TEXT NOT NULL,
                    parent TEXT,
                    subject TEXT NOT NULL,
                    client_id TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    roles TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL,
                    used_at DOUBLE PRECISION,
                    revoked BOOLEAN NOT NULL DEFAULT FALSE
                )
                """,
                "CREATE INDEX refresh_tokens_family ON refresh_tokens(family)",
                "CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at)",
                "CREATE INDEX refresh_tokens_subject ON refresh_tokens(subject)",
                """
                CREATE TABLE access_tokens (
                    jti TEXT PRIMARY KEY,
                    family TEXT NOT NULL,
                    expires_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX access_tokens_expiry ON access_tokens(expires_at)",
                "CREATE SEQUENCE revocation_seq",
                """
                CREATE TABLE revocations (
                    seq BIGINT PRIMARY KEY,
                    jti TEXT NOT NULL UNIQUE,
                    expires_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX revocations_expiry ON revocations(expires_at)",
                // The newest cursor handed out; survives purges. Its row lock serializes feed writers.
                "CREATE TABLE feed_state (id INT PRIMARY KEY CHECK (id = 1), last_seq BIGINT NOT NULL)",
                "INSERT INTO feed_state (id, last_seq) VALUES (1, 0)",
            ]
        ),
        (
            2,
            [
                """
                CREATE TABLE login_failures (
                    key TEXT PRIMARY KEY,              -- "user:NAME" or "addr:ADDRESS"
                    window_start DOUBLE PRECISION NOT NULL,
                    failures INT NOT NULL
                )
                """
            ]
        ),
    ]

    /// Applies the missing migrations over one short-lived connection. Replicas starting
    /// together queue on an advisory lock, so each step runs exactly once.
    /// Throws when the database cannot be reached.
    public static func migrate(location: PostgresLocation, logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(
            on: PostgresClient.defaultEventLoopGroup.next(),
            configuration: try location.connectionConfiguration(),
            id: 1,
            logger: logger
        ).get()
        do {
            try await migrate(on: connection, schema: location.schema, logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static func migrate(on connection: PostgresConnection, schema: String?, logger: Logger) async throws {
        // Session-scoped, released when the connection closes: replicas starting together
        // (even CREATE ... IF NOT EXISTS races on the catalog) take turns.
        try await connection.query("SELECT pg_advisory_lock(7246001)", logger: logger)
        if let schema {
            // The name was checked to be [a-z0-9_] when the URL was parsed.
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger: logger)
        }
        try await connection.query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)",
            logger: logger
        )
        for migration in migrations {
            try await connection.withTransaction(logger: logger) { connection in
                let version = migration.version
                let done = try await connection.query("SELECT 1 FROM schema_migrations WHERE version = \(version)", logger: logger).collect()
                guard done.isEmpty else { return }
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                let now = Date().timeIntervalSince1970
                try await connection.query("INSERT INTO schema_migrations (version, applied_at) VALUES (\(version), \(now))", logger: logger)
            }
        }
    }
}
