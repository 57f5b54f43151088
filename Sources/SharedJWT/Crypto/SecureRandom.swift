import COpenSSL

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
