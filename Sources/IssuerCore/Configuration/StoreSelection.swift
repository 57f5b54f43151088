import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport

/// Where the Issuer keeps its state: `--store` (`ISSUER_STORE`) is a SQLite path or a
/// `postgres://` URL; without it, `--data` (the SQLite file) as before.
enum StoreSelection {
    /// Applies a `--store` value: a postgres URL selects PostgreSQL, anything else is the SQLite path.
    static func apply(_ text: String?, to configuration: inout IssuerConfiguration) throws {
        guard let text else { return }
        guard !text.isEmpty else {
            throw ConfigurationError(option: "--store", value: text, isNot: "a SQLite path or a postgres:// URL")
        }
        if PostgresLocation.isPostgresURL(text) {
            _ = try PostgresLocation(url: text)
            configuration.storeURL = text
        } else {
            configuration.databasePath = text
            configuration.storeURL = nil
        }
    }
}

/// An opened store, and what must run beside it (the PostgreSQL pool) and be shared (login failures).
struct OpenedStore {
    var store: any IssuerStore
    var service: (any Service)?
    var sharedLoginFailures: (any SharedLoginFailures)?
    /// For the start-up log line: never the password.
    var description: String
    /// True when no SQLite file was there and opening created a new, empty store.
    var createdFile = false
}

enum IssuerStores {
    /// Opens and migrates the configured store. PostgreSQL: waits up to `connectTimeout` for the
    /// database (replicas may start before it), and returns the pool as a service to run.
    static func open(_ configuration: IssuerConfiguration, logger: Logger, connectTimeout: Duration = .seconds(30)) async throws -> OpenedStore {
        if let url = configuration.storeURL {
            let location = try PostgresLocation(url: url)
            let deadline = ContinuousClock.now + connectTimeout
            while true {
                do {
                    try await PostgresIssuerStore.migrate(location: location, logger: logger)
                    break
                } catch {
                    guard ContinuousClock.now < deadline else {
                        throw ConfigurationError(
                            option: "--store",
                            problem: "cannot use \(location.description): \(String(reflecting: error))"
                        )
                    }
                    logger.notice("waiting for PostgreSQL", metadata: ["store": .string(location.description)])
                    try await Task.sleep(for: .seconds(1))
                }
            }
            let store = PostgresIssuerStore(location: location, logger: logger)
            return OpenedStore(store: store, service: store, sharedLoginFailures: store, description: location.description)
        }
        do {
            let store = try SQLiteIssuerStore(path: configuration.databasePath)
            return OpenedStore(
                store: store,
                service: nil,
                sharedLoginFailures: nil,
                description: configuration.databasePath,
                createdFile: store.createdFile
            )
        } catch {
            throw ConfigurationError(option: "--data", problem: "cannot open \(configuration.databasePath): \(error)")
        }
    }

    /// For the CLI subcommands: the store, with the PostgreSQL pool running in the background
    /// until the process ends.
    static func openForCommand(_ configuration: IssuerConfiguration) async throws -> any IssuerStore {
        // The pool starts in a detached task: its "run() not called yet" warning on the first
        // query is expected here (the query waits for it), so only errors are shown.
        let logger = LoggingSetup(level: .error, format: configuration.logFormat).makeLogger(label: "issuer")
        let opened = try await open(configuration, logger: logger, connectTimeout: .seconds(5))
        if opened.createdFile {
            StandardError.writeLine("issuer: warning: no store was at \(configuration.databasePath): created a new, empty one")
        }
        if let service = opened.service {
            Task { try? await service.run() }
        }
        return opened.store
    }
}
