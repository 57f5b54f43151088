import CurlClient
import Foundation
import ServiceSupport
import SharedJWT
import Testing

@testable import ResourceAPICore

@Suite struct RevocationTests {
    /// `revocation-poll` is 200 ms in the harness; the contract allows poll + 1 s.
    static let deadline: Duration = .milliseconds(1200)

    @Test func revokedJTIIsRefusedWithinPollPlusOneSecondEvenWhenCached() async throws {
        try await withHarness { harness in
            let claims = harness.tokens.claims()
            let token = try harness.tokens.token(claims)
            // Verified twice: the second answer comes from the verified-token cache.
            #expect(try await harness.get("/api/greet", token: token).status == 200)
            #expect(try await harness.get("/api/greet", token: token).status == 200)
            let other = try harness.tokens.token()
            #expect(try await harness.get("/api/greet", token: other).status == 200)

            let start = ContinuousClock.now
            harness.issuer.update { $0.revoked.append((claims.jwtID ?? "", claims.expiresAt ?? 0)) }
            let refused = try await harness.eventually(within: Self.deadline) {
                try await harness.get("/api/greet", token: token).status == 401
            }
            #expect(refused, "revoked token still accepted after \(ContinuousClock.now - start)")
            let response = try await harness.get("/api/greet", token: token)
            #expect(response.headers["www-authenticate"]?.contains(#"error="invalid_token""#) == true)
            #expect(response.json?["error_description"]?.stringValue == "the token has been revoked")
            // Others are unaffected; the cursor moved.
            #expect(try await harness.get("/api/greet", token: other).status == 200)
            #expect(harness.api.revocations.cursor == 1)
            #expect(try await harness.get("/readyz").json?["revocation_cursor"]?.doubleValue == 1)
        }
    }

    @Test func retiredKidIsDroppedWithinPollPlusOneSecond() async throws {
        try await withHarness(issuerSetup: {
            $0.keys = [TestKeys.a.publicKey, TestKeys.b.publicKey]
            $0.maxAge = 86_400  // a long JWKS max-age must not delay the retirement
        }) { harness in
            let leaked = try harness.tokens.token(key: TestKeys.a)
            let fine = try harness.tokens.token(key: TestKeys.b)
            #expect(try await harness.get("/api/greet", token: leaked).status == 200)
            #expect(try await harness.get("/api/greet", token: leaked).status == 200)

            harness.issuer.update { $0.retiredKids = [TestKeys.a.publicKey.thumbprint] }
            let refused = try await harness.eventually(within: Self.deadline) {
                try await harness.get("/api/greet", token: leaked).status == 401
            }
            #expect(refused)
            #expect(try await harness.get("/api/greet", token: fine).status == 200)
            #expect(harness.api.keys.status.kids == [TestKeys.b.publicKey.thumbprint])

            // Even if the JWK Set still lists it, a retired kid stays out.
            let before = harness.issuer.jwksFetches
            _ = try await harness.get("/api/greet", token: harness.tokens.token(key: TestKeys.c))
            #expect(harness.issuer.jwksFetches > before)
            #expect(try await harness.get("/api/greet", token: leaked).status == 401)
        }
    }

    @Test func verifiedTokenCacheStillChecksExpiry() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token(harness.tokens.claims(lifetime: 60))
            #expect(try await harness.get("/api/greet", token: token).status == 200)
            #expect(try await harness.get("/api/greet", token: token).status == 200)
            #expect(harness.api.verifier.verified?.count == 1)
            harness.clock.advance(by: 91)  // past exp + 30 s leeway
            let response = try await harness.get("/api/greet", token: token)
            #expect(response.status == 401)
            #expect(response.json?["error_description"]?.stringValue == JWTError.expired.description)
        }
    }

    @Test func revocationEntriesAreForgottenAfterTheirExpiry() {
        let list = RevocationList(leeway: 30)
        let now = 1_000_000.0
        #expect(list.apply(cursor: 3, revoked: [("a", 1_000_100), ("b", 999_000)], now: now) == 1)
        #expect(list.isRevoked("a"))
        #expect(!list.isRevoked("b"))
        #expect(list.cursor == 3)
        #expect(list.apply(cursor: nil, revoked: [], now: 1_000_200) == 0)
        #expect(list.cursor == 3)
    }

    @Test func feedOutageKeepsServing() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token()
            harness.issuer.update { $0.status = 500 }  // JWKS down too
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await harness.get("/api/greet", token: token).status == 200)
        }
    }
}

@Suite struct ConfigurationTests {
    @Test func durations() {
        #expect(DurationText.parse("300") == .seconds(300))
        #expect(DurationText.parse("300s") == .seconds(300))
        #expect(DurationText.parse("5m") == .seconds(300))
        #expect(DurationText.parse("1h") == .seconds(3600))
        #expect(DurationText.parse("30d") == .seconds(30 * 86_400))
        #expect(DurationText.parse("250ms") == .milliseconds(250))
        for bad in ["", "s", "-5s", "5x", "1.5h", " 5s", "5 s", "99999999999999d", "5mm"] {
            #expect(DurationText.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func flagWinsOverEnvironmentWhichWinsOverDefault() throws {
        let command = try ResourceAPICommand.parse(["--port", "9000", "--leeway", "1m"])
        let configuration = try command.resolve(environment: [
            "RESOURCE_API_PORT": "9100",
            "RESOURCE_API_AUDIENCE": "orders",
            "RESOURCE_API_JWKS_MAX_STALE": "1h",
            "RESOURCE_API_JWKS_URL": "",
        ])
        #expect(configuration.jwksURL == nil, "an empty variable is unset")
        #expect(configuration.port == 9000)
        #expect(configuration.leeway == .seconds(60))
        #expect(configuration.audience == "orders")
        #expect(configuration.jwksMaxStale == .seconds(3600))
        #expect(configuration.jwksMinRefresh == .seconds(10))
        #expect(configuration.revocationPoll == .seconds(2))
        #expect(configuration.issuerURL == "http://127.0.0.1:8081")
    }

    @Test func invalidValuesNameTheOption() throws {
        let cases: [([String], [String: String], String)] = [
            (["--leeway", "soon"], [:], "--leeway"),
            ([], ["RESOURCE_API_JWKS_MIN_REFRESH": "0"], "RESOURCE_API_JWKS_MIN_REFRESH"),
            (["--port", "70000"], [:], "--port"),
            (["--issuer-url", "ftp://x"], [:], "--issuer-url"),
            ([], ["RESOURCE_API_LOG_FORMAT": "xml"], "RESOURCE_API_LOG_FORMAT"),
            (["--log-level", "loud"], [:], "--log-level"),
        ]
        for (arguments, environment, option) in cases {
            let command = try ResourceAPICommand.parse(arguments)
            #expect {
                _ = try command.resolve(environment: environment)
            } throws: { error in
                (error as? ConfigurationError)?.description.contains(option) == true
            }
        }
    }
}
