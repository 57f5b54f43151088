import SharedJWT

/// Random values and digests the Issuer needs besides RSA.
enum Secrets {
    /// `count` bytes from OpenSSL's CSPRNG.
    static func randomBytes(_ count: Int) -> [UInt8] { SecureRandom.bytes(count: count) }

    /// 256-bit opaque refresh token.
    static func refreshToken() -> String { Base64URL.encode(randomBytes(32)) }

    /// 128-bit jti.
    static func tokenID() -> String { Base64URL.encode(randomBytes(16)) }

    /// Client secret, printed once.
    static func clientSecret() -> String { Base64URL.encode(randomBytes(32)) }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] { SHA256Digest.hash(bytes) }

    /// Hex SHA-256 of a token: how refresh tokens are stored.
    static func tokenHash(_ token: String) -> String {
        sha256(Array(token.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
