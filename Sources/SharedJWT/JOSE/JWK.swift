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

/// A JWK Set (RFC 7517 §5).
public struct JWKSet: Sendable, Equatable, Codable {
    public var keys: [JWK]

    public init(keys: [JWK]) {
        self.keys = keys
    }

    /// Compact JSON with members in a stable order, so the bytes (and an ETag over
    /// them) only change when the keys do.
    public func serialized() -> [UInt8] {
        JSONValue.object([("keys", .array(keys.map(\.jsonValue)))]).serialized()
    }

    /// The public JWK Set for these keys, each under its RFC 7638 thumbprint.
    public static func encode(_ keys: [RSAPublicKey]) -> [UInt8] {
        JWKSet(keys: keys.map { $0.jwk() }).serialized()
    }
}

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

/// A JWK Set read under a policy: the keys that passed and why the others did not.
public struct ParsedJWKSet: Sendable {
    public struct SkippedKey: Sendable, Equatable {
        public var kid: String?
        public var reason: String
    }

    /// Usable keys by `kid`.
    public var keys: [String: RSAPublicKey]
    public var skipped: [SkippedKey]
}

/// What a resource server accepts from an untrusted JWK Set.
///
/// A key that fails the policy is skipped and reported; it never poisons the others,
/// so one odd key an operator adds does not take verification down.
public struct JWKSetPolicy: Sendable {
    public var maxBytes = 65_536
    public var maxKeys = 32
    public var minModulusBits = 2048

    /// Members that only a private key has (RFC 7518 §6.3.2).
    static let privateMembers: Set<String> = ["d", "p", "q", "dp", "dq", "qi", "oth"]

    public init() {}

    public func parse(_ bytes: some Collection<UInt8>) throws -> ParsedJWKSet {
        guard bytes.count <= maxBytes else { throw JWKSetError.tooLarge(bytes.count) }
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch let error as JWTError {
            throw JWKSetError.malformed(Self.reason(error))
        }
        guard let keys = document["keys"]?.arrayValue else { throw JWKSetError.malformed("no keys array") }
        guard keys.count <= maxKeys else { throw JWKSetError.tooManyKeys(keys.count) }
        var result = ParsedJWKSet(keys: [:], skipped: [])
        for entry in keys {
            let kid = entry["kid"]?.stringValue
            do {
                let key = try usableKey(entry)
                guard let kid, !kid.isEmpty else { throw KeyError("no kid") }
                guard result.keys[kid] == nil else { throw KeyError("duplicate kid") }
                result.keys[kid] = key
            } catch {
                result.skipped.append(.init(kid: kid.map(JWTError.excerpt), reason: "\(error)"))
            }
        }
        return result
    }

    private func usableKey(_ entry: JSONValue) throws -> RSAPublicKey {
        guard let members = entry.objectValue else { throw KeyError("not a JSON object") }
        if let name = members.first(where: { Self.privateMembers.contains($0.key) })?.key {
            throw KeyError("private member \(name) present")
        }
        guard entry["kty"]?.stringValue == "RSA" else { throw KeyError("kty is not RSA") }
        if let use = entry["use"], use.stringValue != "sig" { throw KeyError("use is not sig") }
        if let alg = entry["alg"], alg.stringValue != "RS256" { throw KeyError("alg is not RS256") }
        if let operations = entry["key_ops"] {
            guard operations.arrayValue?.contains(.string("verify")) == true else { throw KeyError("key_ops lacks verify") }
        }
        guard let n = entry["n"]?.stringValue, let e = entry["e"]?.stringValue,
            let modulus = try? Base64URL.decode(n), let exponent = try? Base64URL.decode(e)
        else { throw KeyError("n or e missing or not base64url") }
        let key = try RSAPublicKey(modulus: modulus, exponent: exponent)
        guard key.bits >= minModulusBits else { throw KeyError("RSA key of \(key.bits) bits is too small") }
        return key
    }

    private static func reason(_ error: JWTError) -> String {
        if case .malformed(let why) = error { return why }
        return error.description
    }
}
