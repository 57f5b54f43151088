import COpenSSL

/// An RSA private key for RS256 signing, held by OpenSSL.
///
/// `@unchecked Sendable`: the `EVP_PKEY` is never modified after `init`, and OpenSSL 3
/// allows one key to sign from many threads at once.
public final class RSAPrivateKey: @unchecked Sendable {
    public static let allowedSizes: Set<Int> = [2048, 3072, 4096]

    let pkey: OpaquePointer
    public let publicKey: RSAPublicKey

    private init(taking pkey: OpaquePointer) throws {
        guard EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA else {
            EVP_PKEY_free(pkey)
            throw KeyError("not an RSA key")
        }
        self.pkey = pkey
        do {
            self.publicKey = try RSAPublicKey(modulus: try Self.bigNumber(pkey, "n"), exponent: try Self.bigNumber(pkey, "e"))
        } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
        guard publicKey.bits >= 2048 else {
            EVP_PKEY_free(pkey)
            throw KeyError("RSA keys must have at least 2048 bits")
        }
    }

    deinit { EVP_PKEY_free(pkey) }

    /// A fresh key with e = 65537.
    public static func generate(bits: Int = 2048) throws -> RSAPrivateKey {
        guard allowedSizes.contains(bits) else { throw KeyError("RSA key size must be 2048, 3072 or 4096 bits") }
        guard let pkey = copenssl_rsa_generate(UInt32(bits)) else { throw KeyError("RSA key generation failed") }
        return try RSAPrivateKey(taking: pkey)
    }

    /// Loads a PEM private key (PKCS#8 `BEGIN PRIVATE KEY`; PKCS#1 is also understood).
    public convenience init(pkcs8PEM pem: String) throws {
        let pkey = try withMemoryBIO(pem) { bio in PEM_read_bio_PrivateKey(bio, nil, nil, nil) }
        guard let pkey else {
            ERR_clear_error()
            throw KeyError("not a PEM private key")
        }
        try self.init(taking: pkey)
    }

    /// Builds a key from the members of a private JWK (RFC 7518 §6.3.2): `n`, `e`, `d`,
    /// `p`, `q`, `dp`, `dq`, `qi`, as big-endian bytes. For importing keys and test vectors.
    public convenience init(jwkComponents components: [String: [UInt8]]) throws {
        let names = ["n", "e", "d", "p", "q", "dp", "dq", "qi"]
        let values = try names.map { name -> [UInt8] in
            guard let value = components[name], !value.isEmpty else { throw KeyError("private JWK member \(name) missing") }
            return value
        }
        let pkey: OpaquePointer? = values.withPointers { pointers, lengths in
            copenssl_rsa_private_key(pointers, lengths)
        }
        guard let pkey else {
            ERR_clear_error()
            throw KeyError("invalid RSA private key")
        }
        try self.init(taking: pkey)
    }

    /// The key as PKCS#8 PEM (unencrypted: protect the file, mode 0600).
    public func pkcs8PEM() throws -> String {
        try writeToMemoryBIO { bio in PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil) }
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    public func signRS256(_ message: some Collection<UInt8>) throws -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw KeyError("out of memory") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, sha256, nil, pkey) == 1 else {
            ERR_clear_error()
            throw KeyError("signing failed")
        }
        var signatureLength = Int(EVP_PKEY_get_size(pkey))
        var signature = [UInt8](repeating: 0, count: signatureLength)
        let status = withContiguousBytes(message) { messageBuffer in
            EVP_DigestSign(context, &signature, &signatureLength, messageBuffer.baseAddress, messageBuffer.count)
        }
        guard status == 1 else {
            ERR_clear_error()
            throw KeyError("signing failed")
        }
        signature.removeSubrange(signatureLength...)
        return signature
    }

    private static func bigNumber(_ pkey: OpaquePointer, _ name: String) throws -> [UInt8] {
        var number: OpaquePointer? = nil
        guard EVP_PKEY_get_bn_param(pkey, name, &number) == 1, let number else {
            ERR_clear_error()
            throw KeyError("cannot read the RSA \(name)")
        }
        defer { BN_free(number) }
        var bytes = [UInt8](repeating: 0, count: Int((BN_num_bits(number) + 7) / 8))
        _ = BN_bn2bin(number, &bytes)
        return bytes
    }
}

// MARK: - Helpers

extension Array where Element == [UInt8] {
    /// Calls `body` with C arrays of base pointers and lengths of every element.
    fileprivate func withPointers<R>(_ body: (UnsafePointer<UnsafePointer<UInt8>?>, UnsafePointer<Int>) -> R) -> R {
        let copies = map { bytes -> UnsafeMutableBufferPointer<UInt8> in
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
            _ = buffer.initialize(from: bytes)
            return buffer
        }
        defer {
            for buffer in copies {
                buffer.update(repeating: 0)  // private key material: wipe before freeing
                buffer.deallocate()
            }
        }
        let pointers: [UnsafePointer<UInt8>?] = copies.map { UnsafePointer($0.baseAddress) }
        let lengths = copies.map(\.count)
        return pointers.withUnsafeBufferPointer { p in
            lengths.withUnsafeBufferPointer { l in body(p.baseAddress!, l.baseAddress!) }
        }
    }
}
