import CurlClient
import Foundation
import SharedJWT
import Testing

@testable import ResourceAPICore

/// One test per row of the contract's Errors table (RFC 6750), each followed by a valid
/// token that must still be answered.
@Suite struct ErrorsTableTests {
    /// The request must fail as the table says, and a valid token must work right after.
    func expectRefusal(
        _ harness: Harness,
        headers: [(String, String)],
        path: String = "/api/greet",
        status: Int,
        error: String?,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let response = try await harness.get(path, headers: headers)
        #expect(response.status == status, "status for \(headers.map(\.0))", sourceLocation: sourceLocation)
        let challenge = response.headers["www-authenticate"]
        if let error {
            #expect(
                challenge?.hasPrefix("Bearer realm=\"resource-api\", error=\"\(error)\", error_description=\"") == true,
                "WWW-Authenticate: \(challenge ?? "none")",
                sourceLocation: sourceLocation
            )
            #expect(response.json?["error"]?.stringValue == error, sourceLocation: sourceLocation)
        } else {
            #expect(challenge == "Bearer realm=\"resource-api\"", sourceLocation: sourceLocation)
        }
        #expect(response.json?["error_description"]?.stringValue?.isEmpty == false, "body: \(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers["content-type"] == "application/json", sourceLocation: sourceLocation)

