/// The claims of an access token (RFC 7519 §4.1, RFC 9068 §2.2, RFC 8693 `scope`).
public struct JWTClaims: Sendable, Equatable {
    public var issuer: String?
    public var subject: String?
    public var audience: [String]
    /// NumericDates, whole seconds since 1970 (a fractional value is floored).
    public var expiresAt: Int64?
    public var issuedAt: Int64?
    public var notBefore: Int64?
    public var jwtID: String?
    public var clientID: String?
    /// Space-separated scope values.
    public var scope: String?
    public var roles: [String]

    /// The latest NumericDate accepted: 9999-12-31T23:59:59Z. Anything later, negative,
    /// or not a finite number is refused rather than clamped.
    public static let maxNumericDate: Int64 = 253_402_300_799

    public init(
        issuer: String? = nil,
        subject: String? = nil,
        audience: [String] = [],
        expiresAt: Int64? = nil,
        issuedAt: Int64? = nil,
        notBefore: Int64? = nil,
        jwtID: String? = nil,
        clientID: String? = nil,
        scope: String? = nil,
        roles: [String] = []
    ) {
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.expiresAt = expiresAt
        self.issuedAt = issuedAt
        self.notBefore = notBefore
        self.jwtID = jwtID
        self.clientID = clientID
        self.scope = scope
        self.roles = roles
    }

    /// The scope values as a list.
    public var scopes: [Substring] {
        (scope ?? "").split(separator: " ")
    }

    /// The claims as JSON, in the order the Issuer writes them.
    public func jsonObject() -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        if let issuer { members.append(("iss", .string(issuer))) }
        if let subject { members.append(("sub", .string(subject))) }
        if audience.count == 1 {
            members.append(("aud", .string(audience[0])))
        } else if !audience.isEmpty {
            members.append(("aud", .array(audience.map(JSONValue.string))))
        }
        if let expiresAt { members.append(("exp", .number(Double(expiresAt)))) }
        if let issuedAt { members.append(("iat", .number(Double(issuedAt)))) }
        if let notBefore { members.append(("nbf", .number(Double(notBefore)))) }
        if let jwtID { members.append(("jti", .string(jwtID))) }
        if let clientID { members.append(("client_id", .string(clientID))) }
        if let scope { members.append(("scope", .string(scope))) }
        members.append(("roles", .array(roles.map(JSONValue.string))))
        return .object(members)
    }

    /// Reads claims from a decoded payload, refusing members of the wrong type.
    init(json: JSONValue) throws {
        guard case .object = json else { throw JWTError.malformed("the payload is not a JSON object") }
        self.init()
        issuer = try Self.string(json, "iss")
        subject = try Self.string(json, "sub")
        jwtID = try Self.string(json, "jti")
        clientID = try Self.string(json, "client_id")
        scope = try Self.string(json, "scope")
        switch json["aud"] {
        case nil: audience = []
        case .string(let value)?: audience = [value]
        case .array(let values)?:
            audience = try values.map {
                guard let value = $0.stringValue else { throw JWTError.invalidClaim("aud is not a string or an array of strings") }
                return value
            }
        default: throw JWTError.invalidClaim("aud is not a string or an array of strings")
        }
        expiresAt = try Self.numericDate(json, "exp")
        issuedAt = try Self.numericDate(json, "iat")
        notBefore = try Self.numericDate(json, "nbf")
        switch json["roles"] {
        case nil: roles = []
        case .array(let values)?:
            roles = try values.map {
                guard let value = $0.stringValue else { throw JWTError.invalidClaim("roles is not an array of strings") }
                return value
            }
        default: throw JWTError.invalidClaim("roles is not an array of strings")
        }
    }

    private static func string(_ json: JSONValue, _ name: String) throws -> String? {
        guard let value = json[name] else { return nil }
        guard let string = value.stringValue else { throw JWTError.invalidClaim("\(name) is not a string") }
        return string
    }

    private static func numericDate(_ json: JSONValue, _ name: String) throws -> Int64? {
        guard let value = json[name] else { return nil }
        guard let seconds = value.doubleValue, seconds.isFinite, seconds >= 0, seconds <= Double(maxNumericDate) else {
            throw JWTError.invalidClaim("\(name) is not a valid NumericDate")
        }
        return Int64(seconds.rounded(.down))
    }
}
