import Testing

@testable import SharedJWT

@Suite struct JWKSetTests {
    func jwkJSON(_ key: RSAPublicKey = testKey.publicKey, kid: String? = nil, extra: String = "", kty: String = "RSA") -> String {
        let jwk = key.jwk()
        return #"{"kty":"\#(kty)","kid":"\#(kid ?? key.thumbprint)","n":"\#(jwk.n ?? "")","e":"\#(jwk.e ?? "")"\#(extra)}"#
    }

    @Test func publishesExactlyThePublicMembers() throws {
        let bytes = JWKSet.encode([testKey.publicKey, otherKey.publicKey])
        let document = try JSONValue.parse(bytes)
        let keys = try #require(document["keys"]?.arrayValue)
        #expect(keys.count == 2)
        for key in keys {
            #expect(key.objectValue?.map(\.key) == ["kty", "use", "alg", "kid", "n", "e"])
        }
        let parsed = try JWKSetPolicy().parse(bytes)
        #expect(Set(parsed.keys.keys) == [testKey.publicKey.thumbprint, otherKey.publicKey.thumbprint])
        #expect(parsed.skipped.isEmpty)
    }

    @Test func skipsUnusableKeysWithoutDroppingGoodOnes() throws {
        let small = try RSAPublicKey(modulus: [0xC3] + [UInt8](repeating: 1, count: 127), exponent: [1, 0, 1])
        let entries = [
            jwkJSON(),  // the good one
            jwkJSON(otherKey.publicKey, kty: "EC"),
            jwkJSON(otherKey.publicKey, kid: "enc", extra: #","use":"enc""#),
            jwkJSON(otherKey.publicKey, kid: "rs512", extra: #","alg":"RS512""#),
            jwkJSON(otherKey.publicKey, kid: "private", extra: #","d":"AQAB""#),
            jwkJSON(small, kid: "small"),
            jwkJSON(otherKey.publicKey, kid: ""),
            jwkJSON(testKey.publicKey),  // duplicate kid
            #"{"kty":"RSA","kid":"bad-n","n":"===","e":"AQAB"}"#,
            #"{"kty":"RSA","kid":"ops","n":"AQAB","e":"AQAB","key_ops":["encrypt"]}"#,
            #""just a string""#,
        ]
        let parsed = try JWKSetPolicy().parse(Array(#"{"keys":[\#(entries.joined(separator: ","))]}"#.utf8))
        #expect(Array(parsed.keys.keys) == [testKey.publicKey.thumbprint])
        #expect(parsed.skipped.count == entries.count - 1)
        #expect(parsed.skipped.contains { $0.kid == "small" && $0.reason.contains("too small") })
        #expect(parsed.skipped.contains { $0.kid == "private" && $0.reason.contains("private member") })
    }

    @Test func refusesWholeSetsThatAreTooBigOrNotSets() {
        let policy = JWKSetPolicy()
        let many = #"{"keys":[\#(Array(repeating: jwkJSON(), count: 33).joined(separator: ","))]}"#
        #expect(throws: JWKSetError.tooManyKeys(33)) { try policy.parse(Array(many.utf8)) }
        let huge = [UInt8](repeating: 0x20, count: 65_537)
        #expect(throws: JWKSetError.tooLarge(65_537)) { try policy.parse(huge) }
        #expect(throws: JWKSetError.self) { try policy.parse(Array("not json".utf8)) }
        #expect(throws: JWKSetError.self) { try policy.parse(Array(#"{"keys":{}}"#.utf8)) }
        #expect(throws: JWKSetError.self) { try policy.parse(Array(#"[]"#.utf8)) }
    }
}
