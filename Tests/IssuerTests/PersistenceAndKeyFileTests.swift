import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SharedJWT
import Testing

@testable import IssuerCore

@Suite("Key files and persistence")
struct PersistenceAndKeyFileTests {
    @Test func firstStartCreatesActiveAndNextKeysWithMode0600() async throws {
        let directory = try TempDirectory()
        let clock = ManualClock()
        let configuration = testConfiguration(directory, clock: clock)
        _ = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.keys).filter { $0.hasSuffix(".pem") }
        #expect(names.count == 2)
        for name in names {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.keys + "/" + name)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let pem = try String(contentsOfFile: directory.keys + "/" + name, encoding: .utf8)
            #expect(pem.hasPrefix("-----BEGIN " + "PRIVATE KEY-----"))  // label in two pieces: no committed file looks like a key
        }
        let lifecycle = try JSONDecoder().decode(KeyLifecycle.self, from: Data(contentsOf: URL(fileURLWithPath: directory.keys + "/keyset.json")))
        #expect(lifecycle.keys.map(\.state).sorted { $0.rawValue < $1.rawValue } == [.active, .next])
    }

    @Test func refusesGroupOrOtherReadableKeyNamingTheFile() async throws {
        let directory = try TempDirectory()
        let configuration = testConfiguration(directory, clock: ManualClock())
        _ = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.keys).first { $0.hasSuffix(".pem") })
        let file = directory.keys + "/" + name
        for mode in [0o640, 0o604, 0o644] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
            do {
                _ = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
                Issue.record("started with a key of mode \(String(mode, radix: 8))")
            } catch let error as KeyDirectoryError {
                #expect(error.description.contains(file))
            }
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        _ = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
    }

    @Test func stateSurvivesARestart() async throws {
        let directory = try TempDirectory()
        let clock = ManualClock()
        let configuration = testConfiguration(directory, clock: clock)
        try await addUser(configuration, "user1", password: "password1", roles: ["user"])
        try await addClient(configuration, "svc", secret: "s3cret", scopes: ["api"])

        struct Saved: Sendable {
            var kid: String
            var refresh: String
            var revokedJTI: String
            var etag: String
        }
        let first = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        let saved = try await first.test(.router) { client -> Saved in
            let session = try await client.login("user1", "password1")
            let refresh = try string(session, "refresh_token")
            let other = try await client.login("user1", "password1")
            let otherAccess = try string(other, "access_token")
            #expect(try await client.execute(uri: "/logout", method: .post, headers: bearer(otherAccess)).status == .noContent)
            let header = try decodeJWT(otherAccess).header
            let jti = try string(decodeJWT(otherAccess).payload, "jti")
            let etag = try #require(try await client.get("/.well-known/jwks.json").headers[.eTag])
            return Saved(kid: try string(header, "kid"), refresh: refresh, revokedJTI: jti, etag: etag)
        }

        clock.advance(10)
        let second = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        try await second.test(.router) { client in
            // Same keys: same kid and the same JWK Set.
            let session = try await client.login("user1", "password1")
            #expect(try decodeJWT(try string(session, "access_token")).header["kid"] as? String == saved.kid)
            #expect(try await client.get("/.well-known/jwks.json").headers[.eTag] == saved.etag)
            // The refresh token still works, once.
            let response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(saved.refresh)"}"#)
            #expect(response.status == .ok)
            // The revocation is still on the feed.
            let feed = try await client.get("/revocations").jsonObject()
            #expect((feed["revoked"] as? [[String: Any]])?.contains { $0["jti"] as? String == saved.revokedJTI } == true)
            // The client still authenticates.
            let basic: HTTPFields = [.authorization: "Basic " + Data("svc:s3cret".utf8).base64EncodedString()]
            #expect(try await client.postForm("/token", "grant_type=client_credentials", headers: basic).status == .ok)
        }
    }

    @Test func serverPicksUpCLIKeyChangesAndAnnouncesEmergencyRetirement() async throws {
        let directory = try TempDirectory()
        let clock = ManualClock()
        var configuration = testConfiguration(directory, clock: clock)
        // The periodic loop is far away: the request path itself must notice the change.
        configuration.keyReloadInterval = .seconds(60)
        try await addUser(configuration, "user1", password: "password1", roles: ["user"])
        let keysPath = configuration.keysDirectory
        let app = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        try await app.test(.router) { client in
            let session = try await client.login("user1", "password1")
            let kid = try #require(try decodeJWT(try string(session, "access_token")).header["kid"] as? String)
            // What `issuer keys retire KID` does, from another "process".
            let directoryHandle = KeyDirectory(path: keysPath, keyBits: 2048)
            let now = clock.now
            _ = try directoryHandle.update { lifecycle, makeKey in
                try lifecycle.retire(kid: kid, freshNextKID: try makeKey(), now: now)
            }
            // Requests re-check keys/ when their view is over 250 ms old.
            try await Task.sleep(for: .milliseconds(300))
            let feed = try await client.get("/revocations").jsonObject()
            #expect(feed["retired_kids"] as? [String] == [kid])
            let jwks = try await client.get("/.well-known/jwks.json").jsonObject()
            #expect((jwks["keys"] as? [[String: Any]])?.contains { $0["kid"] as? String == kid } == false)
            let fresh = try await client.login("user1", "password1")
            #expect(try decodeJWT(try string(fresh, "access_token")).header["kid"] as? String != kid)
        }
    }

    @Test func scheduledRotationAndAutoRetireRunInTheServer() async throws {
        let directory = try TempDirectory()
        let clock = ManualClock()
        var configuration = testConfiguration(directory, clock: clock)
        configuration.rotateEvery = 100
        configuration.keyReloadInterval = .milliseconds(30)
        try await addUser(configuration, "user1", password: "password1", roles: ["user"])
        let app = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        try await app.test(.router) { client in
            let first = try decodeJWT(try string(try await client.login("user1", "password1"), "access_token")).header["kid"] as? String
            let firstKid = try #require(first)
            /// Polls the JWK Set until `condition` holds (the maintenance loop runs every 30 ms).
            func waitForKeys(_ condition: ([String]) -> Bool) async throws -> [String] {
                var kids: [String] = []
                for _ in 0..<150 {
                    let keys = try await client.get("/.well-known/jwks.json").jsonObject()["keys"] as? [[String: Any]] ?? []
                    kids = keys.compactMap { $0["kid"] as? String }
                    if condition(kids) { return kids }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return kids
            }
            clock.advance(100)
            let rotated = try await waitForKeys { $0.count == 3 }
            #expect(rotated.count == 3)
            let second = try decodeJWT(try string(try await client.login("user1", "password1"), "access_token")).header["kid"] as? String
            #expect(second != firstKid)
            #expect(rotated.contains(firstKid))  // retiring, still published
            // access-ttl (300) + jwks-max-age (60) after it stopped signing, it leaves the set.
            clock.advance(359)
            try await Task.sleep(for: .milliseconds(200))
            let stillPublished = try await client.get("/.well-known/jwks.json").jsonObject()["keys"] as? [[String: Any]] ?? []
            #expect(stillPublished.contains { $0["kid"] as? String == firstKid })
            clock.advance(1)
            let final = try await waitForKeys { !$0.contains(firstKid) }
            #expect(!final.contains(firstKid))
        }
    }

    @Test func replicasSharingKeysAgree() async throws {
        let directory = try TempDirectory()
        let clock = ManualClock()
        let configuration = testConfiguration(directory, clock: clock)
        try await addUser(configuration, "boss", password: "bosspass", roles: ["admin"])
        let first = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        let second = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        try await first.test(.router) { one in
            try await second.test(.router) { two in
                let etag = try await one.get("/.well-known/jwks.json").headers[.eTag]
                #expect(etag != nil)
                #expect(try await two.get("/.well-known/jwks.json").headers[.eTag] == etag)
                // A token from one replica is good for the other (same keys, same store).
                let admin = try await one.login("boss", "bosspass")
                let access = try string(admin, "access_token")
                #expect(try await two.get("/admin/keys", headers: bearer(access)).status == .ok)
                // A rotation through one replica reaches the other within 250 ms.
                let rotated = try await one.execute(uri: "/admin/keys/rotate?force=true", method: .post, headers: bearer(access))
                #expect(rotated.status == .ok)
                try await Task.sleep(for: .milliseconds(300))
                let newTag = try await one.get("/.well-known/jwks.json").headers[.eTag]
                #expect(newTag != etag)
                #expect(try await two.get("/.well-known/jwks.json").headers[.eTag] == newTag)
                // Logout through one: the other refuses the token too.
                #expect(try await two.execute(uri: "/logout", method: .post, headers: bearer(access)).status == .noContent)
                #expect(try await one.get("/admin/keys", headers: bearer(access)).status == .unauthorized)
            }
        }
    }
}
