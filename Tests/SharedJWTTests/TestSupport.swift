import Foundation

@testable import SharedJWT

/// One 2048-bit key for the whole test run: generation costs ~100 ms.
let testKey: RSAPrivateKey = {
    do { return try RSAPrivateKey.generate(bits: 2048) } catch { preconditionFailure("key generation failed: \(error)") }
}()

let otherKey: RSAPrivateKey = {
    do { return try RSAPrivateKey.generate(bits: 2048) } catch { preconditionFailure("key generation failed: \(error)") }
}()

let fixedNow: Double = 1_700_000_000

func validator(leeway: Int64 = 30, now: Double = fixedNow) -> JWTValidator {
    JWTValidator(configuration: .init(issuer: "https://issuer.test", audience: "resource-api", leeway: leeway), clock: { now })
}

func goodClaims(now: Int64 = Int64(fixedNow)) -> JWTClaims {
    JWTClaims(
        issuer: "https://issuer.test",
        subject: "user1",
        audience: ["resource-api"],
        expiresAt: now + 300,
        issuedAt: now,
        notBefore: now,
        jwtID: "abc",
        clientID: "login",
        scope: "greet",
        roles: ["user"]
    )
}

/// Signs arbitrary header and payload JSON text, for tokens our signer would never make.
func craftToken(header: String, payload: String, key: RSAPrivateKey = testKey) throws -> String {
    let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
    return input + "." + Base64URL.encode(try key.signRS256(Array(input.utf8)))
}

func header(kid: String? = nil, extra: String = "") -> String {
    #"{"alg":"RS256","typ":"at+jwt","kid":""# + (kid ?? testKey.publicKey.thumbprint) + "\"" + extra + "}"
}

func payload(_ overrides: [String: String] = [:], drop: Set<String> = []) -> String {
    var members: [(String, String)] = [
        ("iss", #""https://issuer.test""#), ("sub", #""user1""#), ("aud", #""resource-api""#),
        ("exp", String(Int64(fixedNow) + 300)), ("iat", String(Int64(fixedNow))), ("nbf", String(Int64(fixedNow))),
        ("jti", #""abc""#), ("client_id", #""login""#), ("scope", #""greet""#), ("roles", #"["user"]"#),
    ]
    members = members.filter { !drop.contains($0.0) }.map { ($0.0, overrides[$0.0] ?? $0.1) }
    for (name, value) in overrides where !members.contains(where: { $0.0 == name }) { members.append((name, value)) }
    return "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
}

func keys(_ key: RSAPublicKey = testKey.publicKey) -> (String) -> RSAPublicKey? {
    { $0 == key.thumbprint ? key : nil }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            bytes.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) ?? 0)
        }
        self = bytes
    }
}
