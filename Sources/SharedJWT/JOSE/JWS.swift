import Synchronization

/// The protected header of a JWS (RFC 7515 §4).
public struct JWSHeader: Sendable {
    public let alg: String
    public let typ: String?
    public let kid: String?
    public let crit: [String]?
    /// Every member name, to spot parameters we refuse (`jku`, `jwk`, ...).
    public let parameterNames: [String]

    init(json: JSONValue) throws {
        guard let members = json.objectValue else { throw JWTError.malformed("the header is not a JSON object") }
        guard let alg = json["alg"]?.stringValue else { throw JWTError.malformed("the header has no alg") }
        self.alg = alg
        switch json["typ"] {
        case nil: typ = nil
        case .string(let value)?: typ = value
        default: throw JWTError.malformed("typ is not a string")
        }
        switch json["kid"] {
        case nil: kid = nil
        case .string(let value)?: kid = value
        default: throw JWTError.malformed("kid is not a string")
        }
        switch json["crit"] {
        case nil: crit = nil
        case .array(let values)? where !values.isEmpty:
            crit = try values.map {
                guard let name = $0.stringValue else { throw JWTError.malformed("crit is not an array of strings") }
                return name
            }
        default: throw JWTError.malformed("crit is not a non-empty array of strings")
        }
        parameterNames = members.map(\.key)
    }
}

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

/// The last protected header decoded, keyed by its exact base64url text. Every token one
/// key signs carries the same header segment, so most parses skip decoding it again
/// (≈ 1 µs of a parse). The header is a pure function of those bytes, and a segment that
/// fails to decode is never remembered, so a hit gives what decoding would.
final class HeaderMemo: Sendable {
    static let shared = HeaderMemo()

    private struct Entry {
        var segment: [UInt8]
        var header: JWSHeader
    }

    private let last = Mutex<Entry?>(nil)

    func header(segment: UnsafeBufferPointer<UInt8>) throws -> JWSHeader {
        let remembered = self.last.withLock { entry -> JWSHeader? in
            guard let entry, entry.segment.count == segment.count else { return nil }
            let same = entry.segment.withUnsafeBufferPointer { stored in
                var index = 0
                while index < stored.count, stored[index] == segment[index] { index += 1 }
                return index == stored.count
            }
            return same ? entry.header : nil
        }
        if let remembered { return remembered }
        let header = try JWSHeader(json: JSONValue.parse(Base64URL.decode(bytes: segment)))
        let entry = Entry(segment: Array(segment), header: header)
        self.last.withLock { $0 = entry }
        return header
    }
}

/// Signs access tokens with one key: `{"alg":"RS256","typ":"at+jwt","kid":...}`.
public struct JWTSigner: Sendable {
    public let key: RSAPrivateKey
    public let keyID: String
    /// The header never changes for a key, so it is encoded once.
    private let encodedHeader: [UInt8]

    public init(key: RSAPrivateKey, keyID: String) {
        self.key = key
        self.keyID = keyID
        let header = JSONValue.object([("alg", .string("RS256")), ("typ", .string("at+jwt")), ("kid", .string(keyID))])
        self.encodedHeader = Array(Base64URL.encode(header.serialized()).utf8)
    }

    public func sign(_ claims: JWTClaims) throws -> String {
        var signingInput = encodedHeader
        signingInput.append(UInt8(ascii: "."))
        signingInput.append(contentsOf: Base64URL.encode(claims.jsonObject().serialized()).utf8)
        let signature = try key.signRS256(signingInput)
        signingInput.append(UInt8(ascii: "."))
        signingInput.append(contentsOf: Base64URL.encode(signature).utf8)
        return String(decoding: signingInput, as: UTF8.self)
    }
}
