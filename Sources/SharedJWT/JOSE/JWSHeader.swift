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
