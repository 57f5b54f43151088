import CurlClient
import Foundation
import SharedJWT
import Testing

@testable import ResourceAPICore

@Suite struct KeyCacheTests {
    @Test func discoveryRebasesJWKSURIOntoTheInternalOrigin() async throws {
        try await withHarness { harness in
            let source = try #require(harness.api.keys.status.source)
            #expect(source.expectedIssuer == "http://localhost:1")
            #expect(source.jwksURL == harness.issuerURL + "/.well-known/jwks.json")
            let ready = try await harness.get("/readyz")
            #expect(ready.status == 200)
            #expect(ready.json?["kids"] == .array([.string(TestKeys.a.publicKey.thumbprint)]))
            #expect(ready.json?["jwks_age_seconds"]?.doubleValue != nil)
            #expect(ready.json?["revocation_cursor"]?.doubleValue == 0)
        }
    }

    @Test func rebaseRules() {
        #expect(
            Discovery.rebase(jwksURI: "http://localhost:8081/.well-known/jwks.json", issuer: "http://localhost:8081", onto: "http://issuer:8081")
                == "http://issuer:8081/.well-known/jwks.json"
        )
        #expect(
            Discovery.rebase(jwksURI: "http://LOCALHOST:80/keys?x=1", issuer: "http://localhost", onto: "https://issuer")
                == "https://issuer/keys?x=1"
        )
        // Another origin is used as published.
        #expect(
            Discovery.rebase(jwksURI: "https://keys.example/jwks", issuer: "http://localhost:8081", onto: "http://issuer:8081")
                == "https://keys.example/jwks"
        )
        #expect(
            Discovery.rebase(jwksURI: "http://localhost:9999/jwks", issuer: "http://localhost:8081", onto: "http://issuer:8081")
                == "http://localhost:9999/jwks"
        )
    }

    @Test func jwksURLSkipsDiscovery() async throws {
        try await withHarness(configure: { configuration in
            configuration.jwksURL = configuration.issuerURL + "/.well-known/jwks.json"
            configuration.expectedIssuer = "http://localhost:1"
        }) { harness in
            let response = try await harness.get("/api/greet", token: harness.tokens.token())
            #expect(response.status == 200)
        }
    }

    @Test func unknownKidFromManyRequestsCausesExactlyOneFetch() async throws {
        try await withHarness(configure: { $0.jwksMinRefresh = .seconds(60) }) { harness in
            // The Issuer rotates in a key the cache has not seen; its fetch is slow so every
            // request arrives while it is in flight.
            harness.issuer.update {
                $0.keys.append(TestKeys.b.publicKey)
                $0.delay = .milliseconds(500)
            }
            let before = harness.issuer.jwksFetches
            let token = try harness.tokens.token(key: TestKeys.b)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await harness.api.verifier.verify(Substring(token)).subject == "user1" ? 200 : 0 }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.count == 200)
            #expect(statuses.allSatisfy { $0 == 200 })
            #expect(harness.issuer.jwksFetches - before == 1)
            // And over HTTP, the new key is simply known now.
            #expect(try await harness.get("/api/greet", token: token).status == 200)
            #expect(harness.issuer.jwksFetches - before == 1)
        }
    }

    @Test func concurrentHTTPRequestsWithUnknownKidShareOneFetch() async throws {
        try await withHarness(configure: { $0.jwksMinRefresh = .seconds(60) }) { harness in
            harness.issuer.update {
                $0.keys.append(TestKeys.b.publicKey)
                $0.delay = .milliseconds(300)
            }
            let before = harness.issuer.jwksFetches
            let token = try harness.tokens.token(key: TestKeys.b)
            let ok = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await harness.get("/api/greet", token: token).status == 200 }
                }
                return try await group.reduce(true) { $0 && $1 }
            }
            #expect(ok)
            #expect(harness.issuer.jwksFetches - before == 1)
        }
    }

    @Test func randomKidFloodCostsAtMostOneFetchPerMinRefresh() async throws {
        try await withHarness(configure: { $0.jwksMinRefresh = .seconds(2) }) { harness in
            let before = harness.issuer.jwksFetches
            let start = ContinuousClock.now
            // 1000 requests over HTTP, each token with its own random kid.
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<1000 {
                    group.addTask {
                        let kid = Base64URL.encode(SecureRandom.bytes(count: 16))
                        let token = try harness.tokens.token(harness.tokens.claims(), key: TestKeys.a, kid: kid)
                        return try await harness.get("/api/greet", token: token).status
                    }
                }
                for try await status in group {
                    #expect(status == 401)
                }
            }
            let elapsed = (ContinuousClock.now - start).seconds
            let fetches = harness.issuer.jwksFetches - before
            // One at the start of the flood, and at most one per further full interval; the
            // background refresh (max-age 300 s) adds none.
            #expect(fetches >= 1)
            #expect(fetches <= 1 + Int(elapsed / 2), "\(fetches) fetches in \(elapsed) s")
            // The real key still works.
            #expect(try await harness.get("/api/greet", token: harness.tokens.token()).status == 200)
        }
    }

    @Test func unknownKidNegativeCacheAnswersWithoutFetching() async throws {
        try await withHarness(configure: {
            $0.jwksMinRefresh = .milliseconds(1)
            $0.unknownKidTTL = .seconds(60)
        }) { harness in
            let token = try harness.tokens.token(harness.tokens.claims(), key: TestKeys.a, kid: "ghost")
            let before = harness.issuer.jwksFetches
            #expect(try await harness.get("/api/greet", token: token).status == 401)
            #expect(harness.issuer.jwksFetches - before == 1)
            try await Task.sleep(for: .milliseconds(20))
            for _ in 0..<10 {
                #expect(try await harness.get("/api/greet", token: token).status == 401)
            }
            #expect(harness.issuer.jwksFetches - before == 1)
            // An absurdly long kid never costs a fetch.
            try await Task.sleep(for: .milliseconds(20))
            let long = try harness.tokens.token(harness.tokens.claims(), key: TestKeys.a, kid: String(repeating: "k", count: 300))
            #expect(try await harness.get("/api/greet", token: long).status == 401)
            #expect(harness.issuer.jwksFetches - before == 1)
        }
    }

    @Test func staleIfErrorThen503AfterMaxStale() async throws {
        try await withHarness(
            issuerSetup: { $0.maxAge = 0 },
            configure: {
                $0.jwksMinMaxAge = .milliseconds(200)
                $0.jwksMaxStale = .seconds(3600)
            }
        ) { harness in
            let token = try harness.tokens.token()
            #expect(try await harness.get("/api/greet", token: token).status == 200)

            // The Issuer fails; background refreshes fail; the last good set is kept.
            harness.issuer.update { $0.status = 500 }
            let failing = harness.issuer.jwksFetches
            let retried = await harness.eventually(within: .seconds(10)) { harness.issuer.jwksFetches >= failing + 2 }
            #expect(retried)
            #expect(try await harness.get("/api/greet", token: token).status == 200)
            // A fresh token is also checked against the stale set.
            #expect(try await harness.get("/api/greet", token: harness.tokens.token(subject: "bob")).text == "hi bob!")

            // Past max-stale: 503 with Retry-After, for cached and new tokens alike; not ready.
            harness.clock.advance(by: 3601)
            let stale = try await harness.get("/api/greet", token: token)
            #expect(stale.status == 503)
            #expect(stale.headers["retry-after"] != nil)
            #expect(stale.headers["www-authenticate"] == nil)
            #expect(try await harness.get("/api/greet", token: harness.tokens.token()).status == 503)
            #expect(try await harness.get("/readyz").status == 503)

            // The Issuer is back: a fresh fetch and tokens work again.
            harness.issuer.update { $0.status = 200 }
            let recovered = try await harness.eventually(within: .seconds(10)) {
                try await harness.get("/readyz").status == 200
            }
            #expect(recovered)
            #expect(try await harness.get("/api/greet", token: harness.tokens.token()).status == 200)
        }
    }

    /// Contract: the background refresh comes at the latest at half of `jwks-max-stale`,
    /// whatever the `max-age`, so a max-stale shorter than max-age never makes the service
    /// unready while the Issuer answers.
    @Test func shortMaxStaleWithLongMaxAgeStaysReadyWhileTheIssuerAnswers() async throws {
        try await withHarness(
            issuerSetup: { $0.maxAge = 3600 },
            configure: { $0.jwksMaxStale = .seconds(3) }
        ) { harness in
            #expect(JWKSCache.refreshHorizon(maxAge: 3600, minMaxAge: 5, maxMaxAge: 3600, maxStale: 3) == 1.5)
            let first = harness.issuer.jwksFetches
            // Watch for more than two max-stale periods: with max-age alone there would be no
            // fetch at all in that time, and /readyz would answer 503 after 3 s.
            let watchUntil = ContinuousClock.now + .seconds(7)
            var answers: [Int] = []
            while ContinuousClock.now < watchUntil {
                answers.append(try await harness.get("/readyz").status)
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(!answers.isEmpty)
            #expect(answers.allSatisfy { $0 == 200 }, "readyz answers: \(answers)")
            #expect(harness.issuer.jwksFetches - first >= 2)
            #expect(try await harness.get("/api/greet", token: harness.tokens.token()).status == 200)
        }
    }

    @Test func slowIssuerNeverHoldsUpKnownKids() async throws {
        try await withHarness(
            issuerSetup: { $0.maxAge = 0 },
            configure: {
                $0.jwksMinMaxAge = .milliseconds(100)
                $0.fetchTimeout = .seconds(3)
            }
        ) { harness in
            harness.issuer.update { $0.delay = .seconds(4) }
            let inFlight = await harness.eventually(within: .seconds(5)) {
                harness.api.keys.state.withLock { $0.inflight != nil }
            }
            #expect(inFlight)
            // While a fetch hangs, fresh tokens with known kids are verified at once.
            for _ in 0..<5 {
                let start = ContinuousClock.now
                let claims = try await harness.api.verifier.verify(Substring(harness.tokens.token()))
                #expect(claims.subject == "user1")
                // Waiting on the fetch would take seconds; the bound leaves room for a loaded machine.
                #expect(ContinuousClock.now - start < .milliseconds(1500), "a known kid waited on the fetch")
            }
            #expect(harness.api.keys.state.withLock { $0.inflight != nil })
            #expect(try await harness.get("/api/greet", token: harness.tokens.token()).status == 200)
            // The fetch times out and the set is kept (stale-if-error).
            let failed = try await harness.eventually(within: .seconds(10)) {
                try await harness.get("/metrics").text.contains(#"resource_api_fetches_total{kind="jwks",result="error"}"#)
            }
            #expect(failed)
            #expect(harness.api.keys.status.ready)
        }
    }

    @Test func conditionalRefreshGets304AndKeepsKeys() async throws {
        try await withHarness(
            issuerSetup: { $0.maxAge = 0 },
            configure: { $0.jwksMinMaxAge = .milliseconds(100) }
        ) { harness in
            let got304 = await harness.eventually(within: .seconds(10)) {
                harness.issuer.state.withLock { $0.notModifiedSent } >= 2
            }
            #expect(got304)
            #expect(try await harness.get("/api/greet", token: harness.tokens.token()).status == 200)
            let metrics = try await harness.get("/metrics").text
            #expect(metrics.contains(#"resource_api_fetches_total{kind="jwks",result="not_modified"}"#))
        }
    }

    @Test func keysRemovedFromTheSetStopWorkingAtTheNextFetch() async throws {
        try await withHarness(
            issuerSetup: { $0.maxAge = 0 },
            configure: { $0.jwksMinMaxAge = .milliseconds(100) }
        ) { harness in
            let oldToken = try harness.tokens.token(key: TestKeys.a)
            #expect(try await harness.get("/api/greet", token: oldToken).status == 200)
            harness.issuer.update { $0.keys = [TestKeys.b.publicKey] }
            let refused = try await harness.eventually(within: .seconds(10)) {
                try await harness.get("/api/greet", token: oldToken).status == 401
            }
            #expect(refused, "the verified-token cache must not outlive the key")
            #expect(try await harness.get("/api/greet", token: harness.tokens.token(key: TestKeys.b)).status == 200)
        }
    }

    @Test func hugeSetIsRefusedAndTheOldOneKept() async throws {
        try await withHarness(configure: { $0.jwksMinRefresh = .milliseconds(1) }) { harness in
            // Over 64 KiB, and containing the key the token names.
            let padding = String(repeating: "x", count: 70_000)
            let huge =
                #"{"keys":[\#(String(decoding: JWKSet.encode([TestKeys.b.publicKey]).dropFirst(9).dropLast(2), as: UTF8.self)),{"kty":"oct","k":"\#(padding)"}]}"#
            harness.issuer.update { $0.bodyOverride = Array(huge.utf8) }
            #expect(try await harness.get("/api/greet", token: harness.tokens.token(key: TestKeys.b)).status == 401)
            #expect(try await harness.get("/api/greet", token: harness.tokens.token(key: TestKeys.a)).status == 200)
            let metrics = try await harness.get("/metrics").text
            #expect(metrics.contains(#"resource_api_fetches_total{kind="jwks",result="refused"}"#))
        }
    }

    @Test func setWithTooManyKeysIsRefused() async throws {
        try await withHarness(configure: { $0.jwksMinRefresh = .milliseconds(1) }) { harness in
            let jwk = String(decoding: try JSONEncoder().encode(TestKeys.b.publicKey.jwk()), as: UTF8.self)
            let others = (0..<32).map { index in jwk.replacingOccurrences(of: TestKeys.b.publicKey.thumbprint, with: "k\(index)") }
            harness.issuer.update { $0.bodyOverride = Array(#"{"keys":[\#(([jwk] + others).joined(separator: ","))]}"#.utf8) }
            #expect(try await harness.get("/api/greet", token: harness.tokens.token(key: TestKeys.b)).status == 401)
            #expect(try await harness.get("/api/greet", token: harness.tokens.token(key: TestKeys.a)).status == 200)
        }
    }

    @Test func unusableKeysAreSkippedNotFatal() async throws {
        let small = Base64URL.encode([UInt8](repeating: 0xC3, count: 128))  // 1024 bits
        try await withHarness(issuerSetup: { state in
            let good = TestKeys.a.publicKey.jwk()
            state.extraJWKs = [
                #"{"kty":"EC","crv":"P-256","kid":"ec","x":"AAAA","y":"AAAA"}"#,
                #"{"kty":"RSA","use":"enc","kid":"enc","n":"\#(good.n ?? "")","e":"AQAB"}"#,
                #"{"kty":"RSA","alg":"RS512","kid":"rs512","n":"\#(good.n ?? "")","e":"AQAB"}"#,
                #"{"kty":"RSA","kid":"small","n":"\#(small)","e":"AQAB"}"#,
                #"{"kty":"RSA","kid":"private","n":"\#(good.n ?? "")","e":"AQAB","d":"AQAB"}"#,
            ]
        }) { harness in
            #expect(harness.api.keys.status.kids == [TestKeys.a.publicKey.thumbprint])
            #expect(try await harness.get("/api/greet", token: harness.tokens.token()).status == 200)
            let metrics = try await harness.get("/metrics").text
            #expect(metrics.contains("resource_api_jwks_keys_skipped_total 5"), "\(metrics)")
        }
    }

    @Test func metricsExposeVerificationsFetchesAndKeys() async throws {
        try await withHarness { harness in
            _ = try await harness.get("/api/greet", token: harness.tokens.token())
            _ = try await harness.get("/api/greet", token: "bad")
            let metrics = try await harness.get("/metrics")
            #expect(metrics.status == 200)
            for line in [
                #"resource_api_verifications_total{outcome="valid"} 1"#,
                #"resource_api_verifications_total{outcome="invalid_token"} 1"#,
                #"resource_api_fetches_total{kind="jwks",result="ok"}"#,
                "resource_api_jwks_keys 1",
                "resource_api_jwks_age_seconds",
                "resource_api_revocations_held",
            ] {
                #expect(metrics.text.contains(line), "missing \(line)")
            }
        }
    }
}
