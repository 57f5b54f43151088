import COpenSSL

/// Why a key could not be created, loaded or used.
public struct KeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The SHA-256 implementation, fetched once: `EVP_sha256()` would do an implicit fetch
/// on every call.
nonisolated(unsafe) private let sha256: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil)

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

/// An RSA public key for RS256 verification, held by OpenSSL.
///
/// `@unchecked Sendable` for the same reason as `RSAPrivateKey`.
public final class RSAPublicKey: @unchecked Sendable {
    let pkey: OpaquePointer
    /// `EVP_DigestVerifyInit` done once for RS256; only read (copied) after init, which
    /// OpenSSL allows from several threads at once.
    private let verifyTemplate: OpaquePointer
    public let bits: Int
    /// Big-endian, without leading zero bytes.
    public let modulus: [UInt8]
    public let exponent: [UInt8]
    /// RFC 7638 SHA-256 thumbprint, base64url: the `kid` this project uses.
    public let thumbprint: String

    /// Builds a key from big-endian modulus and exponent bytes (a JWK's `n` and `e`).
    public init(modulus: [UInt8], exponent: [UInt8]) throws {
        let modulus = Array(modulus.drop(while: { $0 == 0 }))
        let exponent = Array(exponent.drop(while: { $0 == 0 }))
        guard !modulus.isEmpty, modulus.last.map({ $0 & 1 == 1 }) == true else { throw KeyError("invalid RSA modulus") }
        // A sane public exponent: odd, at least 3, and at most 32 bits (RFC 8017 allows
        // more, but nobody uses it and it makes verification slow).
        guard !exponent.isEmpty, exponent.count <= 4, exponent.last.map({ $0 & 1 == 1 }) == true,
            exponent.count > 1 || exponent[0] >= 3
        else { throw KeyError("invalid RSA exponent") }
        guard modulus.count <= 2048 else { throw KeyError("RSA modulus too large") }
        guard let pkey = copenssl_rsa_public_key(modulus, modulus.count, exponent, exponent.count) else {
            ERR_clear_error()
            throw KeyError("invalid RSA public key")
        }
        // Set up once for RS256 (a context that is never used itself, only copied).
        guard let template = EVP_MD_CTX_new() else {
            EVP_PKEY_free(pkey)
            throw KeyError("out of memory")
        }
        guard EVP_DigestVerifyInit(template, nil, sha256, nil, pkey) == 1 else {
            ERR_clear_error()
            EVP_MD_CTX_free(template)
            EVP_PKEY_free(pkey)
            throw KeyError("the RSA key cannot verify RS256")
        }
        self.pkey = pkey
        self.verifyTemplate = template
        self.bits = Int(EVP_PKEY_get_bits(pkey))
        self.modulus = modulus
        self.exponent = exponent
        self.thumbprint = Self.thumbprint(modulus: modulus, exponent: exponent)
    }

