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
        let trimmed = value.drop { $0 == " " || $0 == "\t" }
        guard let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) else {
            if trimmed.lowercased() == "bearer" { throw .malformed("the bearer token is empty") }
            throw .malformed("the Authorization header is not Bearer <token>")
        }
        guard trimmed[..<space].lowercased() == "bearer" else {
            throw .malformed("the Authorization scheme is not Bearer")
        }
        var token = trimmed[space...].drop { $0 == " " || $0 == "\t" }
        while let last = token.last, last == " " || last == "\t" { token = token.dropLast() }
        guard !token.isEmpty else { throw .malformed("the bearer token is empty") }
        guard token.utf8.count <= maxTokenBytes else { throw .tooLarge }
        guard isB64Token(token) else { throw .malformed("the bearer token has characters RFC 6750 does not allow") }
        return token
    }

    /// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
    static func isB64Token(_ token: Substring) -> Bool {
        // On the ResourceAPI's hot path: scan contiguous UTF-8 with a table, not Characters.
        if let result = token.utf8.withContiguousStorageIfAvailable(isB64Token) { return result }
        return Array(token.utf8).withUnsafeBufferPointer(isB64Token)
    }

    private static func isB64Token(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, first != UInt8(ascii: "=") else { return false }
        let allowed = b64TokenBytes  // read the global once, not once per byte
        var index = 0
        while index < bytes.count, allowed[Int(bytes[index])] { index += 1 }
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
