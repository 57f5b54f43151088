import HTTPTypes
import SharedJWT

/// The whole decision for one bearer token: cheap checks first, then the key, then RSA,
/// then revocation. Expired or wrong-audience tokens never reach the RSA step.
public final class TokenVerifier: Sendable {
    let keys: JWKSCache
    let revocations: RevocationList
    let verified: VerifiedTokenCache?
    let metrics: ResourceAPIMetrics

    init(keys: JWKSCache, revocations: RevocationList, verifiedCacheSize: Int, metrics: ResourceAPIMetrics) {
        self.keys = keys
        self.revocations = revocations
        self.verified = verifiedCacheSize > 0 ? VerifiedTokenCache(capacity: verifiedCacheSize) : nil
        self.metrics = metrics
    }

    public func verify(_ token: Substring) async throws(BearerError) -> JWTClaims {
        do {
            switch try self.decide(token) {
            case .accepted(let claims):
                return claims
            case .needsKey(let pending):
                return try await self.finish(pending)
            }
        } catch {
            self.record(error)
            throw error
        }
    }

    /// For the event-loop fast path: the same decision as `verify`, or nil when it needs a
    /// key the cache does not hold yet (a fetch to wait for, which only `verify` does).
    func verifyWithoutWaiting(_ token: Substring) throws(BearerError) -> JWTClaims? {
        do {
            switch try self.decide(token) {
            case .accepted(let claims): return claims
            case .needsKey: return nil
            }
        } catch {
            self.record(error)
            throw error
        }
    }

    private func record(_ error: BearerError) {
        switch error.status {
        case .serviceUnavailable: self.metrics.verification("unavailable")
        case _ where error == .revoked: self.metrics.verification("revoked")
        default: self.metrics.verification("invalid_token")
        }
    }

    /// A token that passed every check that needs no key, waiting for its key.
    struct PendingVerification {
        var jws: JWS
        var kid: String
        var validator: JWTValidator
        var digest: TokenDigest?
    }

    enum Decision {
        case accepted(JWTClaims)
        case needsKey(PendingVerification)
    }

    /// Everything that can be decided without waiting: the verified-token cache, parsing,
    /// the claims, and the signature when the key is already cached.
    private func decide(_ token: Substring) throws(BearerError) -> Decision {
        guard let validator = self.keys.validator else {
            // Before discovery the issuer is unknown, but a token that does not even parse
            // is bad whatever the keys.
            do {
                _ = try JWS.parse(token)
            } catch {
                throw .invalidToken((error as? JWTError)?.description ?? "the token is malformed")
            }
            throw .unavailable(retryAfter: self.retryAfter())
        }
        let digest = self.verified.map { _ in TokenDigest(token) }

        // A token verified before: time, key still present, revocation. No RSA.
        if let verified, let digest, let entry = verified.get(digest) {
            switch self.keys.cachedKey(for: entry.kid) {
            case .found(let key) where key === entry.key:
                do {
                    try validator.checkTime(entry.claims)
                } catch {
                    verified.remove(digest)
                    throw .invalidToken((error as? JWTError)?.description ?? "the token expired")
                }
                try self.checkRevocation(entry.claims)
                self.metrics.verification("cached")
                return .accepted(entry.claims)
            case .unavailable(let retryAfter):
                throw .unavailable(retryAfter: retryAfter)
            case .found, .unknown:
                // The key went away or changed: verify from scratch (and fail if it is gone).
                verified.remove(digest)
            }
        }

        let jws: JWS
        do {
            jws = try validator.decode(token)
        } catch let error as JWTError {
            throw .invalidToken(error.description)
        } catch {
            throw .invalidToken("the token is malformed")
        }
        let pending = PendingVerification(jws: jws, kid: jws.header.kid ?? "", validator: validator, digest: digest)
        switch self.keys.cachedKey(for: pending.kid) {
        case .found(let key): return .accepted(try self.accept(pending, key: key))
        case .unavailable(let retryAfter): throw .unavailable(retryAfter: retryAfter)
        case .unknown: return .needsKey(pending)
        }
    }

    /// The rest of `decide` once the key cache has answered (after a fetch if it took one).
    private func finish(_ pending: PendingVerification) async throws(BearerError) -> JWTClaims {
        switch await self.keys.key(for: pending.kid) {
        case .found(let key): return try self.accept(pending, key: key)
        case .unknown: throw .invalidToken(JWTError.unknownKeyID(pending.kid).description)
        case .unavailable(let retryAfter): throw .unavailable(retryAfter: retryAfter)
        }
    }

    private func accept(_ pending: PendingVerification, key: RSAPublicKey) throws(BearerError) -> JWTClaims {
        do {
            try pending.validator.verifySignature(pending.jws, with: key)
        } catch let error as JWTError {
            throw .invalidToken(error.description)
        } catch {
            throw .invalidToken("the signature is invalid")
        }
        let claims = pending.jws.claims
        try self.checkRevocation(claims)
        if let verified, let digest = pending.digest {
            verified.insert(.init(claims: claims, kid: pending.kid, key: key), for: digest)
        }
        self.metrics.verification("valid")
        return claims
    }

    private func checkRevocation(_ claims: JWTClaims) throws(BearerError) {
        if let jti = claims.jwtID, self.revocations.isRevoked(jti) {
            throw .revoked
        }
    }

    private func retryAfter() -> Int {
        if case .unavailable(let seconds) = self.keys.cachedKey(for: "") { return seconds }
        return 1
    }
}
