import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import ServiceSupport
import Synchronization
import Testing

@testable import IssuerCore

@Suite("Support pieces")
struct SupportTests {
    @Test func jsonLogLinesAreOneObjectEach() throws {
        let lines = Mutex<[Data]>([])
        var logger = Logger(label: "issuer") { JSONLogHandler(label: $0, write: { data in lines.withLock { $0.append(data) } }) }
        logger.logLevel = .info
        logger.debug("hidden")
        logger.info("login", metadata: ["sub": "user1", "jti": "abc\"def"])
        let captured = lines.withLock { $0 }
        #expect(captured.count == 1)
        let line = try #require(captured.first)
        #expect(line.last == 0x0A)
        #expect(line.filter { $0 == 0x0A }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
        #expect(object["msg"] as? String == "login")
        #expect(object["level"] as? String == "info")
        #expect(object["label"] as? String == "issuer")
        #expect(object["sub"] as? String == "user1")
        #expect(object["jti"] as? String == "abc\"def")
        #expect(object["ts"] is String)
    }

    @Test func purgeKeepsTheFeedCursorGrowing() async throws {
        let directory = try TempDirectory()
        let store = try SQLiteIssuerStore(path: directory.database)
        try await store.revokeAccessToken(jti: "a", expiresAt: 100)
        try await store.revokeAccessToken(jti: "b", expiresAt: 500)
        try await store.revokeAccessToken(jti: "b", expiresAt: 500)  // once only
        var feed = try await store.revocations(after: 0, now: 50)
        #expect(feed.entries.map(\.jti) == ["a", "b"])
        #expect(feed.cursor == 2)
        feed = try await store.revocations(after: 0, now: 200)  // a expired
        #expect(feed.entries.map(\.jti) == ["b"])
        let grant = RefreshGrant(family: "f", subject: "u", clientID: "login", scope: "api", roles: [])
        try await store.storeRefreshToken(hash: "old", grant: grant, parent: nil, expiresAt: 150, now: 0)
        try await store.purgeExpired(now: 600)
        feed = try await store.revocations(after: 0, now: 600)
        #expect(feed.entries.isEmpty)
        #expect(feed.cursor == 2)
        #expect(try await store.refresh(StoreConformance.rotation("old", "new", expiresAt: 700, now: 600)) == .invalid)
        try await store.revokeAccessToken(jti: "c", expiresAt: 900)
        feed = try await store.revocations(after: 2, now: 600)
        #expect(feed.entries.map(\.jti) == ["c"])
        #expect(feed.cursor == 3)  // never reuses a purged number
    }

    @Test func wrongMethodOnAKnownPathIs405() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            var response = try await client.get("/login")
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == "POST")
            #expect(try response.oauthError() == "method_not_allowed")
            response = try await client.execute(uri: "/.well-known/jwks.json", method: .post)
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == "GET, HEAD")
        }
    }
}
