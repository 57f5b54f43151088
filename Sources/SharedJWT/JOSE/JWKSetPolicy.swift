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
