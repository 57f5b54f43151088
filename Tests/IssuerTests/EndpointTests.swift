import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SharedJWT
import Synchronization
import Testing

@testable import IssuerCore

/// An Issuer on a fresh temporary directory with user1 (user) and boss (admin).
struct IssuerFixture {
    let directory: TempDirectory
    let clock: ManualClock
    var configuration: IssuerConfiguration

    init(_ adjust: (inout IssuerConfiguration) -> Void = { _ in }) async throws {
        directory = try TempDirectory()
        clock = ManualClock()
        configuration = testConfiguration(directory, clock: clock)
        adjust(&configuration)
        try await addUser(configuration, "user1", password: "password1", roles: ["user"])
        try await addUser(configuration, "boss", password: "bosspass", roles: ["admin", "user"])
        try await addClient(configuration, "svc", secret: "s3cret", scopes: ["api", "reports"])
    }

    func run(_ setup: TestingSetup = .router, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        try await app.test(setup, body)
    }
}

@Suite("Issuer endpoints")
struct EndpointTests {
    // MARK: /login and the token format

    @Test func loginIssuesContractToken() async throws {
        let fixture = try await IssuerFixture()
        let configuration = fixture.configuration
        let clock = fixture.clock
        try await fixture.run { client in
            let response = try await client.postJSON("/login", #"{"username":"user1","password":"password1"}"#)
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "no-store")
            let body = try response.jsonObject()
            #expect(Set(body.keys) == ["access_token", "token_type", "expires_in", "refresh_token", "scope"])
            #expect(body["token_type"] as? String == "Bearer")
            #expect(body["expires_in"] as? Int == 300)
            #expect((body["scope"] as? String)?.isEmpty == false)
            let refresh = try string(body, "refresh_token")
            #expect(try Base64URL.decode(refresh).count == 32)

            let token = try string(body, "access_token")
            let (header, payload) = try decodeJWT(token)
            #expect(Set(header.keys) == ["alg", "typ", "kid"])
            #expect(header["alg"] as? String == "RS256")
            #expect(header["typ"] as? String == "at+jwt")
            // kid is the RFC 7638 thumbprint of a key in the JWK Set.
            let jwks = try await client.get("/.well-known/jwks.json")
            let parsed = try JWKSetPolicy().parse(Array(jwks.body.readableBytesView))
            let kid = try string(header, "kid")
            let key = try #require(parsed.keys[kid])
            #expect(key.thumbprint == kid)

            #expect(Set(payload.keys) == ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "roles"])
            #expect(payload["iss"] as? String == configuration.issuerURL)
            #expect(payload["sub"] as? String == "user1")
            #expect(payload["client_id"] as? String == "login")
            #expect(payload["roles"] as? [String] == ["user"])
            #expect((payload["scope"] as? String)?.isEmpty == false)
            let exp = try #require(payload["exp"] as? Int)
            let iat = try #require(payload["iat"] as? Int)
            #expect(exp - iat == 300)
            #expect(iat == Int(clock.now))
            #expect(payload["nbf"] as? Int == iat)
            #expect(try Base64URL.decode(try string(payload, "jti")).count == 16)

            // And it validates with SharedJWT against the published keys.
            let validator = JWTValidator(
                configuration: .init(issuer: configuration.issuerURL, audience: configuration.audience),
                clock: { clock.now }
            )
            let claims = try validator.validate(token) { parsed.keys[$0] }
            #expect(claims.audience == [configuration.audience])
        }
    }