        let valid = try await harness.get("/api/greet", token: harness.tokens.token())
        #expect(valid.status == 200, "a valid token after the bad one", sourceLocation: sourceLocation)
        #expect(valid.text == "hi user1!", sourceLocation: sourceLocation)
    }

    func expectInvalidToken(_ harness: Harness, _ token: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await self.expectRefusal(
            harness,
            headers: [("Authorization", "Bearer \(token)")],
            status: 401,
            error: "invalid_token",
            sourceLocation: sourceLocation
        )
    }

    // MARK: Success

    @Test func validTokenGetsGreetingAndClaims() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token(subject: "alice")
            let greet = try await harness.get("/api/greet", token: token)
            #expect(greet.status == 200)
            #expect(greet.text == "hi alice!")
            #expect(greet.headers["content-type"]?.hasPrefix("text/plain") == true)

            let me = try await harness.get("/api/me", token: token)
            #expect(me.status == 200)
            #expect(me.json?["sub"]?.stringValue == "alice")
            #expect(me.json?["aud"]?.stringValue == "resource-api")
            #expect(me.json?["roles"] == .array([.string("user")]))

            // The scheme is matched case-insensitively.
            for scheme in ["bearer", "BEARER", "BeArEr"] {
                let response = try await harness.get("/api/greet", headers: [("Authorization", "\(scheme) \(token)")])
                #expect(response.status == 200, "scheme \(scheme)")
            }
        }
    }

    // MARK: Row 1: no Authorization header → 401, realm only

    @Test func noAuthorizationHeader() async throws {
        try await withHarness { harness in
            try await self.expectRefusal(harness, headers: [], status: 401, error: nil)
        }
    }

    @Test func tokenInQueryStringIsNotAccepted() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token()
            try await self.expectRefusal(harness, headers: [], path: "/api/greet?access_token=\(token)", status: 401, error: nil)
        }
    }

    // MARK: Row 2: malformed header → 400 invalid_request

    @Test func notBearerScheme() async throws {
        try await withHarness { harness in
            try await self.expectRefusal(harness, headers: [("Authorization", "Basic dXNlcjE6cGFzc3dvcmQx")], status: 400, error: "invalid_request")
            try await self.expectRefusal(harness, headers: [("Authorization", "Token abc")], status: 400, error: "invalid_request")
            try await self.expectRefusal(harness, headers: [("Authorization", "abc.def.ghi")], status: 400, error: "invalid_request")
        }
    }

    @Test func emptyToken() async throws {
        try await withHarness { harness in
            try await self.expectRefusal(harness, headers: [("Authorization", "Bearer")], status: 400, error: "invalid_request")
            try await self.expectRefusal(harness, headers: [("Authorization", "Bearer    ")], status: 400, error: "invalid_request")
        }
    }

    @Test func tokenWithCharactersOutsideB64Token() async throws {
        try await withHarness { harness in
            try await self.expectRefusal(harness, headers: [("Authorization", "Bearer a b")], status: 400, error: "invalid_request")
            try await self.expectRefusal(harness, headers: [("Authorization", "Bearer a,b")], status: 400, error: "invalid_request")
        }
    }

    @Test func twoAuthorizationHeaders() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token()
            try await self.expectRefusal(
                harness,
                headers: [("Authorization", "Bearer \(token)"), ("Authorization", "Bearer \(token)")],
                status: 400,
                error: "invalid_request"
            )
        }
    }

    @Test func headerAndQueryTokenTogether() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token()
            try await self.expectRefusal(
                harness,
                headers: [("Authorization", "Bearer \(token)")],
                path: "/api/greet?access_token=\(token)",
                status: 400,
                error: "invalid_request"
            )
        }
    }

    // MARK: Row 3: bad token → 401 invalid_token

    @Test func malformedToken() async throws {
        try await withHarness { harness in
            try await self.expectInvalidToken(harness, "abc")
            try await self.expectInvalidToken(harness, "abc.def")
            try await self.expectInvalidToken(harness, "a.b.c")
            try await self.expectInvalidToken(harness, "eyJhbGciOiJSUzI1NiJ9.e30.")
        }
    }

    @Test func badSignature() async throws {
        try await withHarness { harness in
            // Signed by a key nobody published, under the published key's kid.
            let forged = try harness.tokens.token(harness.tokens.claims(), key: TestKeys.rogue, kid: TestKeys.a.publicKey.thumbprint)
            try await self.expectInvalidToken(harness, forged)
            // A valid token with one signature byte changed.
            var parts = try harness.tokens.token().split(separator: ".").map(String.init)
            var signature = try Base64URL.decode(parts[2])
            signature[10] ^= 0x01
            parts[2] = Base64URL.encode(signature)
            try await self.expectInvalidToken(harness, parts.joined(separator: "."))
        }
    }

    @Test func wrongNoneOrHMACAlgorithm() async throws {
        try await withHarness { harness in
            let kid = TestKeys.a.publicKey.thumbprint
            let payload = harness.tokens.payload(harness.tokens.claims())
            for alg in ["none", "HS256", "RS384", "PS256", "ES256"] {
                let header = #"{"alg":"\#(alg)","typ":"at+jwt","kid":"\#(kid)"}"#
                try await self.expectInvalidToken(
                    harness,
                    try harness.tokens.raw(header: header, payload: payload, key: alg == "none" ? nil : TestKeys.a)
                )
            }
        }
    }

    @Test func unknownKid() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token(harness.tokens.claims(), key: TestKeys.a, kid: "no-such-kid")
            try await self.expectInvalidToken(harness, token)
            // A real key that is not published.
            try await self.expectInvalidToken(harness, try harness.tokens.token(key: TestKeys.c))
        }
    }

    @Test func expired() async throws {
        try await withHarness { harness in
            var claims = harness.tokens.claims()
            let now = Int64(harness.clock.now())
            claims.issuedAt = now - 600
            claims.notBefore = now - 600
            claims.expiresAt = now - 60  // past the 30 s leeway
            try await self.expectInvalidToken(harness, try harness.tokens.token(claims))
        }
    }

    @Test func notYetValid() async throws {
        try await withHarness { harness in
            var claims = harness.tokens.claims()
            claims.notBefore = Int64(harness.clock.now()) + 120
            try await self.expectInvalidToken(harness, try harness.tokens.token(claims))
        }
    }

    @Test func wrongIssuer() async throws {
        try await withHarness { harness in
            var claims = harness.tokens.claims()
            claims.issuer = "http://evil.example"
            try await self.expectInvalidToken(harness, try harness.tokens.token(claims))
        }
    }

    @Test func wrongAudience() async throws {
        try await withHarness { harness in
            var claims = harness.tokens.claims()
            claims.audience = ["another-api"]
            try await self.expectInvalidToken(harness, try harness.tokens.token(claims))
        }
    }

    @Test func wrongType() async throws {
        try await withHarness { harness in
            let kid = TestKeys.a.publicKey.thumbprint
            let payload = harness.tokens.payload(harness.tokens.claims())
            for header in [#"{"alg":"RS256","typ":"JWT","kid":"\#(kid)"}"#, #"{"alg":"RS256","kid":"\#(kid)"}"#] {
                try await self.expectInvalidToken(harness, try harness.tokens.raw(header: header, payload: payload))
            }
        }
    }

    @Test func keyFromTokenHeaderIsRefused() async throws {
        try await withHarness { harness in
            let payload = harness.tokens.payload(harness.tokens.claims())
            let jwk = String(decoding: try JSONEncoder().encode(TestKeys.rogue.publicKey.jwk()), as: UTF8.self)
            let header = #"{"alg":"RS256","typ":"at+jwt","kid":"\#(TestKeys.rogue.publicKey.thumbprint)","jwk":\#(jwk)}"#
            try await self.expectInvalidToken(harness, try harness.tokens.raw(header: header, payload: payload, key: TestKeys.rogue))
            let jku = #"{"alg":"RS256","typ":"at+jwt","kid":"x","jku":"http://localhost:1/jwks"}"#
            try await self.expectInvalidToken(harness, try harness.tokens.raw(header: jku, payload: payload, key: TestKeys.rogue))
        }
    }

    @Test func revoked() async throws {
        try await withHarness { harness in
            let claims = harness.tokens.claims()
            let token = try harness.tokens.token(claims)
            harness.issuer.update { $0.revoked.append((claims.jwtID ?? "", claims.expiresAt ?? 0)) }
            let refused = try await harness.eventually(within: .seconds(2)) {
                try await harness.get("/api/greet", token: token).status == 401
            }
            #expect(refused)
            try await self.expectInvalidToken(harness, token)
        }
    }

    @Test func tooLargeToken() async throws {
        try await withHarness { harness in
            try await self.expectInvalidToken(harness, String(repeating: "a", count: 8193))
            var claims = harness.tokens.claims()
            claims.scope = String(repeating: "s", count: 9000)
            try await self.expectInvalidToken(harness, try harness.tokens.token(claims))
        }
    }

    // MARK: Row 4: lacking the role → 403 insufficient_scope

    @Test func insufficientScope() async throws {
        try await withHarness { harness in
            let user = try harness.tokens.token(roles: ["user"])
            let response = try await harness.get("/api/admin/greet", token: user)
            #expect(response.status == 403)
            let challenge = response.headers["www-authenticate"] ?? ""
            #expect(challenge.hasPrefix(#"Bearer realm="resource-api", error="insufficient_scope""#))
            #expect(challenge.contains(#"scope="admin""#))
            #expect(response.json?["error"]?.stringValue == "insufficient_scope")

            let admin = try await harness.get("/api/admin/greet", token: try harness.tokens.token(subject: "root", roles: ["admin"]))
            #expect(admin.status == 200)
            #expect(admin.text == "hi admin root!")
            #expect(try await harness.get("/api/greet", token: user).status == 200)
        }
    }

    // MARK: Row 5: no usable keys → 503 with Retry-After, no challenge

    @Test func noKeysYetIs503() async throws {
        try await withHarness(waitUntilReady: false, issuerSetup: { $0.status = 500 }) { harness in
            let token = try harness.tokens.token()
            let response = try await harness.get("/api/greet", token: token)
            #expect(response.status == 503)
            #expect(response.headers["www-authenticate"] == nil)
            #expect(Int(response.headers["retry-after"] ?? "") ?? 0 >= 1)
            #expect(response.json?["error"] != nil)
            #expect(try await harness.get("/readyz").status == 503)

            // The Issuer comes back: the retry loop loads the set and the token works.
            harness.issuer.update { $0.status = 200 }
            let recovered = try await harness.eventually(within: .seconds(10)) {
                try await harness.get("/api/greet", token: token).status == 200
            }
            #expect(recovered)
            #expect(try await harness.get("/readyz").status == 200)
        }
    }

    // MARK: Outside the table: every error body is still JSON

    @Test func unknownPathsAndMethodsGetJSONErrors() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token()
            for (path, token) in [("/nope", nil), ("/api/nope", token), ("/api/nope", nil)] {
                let response = try await harness.get(path, token: token)
                #expect([401, 404].contains(response.status), "\(path)")
                #expect(response.headers["content-type"] == "application/json", "\(path)")
                #expect(response.json?["error"]?.stringValue != nil, "\(path): \(response.text)")
                #expect(response.json?["error_description"]?.stringValue != nil)
            }
            let post = try await harness.client.post(harness.apiURL + "/api/greet", headers: [("Authorization", "Bearer \(token)")], body: [])
            #expect([404, 405].contains(post.status))
            #expect(post.json?["error"]?.stringValue != nil, "POST: \(post.text)")
        }
    }

    // MARK: Bodies

    @Test func requestBodyOver64KiBIs413() async throws {
        try await withHarness { harness in
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: 70_000)
            let response = try await harness.client.post(harness.apiURL + "/api/greet", headers: [("Content-Type", "text/plain")], body: body)
            #expect(response.status == 413)
            #expect(response.json?["error"]?.stringValue == "invalid_request")
            // Without Content-Length (chunked), the body is read up to the limit and refused the same way.
            let chunked = try await harness.client.post(
                harness.apiURL + "/api/greet",
                headers: [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")],
                body: body
            )
            #expect(chunked.status == 413)
            #expect(chunked.headers["content-type"] == "application/json")
            #expect(chunked.json?["error"]?.stringValue == "invalid_request")
            let small = try await harness.client.post(harness.apiURL + "/healthz", body: Array("{}".utf8))
            #expect(small.status != 413)
            #expect(try await harness.get("/api/greet", token: harness.tokens.token()).status == 200)
        }
    }
}
