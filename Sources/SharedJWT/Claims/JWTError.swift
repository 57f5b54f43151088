/// Why a token, key or key set was refused.
///
/// `description` is written for the RFC 6750 `error_description` attribute: short,
/// ASCII, with no quote or backslash, and never echoing attacker-controlled bytes
/// beyond a short, sanitised excerpt.
public enum JWTError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooLarge
    case malformed(String)
    case unsupportedAlgorithm(String)
    case invalidType(String?)
    case missingKeyID
    case forbiddenHeader(String)
    case unsupportedCritical(String)
    case unknownKeyID(String)
    case badSignature
    case expired
    case notYetValid
    case issuedInFuture
    case missingClaim(String)
    case invalidClaim(String)
    case invalidIssuer
    case invalidAudience

    public var description: String {
        switch self {
        case .tooLarge: "the token is too large"
        case .malformed(let why): "the token is malformed: \(why)"
        case .unsupportedAlgorithm(let alg): "the algorithm \(Self.excerpt(alg)) is not accepted"
        case .invalidType(let typ):
            typ.map { "the token type \(Self.excerpt($0)) is not at+jwt" } ?? "the token has no typ header"
        case .missingKeyID: "the token has no kid header"
        case .forbiddenHeader(let name): "the header parameter \(name) is not accepted"
        case .unsupportedCritical(let name): "the critical header parameter \(Self.excerpt(name)) is not understood"
        case .unknownKeyID: "the signing key is unknown"
        case .badSignature: "the signature is invalid"
        case .expired: "the token expired"
        case .notYetValid: "the token is not valid yet"
        case .issuedInFuture: "the token was issued in the future"
        case .missingClaim(let name): "the token has no \(name) claim"
        case .invalidClaim(let why): "the token has an invalid claim: \(why)"
        case .invalidIssuer: "the token issuer is not accepted"
        case .invalidAudience: "the token audience is not accepted"
        }
    }

    /// At most 32 printable ASCII characters, without quotes or backslashes, so an
    /// attacker cannot break out of a quoted header parameter or flood the logs.
    static func excerpt(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(32) {
            if scalar.value >= 0x20, scalar.value < 0x7F, scalar != "\"", scalar != "\\" {
                out.unicodeScalars.append(scalar)
            } else {
                out.append("?")
            }
        }
        return out
    }
}
