/// Base64url without padding (RFC 7515 §2, RFC 4648 §5).
///
/// Hand-written rather than Foundation's `Data(base64Encoded:)` because JOSE needs the
/// URL alphabet, no padding, and a strict decoder: `=`, `+`, `/`, whitespace and
/// non-canonical trailing bits are all refused, so that one token has exactly one
/// spelling and tampering with the last character cannot go unnoticed.
public enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0xFF marks a byte outside the alphabet.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        let outputCount = (input.count * 4 + 2) / 3
        return String(unsafeUninitializedCapacity: outputCount) { out in
            var o = 0
            var i = 0
            while i + 3 <= input.count {
                let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                out[o] = alphabet[Int(v >> 18 & 63)]
                out[o + 1] = alphabet[Int(v >> 12 & 63)]
                out[o + 2] = alphabet[Int(v >> 6 & 63)]
                out[o + 3] = alphabet[Int(v & 63)]
                o += 4
                i += 3
            }
            switch input.count - i {
            case 1:
                let v = UInt32(input[i]) << 16
                out[o] = alphabet[Int(v >> 18 & 63)]
                out[o + 1] = alphabet[Int(v >> 12 & 63)]
                o += 2
            case 2:
                let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
                out[o] = alphabet[Int(v >> 18 & 63)]
                out[o + 1] = alphabet[Int(v >> 12 & 63)]
                out[o + 2] = alphabet[Int(v >> 6 & 63)]
                o += 3
            default:
                break
            }
            return o
        }
    }

    public static func decode(_ text: some StringProtocol) throws -> [UInt8] {
        try decode(utf8: text.utf8)
    }

    /// Decodes base64url text given as its UTF-8 bytes (a token segment, say).
    public static func decode(utf8 text: some Collection<UInt8>) throws -> [UInt8] {
        if let result = try text.withContiguousStorageIfAvailable({ try decode(bytes: $0) }) {
            return result
        }
        return try Array(text).withUnsafeBufferPointer { try decode(bytes: $0) }
    }

    static func decode(bytes input: UnsafeBufferPointer<UInt8>) throws -> [UInt8] {
        let remainder = input.count % 4
        if remainder == 1 { throw JWTError.malformed("invalid base64url length") }
        let outputCount = input.count / 4 * 3 + (remainder == 0 ? 0 : remainder - 1)
        // The table read once, not through the global's accessor for every character.
        let table = decodeTable
        return try [UInt8](unsafeUninitializedCapacity: outputCount) { out, initialized in
            var i = 0
            var o = 0
            func sextet(_ byte: UInt8) throws -> UInt32 {
                let value = table[Int(byte)]
                if value == 0xFF { throw JWTError.malformed("invalid base64url character") }
                return UInt32(value)
            }
            while i + 4 <= input.count {
                let v = try sextet(input[i]) << 18 | sextet(input[i + 1]) << 12 | sextet(input[i + 2]) << 6 | sextet(input[i + 3])
                out[o] = UInt8(truncatingIfNeeded: v >> 16)
                out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                out[o + 2] = UInt8(truncatingIfNeeded: v)
                i += 4
                o += 3
            }
            if remainder == 2 {
                let v = try sextet(input[i]) << 18 | sextet(input[i + 1]) << 12
                if v & 0xFFFF != 0 { throw JWTError.malformed("non-canonical base64url") }
                out[o] = UInt8(truncatingIfNeeded: v >> 16)
                o += 1
            } else if remainder == 3 {
                let v = try sextet(input[i]) << 18 | sextet(input[i + 1]) << 12 | sextet(input[i + 2]) << 6
                if v & 0xFF != 0 { throw JWTError.malformed("non-canonical base64url") }
                out[o] = UInt8(truncatingIfNeeded: v >> 16)
                out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                o += 2
            }
            initialized = o
        }
    }
}
