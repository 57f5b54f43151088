/// A JWK Set (RFC 7517 §5).
public struct JWKSet: Sendable, Equatable, Codable {
    public var keys: [JWK]

    public init(keys: [JWK]) {
        self.keys = keys
    }

    /// Compact JSON with members in a stable order, so the bytes (and an ETag over
    /// them) only change when the keys do.
    public func serialized() -> [UInt8] {
        JSONValue.object([("keys", .array(keys.map(\.jsonValue)))]).serialized()
    }

    /// The public JWK Set for these keys, each under its RFC 7638 thumbprint.
    public static func encode(_ keys: [RSAPublicKey]) -> [UInt8] {
        JWKSet(keys: keys.map { $0.jwk() }).serialized()
    }
}