    /// Loads a SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    public convenience init(pem: String) throws {
        let pkey = try withMemoryBIO(pem) { bio in PEM_read_bio_PUBKEY(bio, nil, nil, nil) }
        guard let pkey else {
            ERR_clear_error()
            throw KeyError("not a PEM public key")
        }
        defer { EVP_PKEY_free(pkey) }
        guard EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA else { throw KeyError("not an RSA key") }
        var n: OpaquePointer? = nil
        var e: OpaquePointer? = nil
        defer {
            BN_free(n)
            BN_free(e)
        }
        guard EVP_PKEY_get_bn_param(pkey, "n", &n) == 1, EVP_PKEY_get_bn_param(pkey, "e", &e) == 1, let n, let e else {
            ERR_clear_error()
            throw KeyError("cannot read the RSA public key")
        }
        var modulus = [UInt8](repeating: 0, count: Int((BN_num_bits(n) + 7) / 8))
        var exponent = [UInt8](repeating: 0, count: Int((BN_num_bits(e) + 7) / 8))
        _ = BN_bn2bin(n, &modulus)
        _ = BN_bn2bin(e, &exponent)
        try self.init(modulus: modulus, exponent: exponent)
    }

    deinit {
        EVP_MD_CTX_free(verifyTemplate)
        EVP_PKEY_free(pkey)
    }

    /// The key as SubjectPublicKeyInfo PEM.
    public func pem() throws -> String {
        try writeToMemoryBIO { bio in PEM_write_bio_PUBKEY(bio, pkey) }
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    public func verifyRS256(signature: some Collection<UInt8>, message: some Collection<UInt8>) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        // A copy of the set-up context: EVP_DigestVerifyInit looks the key's provider
        // operations up by name on every call, ≈ 2 µs of a ≈ 16 µs verify here
        // (measured with a C loop over both, OpenSSL 3.0). OpenSSL copies contexts the
        // same way itself (EVP_DigestSignFinal); the template is only ever read.
        guard EVP_MD_CTX_copy_ex(context, verifyTemplate) == 1 else {
            ERR_clear_error()
            return false
        }
        let status = withContiguousBytes(signature) { signatureBuffer in
            withContiguousBytes(message) { messageBuffer in
                EVP_DigestVerify(context, signatureBuffer.baseAddress, signatureBuffer.count, messageBuffer.baseAddress, messageBuffer.count)
            }
        }
        if status != 1 {
            // A failed verification leaves an entry on this thread's error queue.
            ERR_clear_error()
            return false
        }
        return true
    }

    /// The public JWK: `kty`, `use`, `alg`, `kid`, `n`, `e` and nothing else.
    public func jwk(kid: String? = nil) -> JWK {
        JWK(kty: "RSA", use: "sig", alg: "RS256", kid: kid ?? thumbprint, n: Base64URL.encode(modulus), e: Base64URL.encode(exponent))
    }

    /// RFC 7638 §3: SHA-256 over `{"e":..,"kty":"RSA","n":..}`, members sorted, no spaces.
    static func thumbprint(modulus: [UInt8], exponent: [UInt8]) -> String {
        let canonical = #"{"e":""# + Base64URL.encode(exponent) + #"","kty":"RSA","n":""# + Base64URL.encode(modulus) + #""}"#
        return Base64URL.encode(SHA256Digest.hash(Array(canonical.utf8)))
    }
}

// MARK: - Small primitives the services need too

/// SHA-256 through OpenSSL.
public enum SHA256Digest {
    public static func hash(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = withContiguousBytes(bytes) { buffer in
            EVP_Digest(buffer.baseAddress, buffer.count, &digest, &length, sha256, nil)
        }
        return digest
    }
}

/// Bytes from OpenSSL's CSPRNG.
public enum SecureRandom {
    public static func bytes(count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        // RAND_bytes only fails when the OS entropy source is broken; carrying on with
        // zeros would mint guessable tokens, so that is the one place to stop.
        guard RAND_bytes(&bytes, Int32(count)) == 1 else {
            preconditionFailure("OpenSSL RAND_bytes failed: no secure randomness available")
        }
        return bytes
    }
}

/// Compares two byte strings in time that depends only on their lengths.
public func constantTimeEquals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for (a, b) in zip(lhs, rhs) { difference |= a ^ b }
    return difference == 0
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

func withContiguousBytes<C: Collection<UInt8>, R>(_ bytes: C, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
    if let result = try bytes.withContiguousStorageIfAvailable(body) { return result }
    return try Array(bytes).withUnsafeBufferPointer(body)
}

private func withMemoryBIO<R>(_ text: String, _ body: (OpaquePointer) -> R) throws -> R {
    var bytes = Array(text.utf8)
    return try bytes.withUnsafeMutableBytes { buffer in
        guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { throw KeyError("out of memory") }
        defer { BIO_free(bio) }
        return body(bio)
    }
}

private func writeToMemoryBIO(_ body: (OpaquePointer) -> Int32) throws -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { throw KeyError("out of memory") }
    defer { BIO_free(bio) }
    guard body(bio) == 1 else {
        ERR_clear_error()
        throw KeyError("cannot write the key")
    }
    var data: UnsafeMutablePointer<CChar>? = nil
    let length = copenssl_bio_mem_data(bio, &data)
    guard let data, length > 0 else { throw KeyError("cannot write the key") }
    return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
}
