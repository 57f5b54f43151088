import Foundation
import SharedJWT
import Testing

@testable import ResourceAPICore

@Suite struct BearerHeaderParsingTests {
    func parse(_ value: String) throws(BearerError) -> Substring {
        try APICore.parse(value, maxTokenBytes: 8192)
    }

    @Test func acceptsBearerInAnyCase() throws {
        #expect(try self.parse("Bearer abc.def.ghi") == "abc.def.ghi")
        #expect(try self.parse("bearer abc") == "abc")
        #expect(try self.parse("BEARER  abc") == "abc")
        #expect(try self.parse("Bearer a-b_c~d+e/f==") == "a-b_c~d+e/f==")
    }

    @Test func refusesMalformedHeadersAs400() {
        for value in [
            "", "Bearer", "Bearer ", "Basic abc", "Bearerabc", "Bearer a b", "Bearer a,b", "Bearer =abc", "Bearer ab=c", "Bearer a\"b", "Bearer é",
        ] {
            #expect(throws: BearerError.self, "\(value)") { _ = try self.parse(value) }
            do {
                _ = try self.parse(value)
            } catch {
                #expect(error.status == .badRequest, "\(value)")
                #expect(error.code == "invalid_request")
            }
        }
    }

    @Test func oversizeTokenIsAnInvalidToken() {
        do {
            _ = try self.parse("Bearer " + String(repeating: "a", count: 8193))
            Issue.record("accepted an oversize token")
        } catch {
            #expect(error.status == .unauthorized)
            #expect(error.code == "invalid_token")
        }
    }

    @Test func challengeIsQuotedSafely() {
        let error = BearerError.invalidToken("bad \"quote\" and \\ backslash\n")
        #expect(error.wwwAuthenticate == #"Bearer realm="resource-api", error="invalid_token", error_description="bad ?quote? and ? backslash?""#)
        #expect(BearerError.missing.wwwAuthenticate == #"Bearer realm="resource-api""#)
        #expect(BearerError.unavailable(retryAfter: 5).wwwAuthenticate == nil)
        #expect(BearerError.insufficientScope("admin").wwwAuthenticate?.hasSuffix(#", scope="admin""#) == true)
    }
}

@Suite struct CacheControlTests {
    @Test func maxAge() {
        #expect(JWKSCache.maxAge("public, max-age=300") == 300)
        #expect(JWKSCache.maxAge("max-age=0") == 0)
        #expect(JWKSCache.maxAge("Public, MAX-AGE=60, must-revalidate") == 60)
        #expect(JWKSCache.maxAge("no-store") == 0)
        #expect(JWKSCache.maxAge("public") == nil)
        #expect(JWKSCache.maxAge("max-age=-5") == nil)
        #expect(JWKSCache.maxAge("max-age=abc") == nil)
        #expect(JWKSCache.maxAge(nil) == nil)
    }

    @Test func maxAgeIsClampedToConfiguredBounds() async throws {
        // A year-long max-age is cut to jwksMaxMaxAge: the refresh still happens.
        try await withHarness(
            issuerSetup: { $0.maxAge = 31_536_000 },
            configure: { $0.jwksMaxMaxAge = .milliseconds(300) }
        ) { harness in
            let before = harness.issuer.jwksFetches
            let refreshed = await harness.eventually(within: .seconds(10)) { harness.issuer.jwksFetches >= before + 2 }
            #expect(refreshed)
        }
    }
}

@Suite struct VerifiedTokenCacheTests {
    @Test func boundedWithTwoGenerations() throws {
        let cache = VerifiedTokenCache(capacity: 4)
        let key = TestKeys.a.publicKey
        let entry = VerifiedTokenCache.Entry(claims: JWTClaims(subject: "x"), kid: "k", key: key)
        for index in 0..<100 {
            cache.insert(entry, for: TokenDigest("token-\(index)"))
            #expect(cache.count <= 4)
        }
        #expect(cache.get(TokenDigest("token-99")) != nil)
        #expect(cache.get(TokenDigest("token-0")) == nil)
        cache.remove(TokenDigest("token-99"))
        #expect(cache.get(TokenDigest("token-99")) == nil)
    }

    @Test func digestDependsOnEveryByte() {
        #expect(TokenDigest("abc") == TokenDigest("abc"))
        #expect(TokenDigest("abc") != TokenDigest("abd"))
        #expect(TokenDigest("abc") != TokenDigest("abc "))
    }
}
