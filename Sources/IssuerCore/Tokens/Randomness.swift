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
        let digest = sha256(Array(token.utf8))
        // Two lowercase hex digits a byte, written into one buffer (on every refresh).
        return String(unsafeUninitializedCapacity: digest.count * 2) { buffer in
            for (index, byte) in digest.enumerated() {
                buffer[2 * index] = hexDigits[Int(byte >> 4)]
                buffer[2 * index + 1] = hexDigits[Int(byte & 0x0F)]
            }
            return digest.count * 2
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