    @Test func loginAcceptsFormBodies() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            let response = try await client.postForm("/login", "username=boss&password=bosspass")
            #expect(response.status == .ok)
            let token = try string(response.jsonObject(), "access_token")
            #expect(try decodeJWT(token).payload["roles"] as? [String] == ["admin", "user"])
        }
    }

    @Test func loginErrors() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            var response = try await client.postJSON("/login", #"{"username":"user1","password":"nope"}"#)
            #expect(response.status == .unauthorized)
            #expect(try response.oauthError() == "invalid_grant")
            response = try await client.postJSON("/login", #"{"username":"ghost","password":"nope"}"#)
            #expect(response.status == .unauthorized)
            response = try await client.postJSON("/login", #"{"username":"user1""#)
            #expect(response.status == .badRequest)
            #expect(try response.oauthError() == "invalid_request")
            response = try await client.postJSON("/login", #"["user1"]"#)
            #expect(response.status == .badRequest)
            response = try await client.postJSON("/login", #"{"username":"user1"}"#)
            #expect(response.status == .badRequest)
            #expect(try response.jsonObject()["error_description"] as? String == "missing password")
            response = try await client.postJSON("/login", #"{"username":1,"password":"x"}"#)
            #expect(response.status == .badRequest)
            response = try await client.postJSON("/login", #"{"username":"user1","username":"boss","password":"bosspass"}"#)
            #expect(response.status == .badRequest)  // duplicate member
            response = try await client.execute(
                uri: "/login",
                method: .post,
                headers: [.contentType: "text/plain"],
                body: ByteBuffer(string: "user1:password1")
            )
            #expect(response.status == .badRequest)
            #expect(try response.oauthError() == "invalid_request")
            let long = String(repeating: "a", count: 10_000)
            response = try await client.postJSON("/login", #"{"username":"\#(long)","password":"x"}"#)
            #expect(response.status == .badRequest)
            response = try await client.execute(
                uri: "/login",
                method: .post,
                headers: [.contentType: "application/json"],
                body: ByteBuffer(repeating: UInt8(ascii: " "), count: 64 * 1024 + 1)
            )
            #expect(response.status == .contentTooLarge)
            #expect(try response.oauthError() == "invalid_request")
            // Still serving.
            response = try await client.postJSON("/login", #"{"username":"user1","password":"password1"}"#)
            #expect(response.status == .ok)
        }
    }

    @Test func failedLoginsAreRateLimited() async throws {
        let fixture = try await IssuerFixture {
            $0.maxLoginFailures = 3
            $0.loginFailureWindow = 60
        }
        let clock = fixture.clock
        try await fixture.run { client in
            for _ in 0..<3 {
                let response = try await client.postJSON("/login", #"{"username":"user1","password":"bad"}"#)
                #expect(response.status == .unauthorized)
            }
            var response = try await client.postJSON("/login", #"{"username":"user1","password":"password1"}"#)
            #expect(response.status == .tooManyRequests)
            #expect(try response.oauthError() == "too_many_requests")
            let retryAfter = try #require(response.headers[HTTPField.Name("Retry-After")!].flatMap { Int($0) })
            #expect(retryAfter > 0 && retryAfter <= 60)
            clock.advance(61)
            response = try await client.postJSON("/login", #"{"username":"user1","password":"password1"}"#)
            #expect(response.status == .ok)
        }
    }

    @Test func failedLoginsAreRateLimitedPerAddress() async throws {
        let fixture = try await IssuerFixture {
            $0.maxLoginFailures = 100
            $0.maxLoginFailuresPerAddress = 4
        }
        try await fixture.run { client in
            for index in 0..<4 {
                let response = try await client.postJSON("/login", #"{"username":"guess\#(index)","password":"bad"}"#)
                #expect(response.status == .unauthorized)
            }
            let response = try await client.postJSON("/login", #"{"username":"boss","password":"bosspass"}"#)
            #expect(response.status == .tooManyRequests)
            #expect(response.headers[HTTPField.Name("Retry-After")!] != nil)
        }
    }

    // MARK: /token

    @Test func clientCredentialsGrant() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            let basic: HTTPFields = [.authorization: "Basic " + Data("svc:s3cret".utf8).base64EncodedString()]
            var response = try await client.postForm("/token", "grant_type=client_credentials", headers: basic)
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "no-store")
            var body = try response.jsonObject()
            #expect(body["refresh_token"] == nil)
            #expect(body["scope"] as? String == "api reports")
            let token = try string(body, "access_token")
            let payload = try decodeJWT(token).payload
            #expect(payload["sub"] as? String == "svc")
            #expect(payload["client_id"] as? String == "svc")
            #expect(payload["roles"] as? [String] == [])

            response = try await client.postForm("/token", "grant_type=client_credentials&scope=reports", headers: basic)
            body = try response.jsonObject()
            #expect(body["scope"] as? String == "reports")
            response = try await client.postForm("/token", "grant_type=client_credentials&scope=admin", headers: basic)
            #expect(response.status == .badRequest)
            #expect(try response.oauthError() == "invalid_scope")

            let wrong: HTTPFields = [.authorization: "Basic " + Data("svc:wrong".utf8).base64EncodedString()]
            response = try await client.postForm("/token", "grant_type=client_credentials", headers: wrong)
            #expect(response.status == .unauthorized)
            #expect(try response.oauthError() == "invalid_client")
            #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
            response = try await client.postForm("/token", "grant_type=client_credentials")
            #expect(response.status == .unauthorized)
            #expect(try response.oauthError() == "invalid_client")
            response = try await client.postForm("/token", "grant_type=client_credentials", headers: [.authorization: "Basic %%%"])
            #expect(try response.oauthError() == "invalid_client")
            // Guessing secrets is rate limited like guessing passwords (5 per client).
            for _ in 0..<4 { _ = try await client.postForm("/token", "grant_type=client_credentials", headers: wrong) }
            response = try await client.postForm("/token", "grant_type=client_credentials", headers: basic)
            #expect(response.status == .tooManyRequests)
        }
    }

    @Test func tokenEndpointErrors() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            var response = try await client.postForm("/token", "grant_type=password&username=user1&password=password1")
            #expect(response.status == .badRequest)
            #expect(try response.oauthError() == "unsupported_grant_type")
            response = try await client.postForm("/token", "refresh_token=x")
            #expect(try response.oauthError() == "invalid_request")
            response = try await client.postForm("/token", "grant_type=refresh_token")
            #expect(response.status == .badRequest)
            #expect(try response.oauthError() == "invalid_request")
            response = try await client.postForm("/token", "grant_type=refresh_token&refresh_token=unknown")
            #expect(response.status == .badRequest)  // RFC 6749 §5.2
            #expect(try response.oauthError() == "invalid_grant")
            response = try await client.postForm("/token", "grant_type=refresh_token&grant_type=client_credentials")
            #expect(try response.oauthError() == "invalid_request")
            response = try await client.postJSON("/token", #"{"grant_type":"refresh_token"}"#)
            #expect(response.status == .badRequest)
            #expect(try response.oauthError() == "invalid_request")
            response = try await client.postForm("/token", "grant_type=%ZZ")
            #expect(try response.oauthError() == "invalid_request")
        }
    }

    // MARK: Refresh rotation

    @Test func refreshRotatesAndDetectsReuse() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            let first = try await client.login("user1", "password1")
            let r1 = try string(first, "refresh_token")
            var response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(r1)"}"#)
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "no-store")
            let second = try response.jsonObject()
            let r2 = try string(second, "refresh_token")
            #expect(r2 != r1)
            let payload = try decodeJWT(try string(second, "access_token")).payload
            #expect(payload["sub"] as? String == "user1")
            #expect(payload["roles"] as? [String] == ["user"])

            // r2 works through /token too and yields r3.
            response = try await client.postForm("/token", "grant_type=refresh_token&refresh_token=\(r2)")
            #expect(response.status == .ok)
            let r3 = try string(response.jsonObject(), "refresh_token")

            // Replaying r1 revokes the whole session: r3 dies too.
            response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(r1)"}"#)
            #expect(response.status == .unauthorized)
            #expect(try response.oauthError() == "invalid_grant")
            response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(r3)"}"#)
            #expect(response.status == .unauthorized)

            // Another session is untouched.
            let other = try await client.login("user1", "password1")
            let o1 = try string(other, "refresh_token")
            response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(o1)"}"#)
            #expect(response.status == .ok)
        }
    }

    @Test func deletingAUserEndsTheirSessions() async throws {
        let fixture = try await IssuerFixture()
        let configuration = fixture.configuration
        try await fixture.run { client in
            let session = try await client.login("user1", "password1")
            let store = try SQLiteIssuerStore(path: configuration.databasePath)
            let hash = try #require(try await store.user(named: "user1")).passwordHash
            _ = try await store.deleteUser(named: "user1")
            try await store.addUser(UserRecord(name: "user1", passwordHash: hash, roles: ["user", "auditor"], createdAt: 0))
            // Deleting revoked the old session.
            var response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(try string(session, "refresh_token"))"}"#)
            #expect(response.status == .unauthorized)
            let again = try await client.login("user1", "password1")
            #expect(try decodeJWT(try string(again, "access_token")).payload["roles"] as? [String] == ["user", "auditor"])
            _ = try await store.deleteUser(named: "user1")
            response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(try string(again, "refresh_token"))"}"#)
            #expect(response.status == .unauthorized)
        }
    }

    @Test func refreshTokensExpire() async throws {
        let fixture = try await IssuerFixture()
        let clock = fixture.clock
        try await fixture.run { client in
            let first = try await client.login("user1", "password1")
            let r1 = try string(first, "refresh_token")
            clock.advance(3601)
            let response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(r1)"}"#)
            #expect(response.status == .unauthorized)
        }
    }

    @Test func refreshErrors() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            var response = try await client.postJSON("/refresh", #"{}"#)
            #expect(response.status == .badRequest)
            #expect(try response.oauthError() == "invalid_request")
            response = try await client.postJSON("/refresh", #"{"refresh_token":"#)
            #expect(response.status == .badRequest)
            response = try await client.postForm("/refresh", "refresh_token=abc")
            #expect(response.status == .badRequest)
            response = try await client.postJSON("/refresh", #"{"refresh_token":"nope"}"#)
            #expect(response.status == .unauthorized)
            #expect(try response.oauthError() == "invalid_grant")
        }
    }

    @Test func concurrentRefreshesOfOneTokenHaveExactlyOneWinner() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run(.live) { client in
            let first = try await client.login("user1", "password1")
            let r1 = try string(first, "refresh_token")
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await client.postJSON("/refresh", #"{"refresh_token":"\#(r1)"}"#).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .unauthorized }.count == 7)
        }
    }

    @Test func storeRotationRaceHasExactlyOneWinner() async throws {
        let directory = try TempDirectory()
        let store = try SQLiteIssuerStore(path: directory.database)
        let grant = RefreshGrant(family: "f", subject: "u", clientID: "login", scope: "api", roles: [])
        try await store.storeRefreshToken(hash: "h0", grant: grant, parent: nil, expiresAt: 2000, now: 1000)
        let outcomes = try await withThrowingTaskGroup(of: RefreshResult.self) { group in
            for index in 0..<20 {
                group.addTask { try await store.refresh(StoreConformance.rotation("h0", "n\(index)", expiresAt: 2000, now: 1001)) }
            }
            return try await group.reduce(into: [RefreshResult]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .rotated(grant) }.count == 1)
        // The first loser is a replay and revokes the family; later ones find it revoked.
        #expect(outcomes.filter { $0 == .reused(family: "f") }.count >= 1)
        #expect(outcomes.filter { $0 == .reused(family: "f") || $0 == .invalid }.count == 19)
    }

    // MARK: /logout, /revoke, /revocations

    @Test func logoutRevokesSessionAndPublishesJTI() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            let tokens = try await client.login("user1", "password1")
            let access = try string(tokens, "access_token")
            let refresh = try string(tokens, "refresh_token")
            let payload = try decodeJWT(access).payload
            var response = try await client.execute(uri: "/logout", method: .post, headers: bearer(access))
            #expect(response.status == .noContent)
            // The session's refresh token is dead.
            response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(refresh)"}"#)
            #expect(response.status == .unauthorized)
            // The jti is on the feed until exp.
            response = try await client.get("/revocations")
            #expect(response.status == .ok)
            let feed = try response.jsonObject()
            let revoked = try #require(feed["revoked"] as? [[String: Any]])
            #expect(revoked.count == 1)
            #expect(revoked.first?["jti"] as? String == payload["jti"] as? String)
            #expect(revoked.first?["exp"] as? Int == payload["exp"] as? Int)
            #expect(feed["retired_kids"] as? [String] == [])
            let cursor = try #require(feed["cursor"] as? Int)
            #expect(cursor >= 1)
            response = try await client.get("/revocations?after=\(cursor)")
            #expect(try response.jsonObject()["revoked"] as? [Any] != nil)
            #expect((try response.jsonObject()["revoked"] as? [Any])?.isEmpty == true)
            #expect(try response.jsonObject()["cursor"] as? Int == cursor)
            // The revoked access token no longer logs out (401).
            response = try await client.execute(uri: "/logout", method: .post, headers: bearer(access))
            #expect(response.status == .unauthorized)
        }
    }

    @Test func logoutWithRefreshTokenBody() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            let a = try await client.login("user1", "password1")
            let b = try await client.login("user1", "password1")
            let accessA = try string(a, "access_token")
            let refreshB = try string(b, "refresh_token")
            var response = try await client.postJSON("/logout", #"{"refresh_token":"\#(refreshB)"}"#, headers: bearer(accessA))
            #expect(response.status == .noContent)
            response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(refreshB)"}"#)
            #expect(response.status == .unauthorized)
        }
    }

    @Test func logoutErrors() async throws {
        let fixture = try await IssuerFixture()
        let clock = fixture.clock
        try await fixture.run { client in
            var response = try await client.execute(uri: "/logout", method: .post)
            #expect(response.status == .unauthorized)
            #expect(try response.oauthError() == "invalid_token")
            response = try await client.execute(uri: "/logout", method: .post, headers: bearer("not.a.jwt"))
            #expect(response.status == .unauthorized)
            response = try await client.execute(uri: "/logout", method: .post, headers: [.authorization: "Basic abc"])
            #expect(response.status == .unauthorized)
            let tokens = try await client.login("user1", "password1")
            let access = try string(tokens, "access_token")
            response = try await client.postJSON("/logout", "{bad", headers: bearer(access))
            #expect(response.status == .badRequest)
            clock.advance(301)
            response = try await client.execute(uri: "/logout", method: .post, headers: bearer(access))
            #expect(response.status == .unauthorized)
        }
    }

    @Test func revokeEndpoint() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            let tokens = try await client.login("user1", "password1")
            let access = try string(tokens, "access_token")
            let refresh = try string(tokens, "refresh_token")
            var response = try await client.postForm("/revoke", "token=\(refresh)&token_type_hint=refresh_token")
            #expect(response.status == .ok)
            response = try await client.postJSON("/refresh", #"{"refresh_token":"\#(refresh)"}"#)
            #expect(response.status == .unauthorized)
            response = try await client.postForm("/revoke", "token=\(access)")
            #expect(response.status == .ok)
            let jti = try decodeJWT(access).payload["jti"] as? String
            let feed = try await client.get("/revocations").jsonObject()
            #expect((feed["revoked"] as? [[String: Any]])?.contains { $0["jti"] as? String == jti } == true)
            // Unknown tokens: 200 (RFC 7009); an unknown hint is ignored.
            response = try await client.postForm("/revoke", "token=whatever")
            #expect(response.status == .ok)
            response = try await client.postForm("/revoke", "token=whatever&token_type_hint=saml")
            #expect(response.status == .ok)
            // Malformed: 400.
            response = try await client.postForm("/revoke", "token_type_hint=access_token")
            #expect(response.status == .badRequest)
            #expect(try response.oauthError() == "invalid_request")
            response = try await client.postJSON("/revoke", #"{"token":"x"}"#)
            #expect(response.status == .badRequest)
        }
    }

    @Test func revocationFeedRejectsBadCursorsAndDropsExpiredEntries() async throws {
        let fixture = try await IssuerFixture()
        let clock = fixture.clock
        try await fixture.run { client in
            for bad in ["x", "-1", "1.5", "", "99999999999999999999999"] {
                let response = try await client.get("/revocations?after=\(bad)")
                #expect(response.status == .badRequest, "cursor \(bad)")
                #expect(try response.oauthError() == "invalid_request")
            }
            let tokens = try await client.login("user1", "password1")
            let access = try string(tokens, "access_token")
            _ = try await client.execute(uri: "/logout", method: .post, headers: bearer(access))
            #expect((try await client.get("/revocations").jsonObject()["revoked"] as? [Any])?.count == 1)
            clock.advance(301)
            #expect((try await client.get("/revocations").jsonObject()["revoked"] as? [Any])?.count == 0)
        }
    }

    // MARK: JWKS and discovery

    @Test func jwksCachingHeadersAndConditionalGet() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            let response = try await client.get("/.well-known/jwks.json")
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "public, max-age=60")
            let etag = try #require(response.headers[.eTag])
            #expect(etag.hasPrefix("\"") && !etag.hasPrefix("W/"))
            let object = try response.jsonObject()
            let keys = try #require(object["keys"] as? [[String: Any]])
            #expect(keys.count == 2)  // active + next
            for key in keys {
                #expect(Set(key.keys) == ["kty", "use", "alg", "kid", "n", "e"])
                #expect(key["kty"] as? String == "RSA")
                #expect(key["use"] as? String == "sig")
                #expect(key["alg"] as? String == "RS256")
            }
            let notModified = try await client.get("/.well-known/jwks.json", headers: [.ifNoneMatch: etag])
            #expect(notModified.status == .notModified)
            #expect(notModified.body.readableBytes == 0)
            #expect(notModified.headers[.eTag] == etag)
            let other = try await client.get("/.well-known/jwks.json", headers: [.ifNoneMatch: "\"other\""])
            #expect(other.status == .ok)
        }
    }

    @Test func discoveryAtBothWellKnownPaths() async throws {
        let fixture = try await IssuerFixture { $0.issuerURL = "https://login.example.test" }
        try await fixture.run { client in
            for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
                let response = try await client.get(path)
                #expect(response.status == .ok)
                let metadata = try response.jsonObject()
                #expect(metadata["issuer"] as? String == "https://login.example.test")
                #expect(metadata["jwks_uri"] as? String == "https://login.example.test/.well-known/jwks.json")
                #expect(metadata["token_endpoint"] as? String == "https://login.example.test/token")
                #expect(metadata["revocation_endpoint"] as? String == "https://login.example.test/revoke")
                #expect(metadata["grant_types_supported"] as? [String] == ["refresh_token", "client_credentials"])
                #expect(metadata["token_endpoint_auth_methods_supported"] as? [String] == ["client_secret_basic"])
                #expect(metadata["id_token_signing_alg_values_supported"] as? [String] == ["RS256"])
            }
            let tokens = try await client.login("user1", "password1")
            let payload = try decodeJWT(try string(tokens, "access_token")).payload
            #expect(payload["iss"] as? String == "https://login.example.test")
        }
    }

    // MARK: Admin

    @Test func adminKeysRequiresAdminRole() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            var response = try await client.get("/admin/keys")
            #expect(response.status == .unauthorized)
            let user = try await client.login("user1", "password1")
            response = try await client.get("/admin/keys", headers: bearer(try string(user, "access_token")))
            #expect(response.status == .forbidden)
            #expect(try response.oauthError() == "insufficient_scope")
            let admin = try await client.login("boss", "bosspass")
            response = try await client.get("/admin/keys", headers: bearer(try string(admin, "access_token")))
            #expect(response.status == .ok)
            #expect(!response.text.contains("\"d\""))
            let keys = try #require(try response.jsonObject()["keys"] as? [[String: Any]])
            #expect(keys.map { $0["state"] as? String }.sorted { ($0 ?? "") < ($1 ?? "") } == ["active", "next"])
            for key in keys {
                #expect(key["kid"] is String)
                #expect(key["published_at"] is Int)
            }
        }
    }

    @Test func adminRotateFollowsTheRules() async throws {
        let fixture = try await IssuerFixture()
        let clock = fixture.clock
        try await fixture.run { client in
            let admin = try await client.login("boss", "bosspass")
            let adminToken = try string(admin, "access_token")
            let oldKid = try string(decodeJWT(adminToken).header, "kid")
            let before = try await client.get("/.well-known/jwks.json")
            let etag = try #require(before.headers[.eTag])

            var response = try await client.execute(uri: "/admin/keys/rotate", method: .post, headers: bearer(adminToken))
            #expect(response.status == .conflict)
            #expect(try response.oauthError() == "rotation_too_early")
            #expect(response.headers[HTTPField.Name("Retry-After")!] == "60")

            let user = try await client.login("user1", "password1")
            response = try await client.execute(
                uri: "/admin/keys/rotate",
                method: .post,
                headers: bearer(try string(user, "access_token"))
            )
            #expect(response.status == .forbidden)

            clock.advance(60)
            response = try await client.execute(uri: "/admin/keys/rotate", method: .post, headers: bearer(adminToken))
            #expect(response.status == .ok)
            let keys = try #require(try response.jsonObject()["keys"] as? [[String: Any]])
            #expect(keys.first { $0["kid"] as? String == oldKid }?["state"] as? String == "retiring")

            // New tokens are signed by the former next key; the JWK Set changed (3 keys now).
            let fresh = try await client.login("user1", "password1")
            let newKid = try decodeJWT(try string(fresh, "access_token")).header["kid"] as? String
            #expect(newKid != oldKid)
            let after = try await client.get("/.well-known/jwks.json")
            #expect(after.headers[.eTag] != etag)
            #expect((try after.jsonObject()["keys"] as? [Any])?.count == 3)

            // Forced rotation right away.
            response = try await client.execute(uri: "/admin/keys/rotate?force=true", method: .post, headers: bearer(adminToken))
            #expect(response.status == .ok)
            response = try await client.execute(uri: "/admin/keys/rotate?force=maybe", method: .post, headers: bearer(adminToken))
            #expect(response.status == .badRequest)
        }
    }

    // MARK: Health, metrics, unknown routes

    @Test func healthReadinessMetricsAndNotFound() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run { client in
            #expect(try await client.get("/healthz").status == .ok)
            let ready = try await client.get("/readyz")
            #expect(ready.status == .ok)
            #expect(try ready.jsonObject()["status"] as? String == "ready")
            _ = try await client.login("user1", "password1")
            let metrics = try await client.get("/metrics")
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(metrics.text.contains("issuer_tokens_issued_total"))
            let missing = try await client.get("/nope")
            #expect(missing.status == .notFound)
            #expect(try missing.oauthError() == "not_found")
        }
    }

    @Test func liveServerReportsItsPort() async throws {
        let fixture = try await IssuerFixture()
        let port = Mutex<Int?>(nil)
        let app = try await makeIssuerApplication(configuration: fixture.configuration, logger: testLogger) { bound in
            port.withLock { $0 = bound }
        }
        try await app.test(.live) { client in
            #expect(try await client.get("/healthz").status == .ok)
            let bound = try #require(port.withLock { $0 })
            #expect(bound > 0)
            #expect(bound == client.port)
        }
    }
}
