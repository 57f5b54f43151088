import COpenSSL

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
