import ServiceSupport
import Testing

/// `BearerAuthorization.token(from:maxTokenBytes:)`: the RFC 6750 §2.1 header rules, octet by octet.
@Suite struct BearerAuthorizationTests {
    private func token(_ value: String, max: Int = 64) throws(BearerAuthorization.Failure) -> String {
        String(try BearerAuthorization.token(from: value, maxTokenBytes: max))
    }

    private func failure(_ value: String, max: Int = 64) -> BearerAuthorization.Failure? {
        do {
            _ = try self.token(value, max: max)
            return nil
        } catch {
            return error
        }
    }

    @Test func acceptsTheSchemeInAnyCaseWithSpacesAndTabsAround() throws {
        #expect(try self.token("Bearer abc.def-ghi_~+/==") == "abc.def-ghi_~+/==")
        #expect(try self.token("bearer abc") == "abc")
        #expect(try self.token("BEARER abc") == "abc")
        #expect(try self.token("  \tBeArEr \t abc \t ") == "abc")
    }

    @Test func refusesOtherSchemesAndEmptyTokens() {
        #expect(self.failure("Basic dXNlcjE6cGFzcw==") == .malformed("the Authorization scheme is not Bearer"))
        #expect(self.failure("Bearerx abc") == .malformed("the Authorization scheme is not Bearer"))
        #expect(self.failure("Bearr abc") == .malformed("the Authorization scheme is not Bearer"))
        #expect(self.failure("Bearer") == .malformed("the bearer token is empty"))
        #expect(self.failure("bearer") == .malformed("the bearer token is empty"))
        #expect(self.failure("Bearer \t  ") == .malformed("the bearer token is empty"))
        #expect(self.failure("abc.def.ghi") == .malformed("the Authorization header is not Bearer <token>"))
        #expect(self.failure("") == .malformed("the Authorization header is not Bearer <token>"))
    }

    @Test func refusesCharactersOutsideB64token() {
        let refused = BearerAuthorization.Failure.malformed("the bearer token has characters RFC 6750 does not allow")
        for value in ["Bearer a b", "Bearer =abc", "Bearer ab=c", "Bearer ab,c", "Bearer abé", "Bearer a\u{0}b", "Bearer ab\"c"] {
            #expect(self.failure(value) == refused, "\(value.debugDescription)")
        }
    }

    @Test func capsTheTokenInBytes() throws {
        #expect(try self.token("Bearer " + String(repeating: "a", count: 64)).utf8.count == 64)
        #expect(self.failure("Bearer " + String(repeating: "a", count: 65)) == .tooLarge)
    }
}
