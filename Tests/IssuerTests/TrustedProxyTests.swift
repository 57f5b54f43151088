import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import Testing

@testable import IssuerCore

/// `--trusted-proxy` over a real socket (issue 19): behind a balancer the per-address login
/// limit counts each client, not the balancer; from anyone else the headers are ignored.
@Suite("Trusted proxies")
struct TrustedProxyTests {
    static func failedLogin(_ client: any TestClientProtocol, _ index: Int, from address: String) async throws -> TestResponse {
        try await client.postJSON(
            "/login",
            #"{"username":"guess\#(index)","password":"bad"}"#,
            headers: [HTTPField.Name("X-Forwarded-For")!: "198.51.100.1, \(address)"]
        )
    }

    @Test func behindATrustedProxyEachClientHasItsOwnAddressLimit() async throws {
        let fixture = try await IssuerFixture {
            $0.maxLoginFailures = 100
            $0.maxLoginFailuresPerAddress = 3
            // The test client connects from loopback: loopback is the balancer here.
            $0.trustedProxies = TrustedProxies([IPAddressBlock("127.0.0.1/32"), IPAddressBlock("::1/128")].compactMap { $0 })
        }
        let app = try await makeIssuerApplication(configuration: fixture.configuration, logger: testLogger)
        try await app.test(.live) { client in
            for index in 0..<3 {
                #expect(try await Self.failedLogin(client, index, from: "203.0.113.7").status == .unauthorized)
            }
            // That client is locked out...
            let locked = try await Self.failedLogin(client, 9, from: "203.0.113.7")
            #expect(locked.status == .tooManyRequests)
            #expect(try locked.oauthError() == "too_many_requests")
            #expect(locked.headers[HTTPField.Name("Retry-After")!] != nil)
            // ...another client behind the same balancer is not, and nor is the balancer itself.
            let other = try await client.postJSON(
                "/login",
                #"{"username":"user1","password":"password1"}"#,
                headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.8"]
            )
            #expect(other.status == .ok)
            #expect(try await client.login("user1", "password1")["access_token"] != nil)
            // Forwarded (RFC 7239) names the client the same way.
            let forwarded = try await client.postJSON(
                "/login",
                #"{"username":"user1","password":"password1"}"#,
                headers: [HTTPField.Name("Forwarded")!: #"for="203.0.113.7:5555""#]
            )
            #expect(forwarded.status == .tooManyRequests)
        }
    }

    @Test func withoutTrustedProxiesTheHeadersAreIgnored() async throws {
        let fixture = try await IssuerFixture {
            $0.maxLoginFailures = 100
            $0.maxLoginFailuresPerAddress = 3
        }
        let app = try await makeIssuerApplication(configuration: fixture.configuration, logger: testLogger)
        try await app.test(.live) { client in
            // Each failure claims another address; all count against the real peer.
            for index in 0..<3 {
                #expect(try await Self.failedLogin(client, index, from: "203.0.113.\(index + 1)").status == .unauthorized)
            }
            let response = try await client.postJSON(
                "/login",
                #"{"username":"user1","password":"password1"}"#,
                headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.200"]
            )
            #expect(response.status == .tooManyRequests)
            // The server goes on answering other routes.
            #expect(try await client.get("/healthz").status == .ok)
        }
    }
}
