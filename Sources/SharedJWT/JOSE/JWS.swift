/// A compact-serialised JWS (RFC 7515 §7.1) whose header and payload are decoded,
/// and whose signature is not yet checked.
public struct JWS: Sendable {
    public let header: JWSHeader
    public let claims: JWTClaims
    /// ASCII(BASE64URL(header) || '.' || BASE64URL(payload)), what the signature covers.
    public let signingInput: [UInt8]
    public let signature: [UInt8]

    /// Parses `header.payload.signature`; refuses anything larger than `maxBytes`,
    /// any other number of segments, non-canonical base64url, duplicate JSON members,
    /// and a payload that is not a JSON object.
    public static func parse(_ token: some StringProtocol, maxBytes: Int = 8192) throws -> JWS {
        let utf8 = token.utf8
        guard utf8.count <= maxBytes else { throw JWTError.tooLarge }
        if let parsed = try utf8.withContiguousStorageIfAvailable({ try parse(bytes: $0) }) {
            return parsed
        }
        return try Array(utf8).withUnsafeBufferPointer { try parse(bytes: $0) }
    }

    static func parse(bytes: UnsafeBufferPointer<UInt8>) throws -> JWS {
        guard let firstDot = bytes.firstIndex(of: UInt8(ascii: ".")) else {
            throw JWTError.malformed("a JWS has three segments")
        }
        guard let secondDot = bytes[(firstDot + 1)...].firstIndex(of: UInt8(ascii: ".")),
            bytes[(secondDot + 1)...].firstIndex(of: UInt8(ascii: ".")) == nil
        else { throw JWTError.malformed("a JWS has three segments") }
        guard firstDot > 0, secondDot > firstDot + 1, secondDot + 1 < bytes.count else {
            throw JWTError.malformed("a JWS segment is empty")
        }
        let header = try HeaderMemo.shared.header(segment: UnsafeBufferPointer(rebasing: bytes[..<firstDot]))
        let payloadBytes = try Base64URL.decode(bytes: UnsafeBufferPointer(rebasing: bytes[(firstDot + 1)..<secondDot]))
        let signature = try Base64URL.decode(bytes: UnsafeBufferPointer(rebasing: bytes[(secondDot + 1)...]))
        let claims = try JWTClaims(json: JSONValue.parse(payloadBytes))
        return JWS(header: header, claims: claims, signingInput: Array(bytes[..<secondDot]), signature: signature)
    }
}
