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
