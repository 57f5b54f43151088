import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SharedJWT
import Testing

@testable import IssuerCore

/// `issuer keys rotate` / `keys retire` follow the running server's rule: the policy the
/// serving Issuer recorded beside the keys (keys/policy.json), not the command's flags.
@Suite("Key policy of the serving Issuer")
struct KeyPolicyCLITests {
    static func retryIn(_ text: String) -> Int? {
        guard let range = text.range(of: "retry in ") else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    static func bits(ofKey kid: String, in directory: TempDirectory) throws -> Int {
        let pem = try String(contentsOfFile: KeyDirectory(path: directory.keys, keyBits: 2048).keyFilePath(kid: kid), encoding: .utf8)
        return try RSAPrivateKey(pkcs8PEM: pem).publicKey.bits
    }

    /// Server: jwks-max-age 300. Right after the next key appeared (and after the CLI's own
    /// 1 s would have passed), the CLI with `--jwks-max-age 1s` is refused like
    /// `POST /admin/keys/rotate` (409, Retry-After), saying how long to wait; `--force`
    /// rotates; fresh keys have the server's key-bits, not the CLI's.
    @Test func cliRotateIsRefusedLikeTheEndpoint() async throws {
        let fixture = try await IssuerFixture { configuration in
            configuration.jwksMaxAge = 300
            configuration.clock = { Date().timeIntervalSince1970 }
        }
        let directory = fixture.directory
        let keys = KeyDirectory(path: directory.keys, keyBits: 2048)
        let cli = ["--keys-dir", directory.keys, "--data", directory.database, "--jwks-max-age", "1s", "--key-bits", "3072"]
        try await fixture.run { client in
            // Recorded at start, beside the keys.
            let recorded = try #require(try keys.recordedPolicy())
            #expect(recorded.jwksMaxAge == 300 && recorded.accessTTL == 300 && recorded.keyBits == 2048)

            let adminToken = try string(try await client.login("boss", "bosspass"), "access_token")
            var response = try await client.execute(uri: "/admin/keys/rotate", method: .post, headers: bearer(adminToken))
            #expect(response.status == .conflict)
            let retryAfter = try #require(response.headers[HTTPField.Name("Retry-After")!].flatMap { Int($0) })
            // No timing bound beyond the rule's: the machine may be slow under the whole suite.
            #expect(retryAfter > 1 && retryAfter <= 300)

            // Longer than the CLI's own --jwks-max-age 1s.
            try await Task.sleep(for: .milliseconds(1500))
            let initial = try keys.load().lifecycle
            let refused = try runBinary(["keys", "rotate"] + cli)
            #expect(refused.status == 1, "\(refused.stderr)")
            #expect(refused.stderr.contains("keys rotate refused"))
            #expect(refused.stderr.contains("following the serving Issuer's key policy"), "\(refused.stderr)")
            let wait = try #require(Self.retryIn(refused.stderr), "\(refused.stderr)")
            #expect(wait > 1 && wait <= retryAfter, "\(wait) vs Retry-After \(retryAfter)")
            #expect(try keys.load().lifecycle == initial)
            // The endpoint still says the same.
            response = try await client.execute(uri: "/admin/keys/rotate", method: .post, headers: bearer(adminToken))
            #expect(response.status == .conflict)
            let again = try #require(response.headers[HTTPField.Name("Retry-After")!].flatMap { Int($0) })
            #expect(again > 0 && again <= wait, "\(again) vs \(wait)")

            let forced = try runBinary(["keys", "rotate", "--force"] + cli)
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(forced.stdout.contains("retiring"))
            var lifecycle = try keys.load().lifecycle
            #expect(lifecycle.active?.kid == initial.next?.kid)
            let fresh = try #require(lifecycle.next?.kid)
            #expect(try Self.bits(ofKey: fresh, in: directory) == 2048)

            // keys retire: its fresh next key has the server's key-bits too.
            let retired = try runBinary(["keys", "retire"] + cli + ["--", fresh])
            #expect(retired.status == 0, "\(retired.stderr)")
            lifecycle = try keys.load().lifecycle
            #expect(lifecycle.keys.first { $0.kid == fresh }?.state == .retired)
            let replacement = try #require(lifecycle.next?.kid)
            #expect(replacement != fresh)
            #expect(try Self.bits(ofKey: replacement, in: directory) == 2048)
        }
    }

    /// No server ever recorded a policy: the command's own flags apply, and it says so.
    @Test func withoutARecordedPolicyTheFlagsApply() async throws {
        let directory = try TempDirectory()
        let base = ["--keys-dir", directory.keys, "--data", directory.database, "--jwks-max-age", "1s"]
        #expect(try runBinary(["keys", "list"] + base).status == 0)
        #expect(try KeyDirectory(path: directory.keys, keyBits: 2048).recordedPolicy() == nil)
        try await Task.sleep(for: .milliseconds(1200))
        let result = try runBinary(["keys", "rotate"] + base)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("no serving Issuer has recorded its key policy"), "\(result.stderr)")
        #expect(result.stderr.contains("jwks-max-age 1s"))
    }

    @Test func policyFileRoundTripsAndHasNoSecrets() throws {
        let directory = try TempDirectory()
        let keys = KeyDirectory(path: directory.keys, keyBits: 3072)
        let policy = ServingKeyPolicy(
            policy: KeyLifecyclePolicy(accessTTL: 600, jwksMaxAge: 120, rotateEvery: 86_400),
            keyBits: 3072,
            recordedAt: 1_800_000_000
        )
        try keys.recordPolicy(policy)
        #expect(try keys.recordedPolicy() == policy)
        #expect(policy.lifecyclePolicy == KeyLifecyclePolicy(accessTTL: 600, jwksMaxAge: 120, rotateEvery: 86_400))
        let text = try String(contentsOfFile: keys.policyPath, encoding: .utf8)
        #expect(text.contains("\"jwks_max_age\" : 120"))
        #expect(!text.contains("PRIVATE"))
        try "{".write(toFile: keys.policyPath, atomically: true, encoding: .utf8)
        #expect(throws: KeyDirectoryError.self) { try keys.recordedPolicy() }
    }
}
