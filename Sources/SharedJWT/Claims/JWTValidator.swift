#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Seconds since 1970; injected so tests can move time.
public typealias JWTClock = @Sendable () -> Double

/// Checks access tokens per RFC 9068 and RFC 8725.
///
/// The algorithm comes from configuration, never from the token, and no key is ever
/// taken from the token (`jku`, `x5u`, `jwk`, `x5c` are refused outright). `decode`
/// does every check that needs no key, so an expired or wrong-audience token is
/// refused before any RSA work.
public struct JWTValidator: Sendable {
    public struct Configuration: Sendable {
        public var issuer: String
        public var audience: String
        /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
        public var leeway: Int64
        public var allowedAlgorithms: Set<String> = ["RS256"]
        /// Compared case-insensitively; `application/` may precede it (RFC 9068 §2.1).
        public var requiredType: String = "at+jwt"
        public var maxTokenBytes: Int = 8192
        /// Claims RFC 9068 §2.2 makes mandatory.
        public var requiredClaims: [String] = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]

        public init(issuer: String, audience: String, leeway: Int64 = 30) {
            self.issuer = issuer
            self.audience = audience
            self.leeway = leeway
        }
    }

    /// Header parameters that would let a token choose its own key.
    static let forbiddenHeaderParameters: Set<String> = ["jku", "x5u", "jwk", "x5c"]

    public let configuration: Configuration
    public let clock: JWTClock

    public init(configuration: Configuration, clock: @escaping JWTClock = { Date().timeIntervalSince1970 }) {
        self.configuration = configuration
        self.clock = clock
    }

    /// Parses the token and applies every rule that needs no key.
    public func decode(_ token: some StringProtocol) throws -> JWS {
        let jws = try JWS.parse(token, maxBytes: configuration.maxTokenBytes)
        try checkHeader(jws.header)
        try checkClaims(jws.claims)
        return jws
    }

    /// RS256 with the key found for the token's `kid`.
    public func verifySignature(_ jws: JWS, with key: RSAPublicKey) throws {
        guard key.verifyRS256(signature: jws.signature, message: jws.signingInput) else {
            throw JWTError.badSignature
        }
    }

    /// `decode`, then the key for its `kid`, then the signature.
    public func validate(_ token: some StringProtocol, keys: (String) -> RSAPublicKey?) throws -> JWTClaims {
        let jws = try decode(token)
        let kid = jws.header.kid ?? ""
        guard let key = keys(kid) else { throw JWTError.unknownKeyID(kid) }
        try verifySignature(jws, with: key)
        return jws.claims
    }

    func checkHeader(_ header: JWSHeader) throws {
        guard configuration.allowedAlgorithms.contains(header.alg) else {
            throw JWTError.unsupportedAlgorithm(header.alg)
        }
        if let name = header.parameterNames.first(where: Self.forbiddenHeaderParameters.contains) {
            throw JWTError.forbiddenHeader(name)
        }
        // This verifier understands no extension, so any critical one is refused
        // (RFC 7515 §4.1.11).
        if let critical = header.crit?.first {
            throw JWTError.unsupportedCritical(critical)
        }
        guard let typ = header.typ else { throw JWTError.invalidType(nil) }
        if !Self.typeMatches(typ, configuration.requiredType) { throw JWTError.invalidType(typ) }
        guard let kid = header.kid, !kid.isEmpty else { throw JWTError.missingKeyID }
    }

    func checkClaims(_ claims: JWTClaims) throws {
        for name in configuration.requiredClaims where !Self.has(claims, name) {
            throw JWTError.missingClaim(name)
        }
        if let issuer = claims.issuer, issuer != configuration.issuer { throw JWTError.invalidIssuer }
        guard claims.audience.contains(configuration.audience) else { throw JWTError.invalidAudience }
        try checkTime(claims)
    }

    /// `exp`, `nbf` and `iat` against the clock, with the leeway.
    public func checkTime(_ claims: JWTClaims) throws {
        let now = Int64(clock().rounded(.down))
        let leeway = configuration.leeway
        guard let expiresAt = claims.expiresAt else { throw JWTError.missingClaim("exp") }
        if now - leeway >= expiresAt { throw JWTError.expired }
        if let notBefore = claims.notBefore, notBefore > now + leeway { throw JWTError.notYetValid }
        if let issuedAt = claims.issuedAt, issuedAt > now + leeway { throw JWTError.issuedInFuture }
    }

    static func typeMatches(_ typ: String, _ required: String) -> Bool {
        let lowered = typ.lowercased()
        return lowered == required.lowercased() || lowered == "application/" + required.lowercased()
    }

    static func has(_ claims: JWTClaims, _ name: String) -> Bool {
        switch name {
        case "iss": claims.issuer != nil
        case "sub": claims.subject != nil
        case "aud": !claims.audience.isEmpty
        case "exp": claims.expiresAt != nil
        case "iat": claims.issuedAt != nil
        case "nbf": claims.notBefore != nil
        case "jti": claims.jwtID != nil
        case "client_id": claims.clientID != nil
        case "scope": claims.scope != nil
        default: true
        }
    }
}
