import Testing

@testable import SharedJWT

/// The PKCS#8 PEM label, spelled in two pieces so that no committed file looks like a PEM
/// private key: every key in these tests is generated at run time.
let pkcs8Header = "-----BEGIN " + "PRIVATE KEY-----"

@Suite struct KeyTests {
    @Test func pemRoundTripsKeepTheKid() throws {
        let pem = try testKey.pkcs8PEM()
        #expect(pem.hasPrefix(pkcs8Header))
        let reloaded = try RSAPrivateKey(pkcs8PEM: pem)
        #expect(reloaded.publicKey.thumbprint == testKey.publicKey.thumbprint)
        let publicPEM = try testKey.publicKey.pem()
        #expect(publicPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        #expect(try RSAPublicKey(pem: publicPEM).thumbprint == testKey.publicKey.thumbprint)
    }

    @Test func signAndVerifyAcrossKeys() throws {
        let message = Array("hello".utf8)
        let signature = try testKey.signRS256(message)
        #expect(signature.count == 256)
        #expect(testKey.publicKey.verifyRS256(signature: signature, message: message))
        #expect(!otherKey.publicKey.verifyRS256(signature: signature, message: message))
        #expect(!testKey.publicKey.verifyRS256(signature: signature.dropLast(), message: message))
        #expect(!testKey.publicKey.verifyRS256(signature: [], message: message))
    }

    @Test func jwkRoundTrip() throws {
        let jwk = testKey.publicKey.jwk()
        let key = try RSAPublicKey(modulus: try Base64URL.decode(jwk.n ?? ""), exponent: try Base64URL.decode(jwk.e ?? ""))
        #expect(key.thumbprint == testKey.publicKey.thumbprint)
        #expect(key.bits == 2048)
    }

    @Test func refusesBadSizesAndGarbage() {
        #expect(throws: KeyError.self) { try RSAPrivateKey.generate(bits: 1024) }
        #expect(throws: KeyError.self) { try RSAPrivateKey.generate(bits: 2049) }
        // A generated key's PEM with its body cut down to garbage.
        let lines = (try? testKey.pkcs8PEM())?.split(separator: "\n") ?? []
        let truncated = [lines.first ?? "", "AAAA", lines.last ?? ""].joined(separator: "\n") + "\n"
        #expect(throws: KeyError.self) { try RSAPrivateKey(pkcs8PEM: truncated) }
        #expect(throws: KeyError.self) { try RSAPublicKey(pem: "not a key") }
        #expect(throws: KeyError.self) { try RSAPublicKey(modulus: [], exponent: [1, 0, 1]) }
        #expect(throws: KeyError.self) { try RSAPublicKey(modulus: [0xC3] + [UInt8](repeating: 1, count: 255), exponent: [1]) }
        #expect(throws: KeyError.self) { try RSAPublicKey(modulus: [0xC3] + [UInt8](repeating: 1, count: 255), exponent: [2]) }
    }

    @Test(arguments: [3072, 4096])
    func largerKeys(bits: Int) throws {
        let key = try RSAPrivateKey.generate(bits: bits)
        #expect(key.publicKey.bits == bits)
        let signature = try key.signRS256([1, 2, 3])
        #expect(key.publicKey.verifyRS256(signature: signature, message: [1, 2, 3]))
    }

    @Test func signsAndVerifiesFromManyTasksAtOnce() async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let message = Array("message \(index)".utf8)
                    let signature = try testKey.signRS256(message)
                    return testKey.publicKey.verifyRS256(signature: signature, message: message)
                }
            }
            for try await verified in group { #expect(verified) }
        }
    }

    @Test func primitives() {
        #expect(Base64URL.encode(SHA256Digest.hash(Array("abc".utf8))) == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0")
        #expect(SecureRandom.bytes(count: 16).count == 16)
        #expect(SecureRandom.bytes(count: 16) != SecureRandom.bytes(count: 16))
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
    }
}
