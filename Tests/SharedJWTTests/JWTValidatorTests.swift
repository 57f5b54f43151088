import Testing

@testable import SharedJWT

@Suite struct JWTValidatorTests {
    @Test func signerOutputValidates() throws {
        let token = try JWTSigner(key: testKey, keyID: testKey.publicKey.thumbprint).sign(goodClaims())
        let jws = try JWS.parse(token)
        #expect(jws.header.alg == "RS256")
        #expect(jws.header.typ == "at+jwt")
        #expect(jws.header.kid == testKey.publicKey.thumbprint)
        let claims = try validator().validate(token, keys: keys())
        #expect(claims == goodClaims())
    }

    @Test func craftedGoodTokenValidates() throws {
        let token = try craftToken(header: header(), payload: payload())
        #expect(try validator().validate(token, keys: keys()).subject == "user1")
        // typ is case-insensitive and may carry the media-type prefix (RFC 9068 §2.1)
        let prefixed = try craftToken(
            header: #"{"alg":"RS256","typ":"application/AT+JWT","kid":"\#(testKey.publicKey.thumbprint)"}"#,
            payload: payload()
        )
        #expect(throws: Never.self) { try validator().validate(prefixed, keys: keys()) }
        // aud as an array that contains ours; a fractional NumericDate
        let array = try craftToken(header: header(), payload: payload(["aud": #"["other","resource-api"]"#, "exp": "\(fixedNow + 300.5)"]))
        #expect(throws: Never.self) { try validator().validate(array, keys: keys()) }
    }

    static let headerCases: [(String, JWTError)] = [
        (#"{"alg":"none","typ":"at+jwt","kid":"k"}"#, .unsupportedAlgorithm("none")),
        (#"{"alg":"HS256","typ":"at+jwt","kid":"k"}"#, .unsupportedAlgorithm("HS256")),
        (#"{"alg":"RS384","typ":"at+jwt","kid":"k"}"#, .unsupportedAlgorithm("RS384")),
        (#"{"alg":"PS256","typ":"at+jwt","kid":"k"}"#, .unsupportedAlgorithm("PS256")),
        (#"{"alg":"rs256","typ":"at+jwt","kid":"k"}"#, .unsupportedAlgorithm("rs256")),
        (#"{"typ":"at+jwt","kid":"k"}"#, .malformed("the header has no alg")),
        (#"{"alg":"RS256","alg":"none","typ":"at+jwt","kid":"k"}"#, .malformed("duplicate JSON member")),
        (#"{"alg":"RS256","kid":"k"}"#, .invalidType(nil)),
        (#"{"alg":"RS256","typ":"JWT","kid":"k"}"#, .invalidType("JWT")),
        (#"{"alg":"RS256","typ":"at+jwt"}"#, .missingKeyID),
        (#"{"alg":"RS256","typ":"at+jwt","kid":""}"#, .missingKeyID),
        (#"{"alg":"RS256","typ":"at+jwt","kid":7}"#, .malformed("kid is not a string")),
        (#"{"alg":"RS256","typ":"at+jwt","kid":"k","crit":["exp"],"exp":1}"#, .unsupportedCritical("exp")),
        (#"{"alg":"RS256","typ":"at+jwt","kid":"k","crit":[]}"#, .malformed("crit is not a non-empty array of strings")),
        (#"{"alg":"RS256","typ":"at+jwt","kid":"k","jku":"http://127.0.0.1:1/jwks"}"#, .forbiddenHeader("jku")),
        (#"{"alg":"RS256","typ":"at+jwt","kid":"k","x5u":"http://127.0.0.1:1/x"}"#, .forbiddenHeader("x5u")),
        (#"{"alg":"RS256","typ":"at+jwt","kid":"k","jwk":{"kty":"RSA"}}"#, .forbiddenHeader("jwk")),
        (#"{"alg":"RS256","typ":"at+jwt","kid":"k","x5c":["AAAA"]}"#, .forbiddenHeader("x5c")),
        (#"["RS256"]"#, .malformed("the header is not a JSON object")),
    ]

    @Test(arguments: headerCases)
    func headerRules(header: String, expected: JWTError) throws {
        let token = try craftToken(header: header, payload: payload())
        #expect(throws: expected) { try validator().validate(token, keys: { _ in testKey.publicKey }) }
    }

    static let claimCases: [([String: String], Set<String>, JWTError)] = [
        ([:], ["exp"], .missingClaim("exp")),
        ([:], ["iss"], .missingClaim("iss")),
        ([:], ["sub"], .missingClaim("sub")),
        ([:], ["aud"], .missingClaim("aud")),
        ([:], ["jti"], .missingClaim("jti")),
        ([:], ["client_id"], .missingClaim("client_id")),
        ([:], ["iat"], .missingClaim("iat")),
        (["iss": #""https://evil.test""#], [], .invalidIssuer),
        (["aud": #""other""#], [], .invalidAudience),
        (["aud": #"["a","b"]"#], [], .invalidAudience),
        (["aud": "7"], [], .invalidClaim("aud is not a string or an array of strings")),
        (["exp": "\(Int64(fixedNow) - 31)"], [], .expired),
        (["nbf": "\(Int64(fixedNow) + 31)"], [], .notYetValid),
        (["iat": "\(Int64(fixedNow) + 31)"], [], .issuedInFuture),
        (["exp": #""1700000300""#], [], .invalidClaim("exp is not a valid NumericDate")),
        (["exp": "1e300"], [], .invalidClaim("exp is not a valid NumericDate")),
        (["exp": "-1"], [], .invalidClaim("exp is not a valid NumericDate")),
        (["exp": "null"], [], .invalidClaim("exp is not a valid NumericDate")),
        (["sub": "42"], [], .invalidClaim("sub is not a string")),
        (["roles": #""admin""#], [], .invalidClaim("roles is not an array of strings")),
    ]

    @Test(arguments: claimCases)
    func claimRules(overrides: [String: String], drop: Set<String>, expected: JWTError) throws {
        let token = try craftToken(header: header(), payload: payload(overrides, drop: drop))
        #expect(throws: expected) { try validator().validate(token, keys: keys()) }
    }

    @Test func leewayIsHonouredAtTheEdges() throws {
        let expiredWithinLeeway = try craftToken(header: header(), payload: payload(["exp": "\(Int64(fixedNow) - 29)"]))
        #expect(throws: Never.self) { try validator().validate(expiredWithinLeeway, keys: keys()) }
        #expect(throws: JWTError.expired) { try validator(leeway: 0).validate(expiredWithinLeeway, keys: keys()) }
        let exactlyNow = try craftToken(header: header(), payload: payload(["exp": "\(Int64(fixedNow))"]))
        #expect(throws: JWTError.expired) { try validator(leeway: 0).validate(exactlyNow, keys: keys()) }
        let notBeforeWithinLeeway = try craftToken(header: header(), payload: payload(["nbf": "\(Int64(fixedNow) + 29)"]))
        #expect(throws: Never.self) { try validator().validate(notBeforeWithinLeeway, keys: keys()) }
    }

    @Test func signatureRules() throws {
        let token = try craftToken(header: header(), payload: payload())
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        // tampered payload
        let tamperedPayload = Base64URL.encode(Array(payload(["sub": #""admin""#]).utf8))
        #expect(throws: JWTError.badSignature) {
            try validator().validate([parts[0], tamperedPayload, parts[2]].joined(separator: "."), keys: keys())
        }
        // a signature from another token
        let other = try craftToken(header: header(), payload: payload(["jti": #""other""#]))
        let otherSignature = other.split(separator: ".").map(String.init)[2]
        #expect(throws: JWTError.badSignature) {
            try validator().validate([parts[0], parts[1], otherSignature].joined(separator: "."), keys: keys())
        }
        // truncated signature
        #expect(throws: JWTError.badSignature) {
            let truncated = Base64URL.encode(try Base64URL.decode(parts[2]).dropLast(2))
            return try validator().validate([parts[0], parts[1], truncated].joined(separator: "."), keys: keys())
        }
        // an attacker's key under our kid
        let forged = try craftToken(header: header(), payload: payload(), key: otherKey)
        #expect(throws: JWTError.badSignature) { try validator().validate(forged, keys: keys()) }
        // unknown kid
        let unknown = try craftToken(header: header(kid: "nope"), payload: payload())
        #expect(throws: JWTError.unknownKeyID("nope")) { try validator().validate(unknown, keys: keys()) }
    }

    @Test func structureRules() throws {
        let token = try craftToken(header: header(), payload: payload())
        let parts = token.split(separator: ".").map(String.init)
        let cases: [String] = [
            parts[0] + "." + parts[1],  // 2 segments
            token + ".x",  // 4 segments
            token + ".x.y",  // 5 segments
            parts[0] + ".." + parts[2],  // empty payload
            "." + parts[1] + "." + parts[2],  // empty header
            parts[0] + "." + parts[1] + ".",  // empty signature
            parts[0] + "=." + parts[1] + "." + parts[2],  // padding
            parts[0] + "." + parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "+/." + parts[2],
            " " + token,  // whitespace
            token + "\n",
            Base64URL.encode(Array(header().utf8)) + "." + Base64URL.encode(Array("[1,2]".utf8)) + "." + parts[2],
            Base64URL.encode(Array(header().utf8)) + "." + Base64URL.encode(Array(#""str""#.utf8)) + "." + parts[2],
            Base64URL.encode(Array(header().utf8)) + "." + Base64URL.encode([0xFF, 0xFE, 0x7B]) + "." + parts[2],
            Base64URL.encode(Array(header().utf8)) + "."
                + Base64URL.encode(Array((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8)) + "." + parts[2],
        ]
        for (index, bad) in cases.enumerated() {
            #expect(throws: JWTError.self, "case \(index)") { try validator().validate(bad, keys: keys()) }
        }
        let oversize = token + String(repeating: "A", count: 8192)
        #expect(throws: JWTError.tooLarge) { try validator().validate(oversize, keys: keys()) }
    }

    @Test func descriptionsAreSafeForAQuotedHeader() {
        let error = JWTError.unsupportedAlgorithm("x\"\\\n" + String(repeating: "A", count: 100))
        #expect(!error.description.contains("\""))
        #expect(!error.description.contains("\\"))
        #expect(!error.description.contains("\n"))
        #expect(error.description.count < 80)
    }
}

/// `JWS.parse` remembers the last header by its exact segment; interleaved headers must
/// each come out as themselves, and a bad header is refused whatever came before it.
@Suite struct HeaderMemoTests {
    @Test func interleavedHeadersEachParseAsThemselves() throws {
        let plain = try craftToken(header: header(kid: "first"), payload: payload())
        let other = try craftToken(header: header(kid: "second", extra: #","x5t":"abc""#), payload: payload())
        for _ in 0..<3 {
            let a = try JWS.parse(plain)
            let b = try JWS.parse(other)
            #expect(a.header.kid == "first")
            #expect(!a.header.parameterNames.contains("x5t"))
            #expect(b.header.kid == "second")
            #expect(b.header.parameterNames.contains("x5t"))
        }
    }

    @Test func badHeaderAfterGoodOneIsStillRefused() throws {
        let good = try craftToken(header: header(), payload: payload())
        _ = try JWS.parse(good)
        let goodSegment = String(good.split(separator: ".")[0])
        // Same length as the remembered segment, one character changed: not valid JSON.
        var broken = Array(goodSegment.utf8)
        broken[0] = UInt8(ascii: "A")
        let tampered = String(decoding: broken, as: UTF8.self) + good.drop(while: { $0 != "." })
        #expect(throws: JWTError.self) { try JWS.parse(tampered) }
        // And the good one still parses afterwards.
        #expect(try JWS.parse(good).header.alg == "RS256")
    }
}
