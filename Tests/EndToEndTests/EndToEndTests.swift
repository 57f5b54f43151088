import CurlClient
import Foundation
import SharedJWT
import Testing

/// Both real servers on loopback; the ResourceAPI fetches the Issuer's keys over HTTP
/// through libcurl. Serialized: each test owns two servers and their timing.
@Suite(.serialized) struct EndToEndTests {
    @Test func loginThenGreet() async throws {
        let stack = try await Stack()
        try await stack.start()
        defer { Task { await stack.stop() } }

        let tokens = try await stack.login("user1", "password1")
        let greet = try await stack.greet(tokens.access)
        #expect(greet.status == 200)
        #expect(String(decoding: greet.body, as: UTF8.self) == "hi user1!")

        let me = try JSONValue.parse(try await stack.get(stack.resourceURL + "/api/me", token: tokens.access).body)
        #expect(me["sub"]?.stringValue == "user1")
        #expect(me["iss"]?.stringValue == stack.issuerURL)

        let admin = try await stack.get(stack.resourceURL + "/api/admin/greet", token: tokens.access)
        #expect(admin.status == 403)
        #expect(admin.headers["WWW-Authenticate"]?.contains(#"error="insufficient_scope""#) == true)
        let adminTokens = try await stack.login("admin", "admin-password")
        let adminGreet = try await stack.get(stack.resourceURL + "/api/admin/greet", token: adminTokens.access)
        #expect(String(decoding: adminGreet.body, as: UTF8.self) == "hi admin admin!")

        // The ResourceAPI knows exactly the kids the Issuer publishes.
        let jwks = try JWKSetPolicy().parse(try await stack.get(stack.issuerURL + "/.well-known/jwks.json").body)
        let ready = try await stack.readiness()
        #expect(Set(ready["kids"]?.arrayValue?.compactMap(\.stringValue) ?? []) == Set(jwks.keys.keys))
        #expect(jwks.keys[try Stack.kid(of: tokens.access)] != nil)
    }

    @Test func rotationIsPickedUpWithoutARestart() async throws {
        let stack = try await Stack()
        try await stack.start()
        defer { Task { await stack.stop() } }

        let admin = try await stack.login("admin", "admin-password")
        let before = try await stack.login("user1", "password1")
        let rotate = try await stack.postJSON(stack.issuerURL + "/admin/keys/rotate?force=true", "{}", token: admin.access)
        #expect(rotate.status == 200)

        let after = try await stack.login("user1", "password1")
        #expect(try Stack.kid(of: after.access) != Stack.kid(of: before.access))
        // The new active key was the published `next` key, so it is accepted at once.
        #expect(try await stack.greet(after.access).status == 200)
        // The old key is `retiring`: still published, its tokens still good.
        #expect(try await stack.greet(before.access).status == 200)
    }

    @Test func emergencyRetireBitesWithinThePollInterval() async throws {
        let stack = try await Stack(jwksMaxAge: 3600, revocationPoll: .milliseconds(300))
        try await stack.start()
        defer { Task { await stack.stop() } }

        let tokens = try await stack.login("user1", "password1")
        #expect(try await stack.greet(tokens.access).status == 200)
        let kid = try Stack.kid(of: tokens.access)

        try await stack.issuerCLI(["keys", "retire", "--", kid])
        // From the moment the CLI has retired the key (its own start-up is not the promise's).
        let retiredAt = Date()
        // The Issuer re-reads keys/ every 200 ms here; the ResourceAPI polls every 300 ms.
        try await waitUntil("the retired kid is refused", timeout: 0.2 + 0.3 + 1.0) {
            try await stack.greet(tokens.access).status == 401
        }
        let refused = try await stack.greet(tokens.access)
        #expect(refused.headers["WWW-Authenticate"]?.contains(#"error="invalid_token""#) == true)
        #expect(Date().timeIntervalSince(retiredAt) < 1.5 + 0.5)

        // A token from the promoted key works.
        let fresh = try await stack.login("user1", "password1")
        #expect(try Stack.kid(of: fresh.access) != kid)
        try await waitUntil("the new key is accepted", timeout: 2) { try await stack.greet(fresh.access).status == 200 }
    }

    @Test func logoutBitesWithinThePollInterval() async throws {
        let stack = try await Stack(revocationPoll: .milliseconds(300))
        try await stack.start()
        defer { Task { await stack.stop() } }

        let tokens = try await stack.login("user1", "password1")
        #expect(try await stack.greet(tokens.access).status == 200)
        let logout = try await stack.postJSON(stack.issuerURL + "/logout", #"{"refresh_token":"\#(tokens.refresh)"}"#, token: tokens.access)
        #expect(logout.status == 204)
        try await waitUntil("the logged-out token is refused", timeout: 0.3 + 1.0) {
            try await stack.greet(tokens.access).status == 401
        }
        // Its refresh token died with the session.
        let refresh = try await stack.postJSON(stack.issuerURL + "/refresh", #"{"refresh_token":"\#(tokens.refresh)"}"#)
        #expect(refresh.status == 401)
    }

    @Test func cachedKeysOutliveTheIssuerAndRefreshWhenItReturns() async throws {
        let stack = try await Stack()
        try await stack.start()
        defer { Task { await stack.stop() } }

        let tokens = try await stack.login("user1", "password1")
        #expect(try await stack.greet(tokens.access).status == 200)

        await stack.stopIssuer()
        await #expect(throws: CurlError.self) { try await stack.get(stack.issuerURL + "/healthz") }
        // Stale-if-error: the cached set keeps serving.
        for _ in 0..<5 { #expect(try await stack.greet(tokens.access).status == 200) }
        #expect(try await stack.get(stack.resourceURL + "/readyz").status == 200)

        // While the Issuer is down, an operator rotates twice on disk: the key that now
        // signs was created after the ResourceAPI's last fetch.
        let knownKids = Set(try await stack.readiness()["kids"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        try await stack.issuerCLI(["keys", "rotate", "--force"])
        try await stack.issuerCLI(["keys", "rotate", "--force"])
        try await stack.startIssuer()
        let rotated = try await stack.login("user1", "password1")
        let newKid = try Stack.kid(of: rotated.access)
        #expect(!knownKids.contains(newKid))
        // The unknown kid makes the ResourceAPI fetch again from the returned Issuer.
        try await waitUntil("the new kid is accepted after the Issuer returns", timeout: 3) {
            try await stack.greet(rotated.access).status == 200
        }
        let kidsNow = Set(try await stack.readiness()["kids"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        #expect(kidsNow.contains(newKid))
    }
}
