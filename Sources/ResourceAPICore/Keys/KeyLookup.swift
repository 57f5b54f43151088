import SharedJWT

/// The answer to "which key is `kid`?".
public enum KeyLookup: Sendable {
    case found(RSAPublicKey)
    /// Not in the set, even after the fetch it was allowed to trigger.
    case unknown
    /// No JWK Set yet, or the last good one is older than `jwks-max-stale`.
    case unavailable(retryAfter: Int)
}
