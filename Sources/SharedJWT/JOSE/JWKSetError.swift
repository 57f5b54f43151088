/// Why a whole JWK Set was refused.
public enum JWKSetError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooLarge(Int)
    case tooManyKeys(Int)
    case malformed(String)

    public var description: String {
        switch self {
        case .tooLarge(let bytes): "the JWK Set is too large (\(bytes) bytes)"
        case .tooManyKeys(let count): "the JWK Set has too many keys (\(count))"
        case .malformed(let why): "the JWK Set is malformed: \(why)"
        }
    }
}
