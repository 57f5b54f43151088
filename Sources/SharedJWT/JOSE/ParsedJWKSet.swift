/// A JWK Set read under a policy: the keys that passed and why the others did not.
public struct ParsedJWKSet: Sendable {
    public struct SkippedKey: Sendable, Equatable {
        public var kid: String?
        public var reason: String
    }

    /// Usable keys by `kid`.
    public var keys: [String: RSAPublicKey]
    public var skipped: [SkippedKey]
}
