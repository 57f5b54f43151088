import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import IssuerCore

/// `/readyz` tells the truth about the store (issue 19): the SQLite file still the one
/// opened and writable, the database's own message in the reason and in the log.
@Suite("Issuer readiness")
struct ReadinessTests {
    /// Every line with the call's metadata, e.g. `not ready: ... error.message=...`.
    struct RecordingHandler: LogHandler {
        let lines: LockedLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            self.lines.append("\(event.level) \(event.message)" + (rendered.isEmpty ? "" : " " + rendered))
        }
    }

    static func recordingLogger(_ lines: LockedLines) -> Logger {
        var logger = Logger(label: "issuer") { _ in RecordingHandler(lines: lines) }
        logger.logLevel = .info
        return logger
    }

    @Test func deletedDatabaseFileMakesReadyz503WithTheReason() async throws {
        let fixture = try await IssuerFixture()
        let path = fixture.directory.database
        let app = try await makeIssuerApplication(configuration: fixture.configuration, logger: testLogger)
        try await app.test(.live) { client in
            #expect(try await client.get("/readyz").status == .ok)
            try FileManager.default.removeItem(atPath: path)
            let ready = try await client.get("/readyz")
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.headers[.contentType] == "application/json")
            let body = try ready.jsonObject()
            #expect(body["status"] as? String == "not ready")
            let reason = try #require(body["reason"] as? String)
            #expect(reason.contains("gone"))
            #expect(reason.contains(path))
            // Liveness and the other routes still answer.
            #expect(try await client.get("/healthz").status == .ok)
            #expect(try await client.get("/.well-known/jwks.json").status == .ok)
        }
    }

    @Test func replacedDatabaseFileMakesReadyz503() async throws {
        let fixture = try await IssuerFixture()
        let path = fixture.directory.database
        let app = try await makeIssuerApplication(configuration: fixture.configuration, logger: testLogger)
        try await app.test(.live) { client in
            #expect(try await client.get("/readyz").status == .ok)
            // What a restore from a backup (or the CLI on a deleted file) does: a new file, same name.
            let other = fixture.directory.path + "/other.sqlite"
            _ = try SQLiteIssuerStore(path: other)
            #expect(rename(other, path) == 0)
            let ready = try await client.get("/readyz")
            #expect(ready.status == .serviceUnavailable)
            let reason = try #require(try ready.jsonObject()["reason"] as? String)
            #expect(reason.contains("replaced"))
            #expect(try await client.get("/healthz").status == .ok)
        }
    }

    @Test func storeErrorsCarryTheDatabaseMessageInReadyzAndTheLog() async throws {
        let fixture = try await IssuerFixture()
        let lines = LockedLines()
        let app = try await makeIssuerApplication(configuration: fixture.configuration, logger: Self.recordingLogger(lines))
        try await app.test(.live) { client in
            #expect(try await client.login("user1", "password1")["access_token"] != nil)
            // Break the store from outside, as a damaged database would be: its tables vanish.
            let queue = try DatabaseQueue(path: fixture.directory.database)
            try await queue.write { db in
                try db.execute(sql: "DROP TABLE readiness_probe; DROP TABLE users")
            }
            let ready = try await client.get("/readyz")
            #expect(ready.status == .serviceUnavailable)
            let reason = try #require(try ready.jsonObject()["reason"] as? String)
            #expect(reason.contains("no such table: readiness_probe"), "\(reason)")

            let login = try await client.postJSON("/login", #"{"username":"user1","password":"password1"}"#)
            #expect(login.status == .internalServerError)
            #expect(try login.oauthError() == "server_error")
            #expect(!login.text.contains("users"))
            let logged = lines.all.filter { $0.contains("unexpected error") }
            #expect(logged.contains { $0.contains("no such table: users") }, "\(lines.all)")
            // Never the password of the request.
            #expect(!lines.all.contains { $0.contains("password1") })
            // The service goes on answering.
            #expect(try await client.get("/healthz").status == .ok)
        }
    }

    @Test func aStoreCreatedAtStartIsAWarningNamingThePath() async throws {
        let directory = try TempDirectory()
        let configuration = testConfiguration(directory, clock: ManualClock())
        let lines = LockedLines()
        _ = try await makeIssuerApplication(configuration: configuration, logger: Self.recordingLogger(lines))
        #expect(lines.all.contains { $0.hasPrefix("warning ") && $0.contains("created a new, empty one") && $0.contains(directory.database) })

        // A second start on the same file: nothing to warn about.
        let again = LockedLines()
        _ = try await makeIssuerApplication(configuration: configuration, logger: Self.recordingLogger(again))
        #expect(!again.all.contains { $0.contains("created a new, empty one") })
    }
}
