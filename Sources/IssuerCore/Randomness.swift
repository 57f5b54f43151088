import COpenSSL
import SharedJWT

/// Random values and digests the Issuer needs besides RSA.
enum Secrets {
    /// `count` bytes from the system CSPRNG (getrandom on Linux).
    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// 256-bit opaque refresh token.
    static func refreshToken() -> String { Base64URL.encode(randomBytes(32)) }

    /// 128-bit jti.
    static func tokenID() -> String { Base64URL.encode(randomBytes(16)) }

    /// Client secret, printed once.
    static func clientSecret() -> String { Base64URL.encode(randomBytes(32)) }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                _ = SHA256(input.baseAddress, input.count, output.baseAddress)
            }
        }
        return digest
    }

    /// Hex SHA-256 of a token: how refresh tokens are stored.
    static func tokenHash(_ token: String) -> String {
        sha256(Array(token.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
