import Foundation
import Testing

@testable import SharedJWT

/// Published test vectors from the RFCs and from Project Wycheproof.
@Suite struct RFCVectorTests {
    /// RFC 7515 Appendix A.2: the example RSA key, as a private JWK. A published RFC test
    /// vector is the one exception to "tests generate their keys": it is not a secret, and
    /// reproducing the RFC's exact signature needs exactly this key.
    static let rfc7515Key: [String: String] = [
        "n":
            "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
        "e": "AQAB",
        "d":
            "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ",
        "p":
            "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc",
        "q":
            "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc",
        "dp":
            "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0",
        "dq":
            "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU",
        "qi":
            "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U",
    ]
    static let rfc7515SigningInput =
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    static let rfc7515Signature =
        "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"

    @Test func rfc7515A2ReproducesTheExactSignature() throws {
        let components = try Self.rfc7515Key.mapValues { try Base64URL.decode($0) }
        let key = try RSAPrivateKey(jwkComponents: components)
        let signature = try key.signRS256(Array(Self.rfc7515SigningInput.utf8))
        #expect(Base64URL.encode(signature) == Self.rfc7515Signature)
        #expect(key.publicKey.verifyRS256(signature: signature, message: Array(Self.rfc7515SigningInput.utf8)))
        var tampered = Array(Self.rfc7515SigningInput.utf8)
        tampered[tampered.count - 1] ^= 1
        #expect(!key.publicKey.verifyRS256(signature: signature, message: tampered))
    }

    @Test func rfc7515A2VerifiesWithThePublicJWKAlone() throws {
        let key = try RSAPublicKey(modulus: try Base64URL.decode(Self.rfc7515Key["n"] ?? ""), exponent: [1, 0, 1])
        let signature = try Base64URL.decode(Self.rfc7515Signature)
        #expect(key.verifyRS256(signature: signature, message: Array(Self.rfc7515SigningInput.utf8)))
    }

    @Test func rfc7638Section3_1Thumbprint() throws {
        let n =
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        let key = try RSAPublicKey(modulus: try Base64URL.decode(n), exponent: try Base64URL.decode("AQAB"))
        #expect(key.thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        #expect(key.jwk().kid == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        #expect(key.jwk().n == n)
    }

    // MARK: Wycheproof RSASSA-PKCS1-v1_5 with SHA-256

    struct WycheproofFile: Decodable {
        struct Group: Decodable {
            struct PublicKey: Decodable {
                var modulus: String
                var publicExponent: String
            }
            struct Case: Decodable {
                var tcId: Int
                var msg: String
                var sig: String
                var result: String
                var flags: [String]
            }
            var keySize: Int
            var publicKey: PublicKey
            var tests: [Case]
        }
        var testGroups: [Group]
    }

    static var vectorsDirectory: URL {
        // Tests/SharedJWTTests/RFCVectorTests.swift -> Tests/Vectors/wycheproof (vendored, with its LICENSE)
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Vectors/wycheproof")
    }

    @Test(arguments: [2048, 3072, 4096])
    func wycheproof(bits: Int) throws {
        let url = Self.vectorsDirectory.appendingPathComponent("rsa_signature_\(bits)_sha256_test.json")
        let file = try JSONDecoder().decode(WycheproofFile.self, from: Data(contentsOf: url))
        var valid = 0
        var invalid = 0
        for group in file.testGroups {
            #expect(group.keySize == bits)
            let key = try RSAPublicKey(modulus: [UInt8](hex: group.publicKey.modulus), exponent: [UInt8](hex: group.publicKey.publicExponent))
            for test in group.tests {
                let verified = key.verifyRS256(signature: [UInt8](hex: test.sig), message: [UInt8](hex: test.msg))
                switch test.result {
                case "valid":
                    #expect(verified, "tcId \(test.tcId) should verify")
                    valid += 1
                case "invalid":
                    #expect(!verified, "tcId \(test.tcId) should not verify")
                    invalid += 1
                default:
                    break  // "acceptable" (MissingNull): either answer is allowed
                }
            }
        }
        #expect(valid > 0)
        #expect(invalid > 100)
    }
}
