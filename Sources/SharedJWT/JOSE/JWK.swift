/// A JSON Web Key (RFC 7517) as this project publishes it: an RSA signing key with
/// exactly `kty`, `use`, `alg`, `kid`, `n` and `e`.
public struct JWK: Sendable, Equatable, Codable {
    public var kty: String
    public var use: String?
    public var alg: String?
    public var kid: String?
    public var n: String?
    public var e: String?

    public init(kty: String, use: String? = nil, alg: String? = nil, kid: String? = nil, n: String? = nil, e: String? = nil) {
        self.kty = kty
        self.use = use
        self.alg = alg
        self.kid = kid
        self.n = n
        self.e = e
    }

    var jsonValue: JSONValue {
        var members: [(key: String, value: JSONValue)] = [("kty", .string(kty))]
        if let use { members.append(("use", .string(use))) }
        if let alg { members.append(("alg", .string(alg))) }
        if let kid { members.append(("kid", .string(kid))) }
        if let n { members.append(("n", .string(n))) }
        if let e { members.append(("e", .string(e))) }
        return .object(members)
    }
}
