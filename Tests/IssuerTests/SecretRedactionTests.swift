import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport
import Synchronization
import Testing

@testable import IssuerCore

@Suite("No password in any log line")
struct SecretRedactionTests {
    static let storeURL = "postgres://issuer:s3cretpw@db.example:5432/issuer?sslmode=disable"

    @Test func configurationAndServiceDescriptionsRedact() throws {
        let directory = try TempDirectory()
        var configuration = testConfiguration(directory, clock: ManualClock())
        configuration.storeURL = Self.storeURL
        #expect("\(configuration)".contains("postgres://issuer:***@db.example:5432/issuer"))
        #expect(!"\(configuration)".contains("s3cretpw"))
        #expect(!String(reflecting: configuration).contains("s3cretpw"))
        let service = try self.maintenanceService(configuration)
        #expect("\(service)" == "IssuerMaintenanceService")
    }

    /// swift-service-lifecycle logs every service it starts at debug level; with a plain
    /// JSON handler (no redaction) the lines must not carry the password.
    @Test func serviceGroupDebugLinesCarryNoPassword() async throws {
        let directory = try TempDirectory()
        var configuration = testConfiguration(directory, clock: ManualClock())
        configuration.storeURL = Self.storeURL
        let service = try self.maintenanceService(configuration)
        let lines = LockedLines()
        var logger = Logger(label: "issuer") { label in JSONLogHandler(label: label) { data in lines.append(String(decoding: data, as: UTF8.self)) } }
        logger.logLevel = .trace
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let deadline = ContinuousClock.now + .seconds(10)
            while !lines.all.contains(where: { $0.contains("Starting service") }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(lines.all.contains { $0.contains("Starting service") && $0.contains("IssuerMaintenanceService") })
        for line in lines.all {
            #expect(!line.contains("s3cretpw"), "\(line)")
        }
    }

    func maintenanceService(_ configuration: IssuerConfiguration) throws -> IssuerMaintenanceService {
        let keyRing = KeyRing(
            directory: KeyDirectory(path: configuration.keysDirectory, keyBits: configuration.keyBits),
            policy: configuration.lifecyclePolicy,
            clock: configuration.clock,
            logger: testLogger
        )
        let store = try SQLiteIssuerStore(path: configuration.databasePath)
        return IssuerMaintenanceService(keyRing: keyRing, store: store, configuration: configuration, hangups: nil, logger: testLogger)
    }
}
