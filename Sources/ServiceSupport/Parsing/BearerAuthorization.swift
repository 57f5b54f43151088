/// `Authorization: Bearer <b64token>` (RFC 6750 §2.1), the scheme matched
/// case-insensitively.
public enum BearerAuthorization {
    public enum Failure: Error, Equatable, Sendable {
        /// Not `Bearer <token>`, or characters RFC 6750 does not allow: 400 invalid_request.
        case malformed(String)
        /// Over the size cap: 401 invalid_token, like any other bad token.
        case tooLarge
    }

    public static func token(from value: String, maxTokenBytes: Int) throws(Failure) -> Substring {
        // Octets, as RFC 9110 defines the field: one pass over contiguous UTF-8 on the hot
        // path (a header value always is), then the token as a Substring of `value`.
        var value = value
        let bounds = value.withUTF8 { bytes in Self.tokenBounds(bytes) }
        switch bounds {
        case .failure(let failure):
            throw failure
        case .success(let range):
            let utf8 = value.utf8
            let lower = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
            let upper = utf8.index(lower, offsetBy: range.count)
            guard range.count <= maxTokenBytes else { throw .tooLarge }
            let token = value[lower..<upper]
            guard isB64Token(token) else { throw .malformed("the bearer token has characters RFC 6750 does not allow") }
            return token
        }
    }

    /// Where the token lies in the field value, once the scheme is `Bearer`.
    private static func tokenBounds(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<Range<Int>, Failure> {
        func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var start = 0
        while start < bytes.count, isSpace(bytes[start]) { start += 1 }
        var space = start
        while space < bytes.count, !isSpace(bytes[space]) { space += 1 }
        let isBearer = Self.isBearer(UnsafeBufferPointer(rebasing: bytes[start..<space]))
        guard space < bytes.count else {
            return .failure(isBearer ? .malformed("the bearer token is empty") : .malformed("the Authorization header is not Bearer <token>"))
        }
        guard isBearer else { return .failure(.malformed("the Authorization scheme is not Bearer")) }
        var lower = space
        while lower < bytes.count, isSpace(bytes[lower]) { lower += 1 }
        var upper = bytes.count
        while upper > lower, isSpace(bytes[upper - 1]) { upper -= 1 }
        guard lower < upper else { return .failure(.malformed("the bearer token is empty")) }
        return .success(lower..<upper)
    }

    /// `bearer` in any case (RFC 9110 §11.1: the scheme is case-insensitive).
    private static func isBearer(_ scheme: UnsafeBufferPointer<UInt8>) -> Bool {
        let bearer: StaticString = "bearer"
        guard scheme.count == bearer.utf8CodeUnitCount else { return false }
        for index in 0..<scheme.count {
            // ASCII letters only: `| 0x20` lower-cases them and leaves no other byte equal.
            guard scheme[index] | 0x20 == bearer.utf8Start[index] else { return false }
        }
        return true
    }

    /// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
    static func isB64Token(_ token: Substring) -> Bool {
        // On the ResourceAPI's hot path: scan contiguous UTF-8 with a table, not Characters.
        if let result = token.utf8.withContiguousStorageIfAvailable(isB64Token) { return result }
        return Array(token.utf8).withUnsafeBufferPointer(isB64Token)
    }

    private static func isB64Token(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, first != UInt8(ascii: "=") else { return false }
        var index = 0
        b64TokenBytes.withUnsafeBufferPointer { allowed in
            while index < bytes.count, allowed[Int(bytes[index])] { index += 1 }
        }
        while index < bytes.count, bytes[index] == UInt8(ascii: "=") { index += 1 }
        return index == bytes.count
    }

    private static let b64TokenBytes: [Bool] = (0..<256).map { value in
        switch UInt8(value) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
            true
        default:
            false
        }
    }
}
