import CurlClient
import Dispatch
import Foundation
import HTTPEdge
import HTTPPipelining
import HTTPTypes
import NIOHTTP1
import ServiceSupport
import SharedJWT
import Testing

@testable import ResourceAPICore

#if canImport(Glibc)
import Glibc
#endif

/// The hot routes are answered by the fast path (`APIFastRoutes`) on the event loop unless a request has
/// to wait or is unusual; these tests hold both paths to the same answers and check that
/// pipelined responses keep their order whichever path answers each request.
@Suite struct FastPathTests {
    /// A query sends a request to Hummingbird's router; without one the fast path answers.
    /// Both must give the same status, body and challenge for every kind of request.
    @Test func fastPathAndRouterAnswerAlike() async throws {
        try await withHarness { harness in
            let tokens = harness.tokens
            let valid = try tokens.token(subject: "alice")
            let admin = try tokens.token(subject: "root", roles: ["admin"])
            var expired = tokens.claims()
            expired.expiresAt = Int64(harness.clock.now()) - 3600
            expired.issuedAt = Int64(harness.clock.now()) - 7200
            var wrongAudience = tokens.claims()
            wrongAudience.audience = ["someone-else"]
            let cases: [(path: String, headers: [(String, String)])] = [
                ("/healthz", []),
                ("/api/greet", [("Authorization", "Bearer \(valid)")]),
                ("/api/me", [("Authorization", "Bearer \(valid)")]),
                ("/api/admin/greet", [("Authorization", "Bearer \(valid)")]),
                ("/api/admin/greet", [("Authorization", "Bearer \(admin)")]),
                ("/api/greet", []),
                ("/api/greet", [("Authorization", "Basic dXNlcjpwYXNz")]),
                ("/api/greet", [("Authorization", "Bearer")]),
                ("/api/greet", [("Authorization", "Bearer a b")]),
                ("/api/greet", [("Authorization", "Bearer \(valid)"), ("Authorization", "Bearer \(valid)")]),
                ("/api/greet", [("Authorization", "Bearer not.a.jwt")]),
                ("/api/greet", [("Authorization", "Bearer \(String(repeating: "a", count: 9000))")]),
                ("/api/greet", [("Authorization", "Bearer \(try tokens.token(expired))")]),
                ("/api/greet", [("Authorization", "Bearer \(try tokens.token(wrongAudience))")]),
                (
                    "/api/greet",
                    [("Authorization", "Bearer \(try tokens.token(tokens.claims(), key: TestKeys.rogue, kid: TestKeys.a.publicKey.thumbprint))")]
                ),
            ]
            for (path, headers) in cases {
                let fast = try await harness.get(path, headers: headers)
                let routed = try await harness.get(path + "?via=router", headers: headers)
                let label = "\(path) \(headers.map { "\($0.0): \($0.1.prefix(20))" })"
                #expect(fast.status == routed.status, "\(label)")
                #expect(fast.text == routed.text, "\(label)")
                for name in ["content-type", "cache-control", "www-authenticate", "retry-after"] {
                    #expect(fast.headers[name] == routed.headers[name], "\(name) of \(label)")
                }
                #expect(fast.headers["date"] != nil, "\(label)")
            }
        }
    }

    /// Responses leave in request order: a request that waits for a key fetch (passed to
    /// the router) holds back the hot-route requests pipelined behind it.
    @Test func pipelinedResponsesKeepTheirOrder() async throws {
        try await withHarness { harness in
            // Key b is published only now, and its fetch is slow.
            harness.issuer.update {
                $0.keys.append(TestKeys.b.publicKey)
                $0.delay = .milliseconds(300)
            }
            let newKey = try harness.tokens.token(subject: "bob", key: TestKeys.b)
            let known = try harness.tokens.token(subject: "alice")
            let requests = [
                "GET /api/greet HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(newKey)\r\n\r\n",
                "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
                "GET /api/greet HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(known)\r\n\r\n",
                "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n",
                "GET /api/greet HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(known)\r\n\r\n",
            ]
            let responses = try await RawHTTP.exchange(port: harness.apiPort, sending: requests.joined(), expecting: requests.count)
            #expect(responses.map(\.status) == [200, 200, 200, 200, 200])
            #expect(
                responses.map(\.body).enumerated().filter { $0.offset != 3 }.map(\.element)
                    == ["hi bob!", "{\"status\":\"ok\"}", "hi alice!", "hi alice!"]
            )
            #expect(responses[3].body.contains("\"ready\":true"))
        }
    }

    /// A long pipelined burst, mixing both paths, is answered whole and in order.
    @Test func longPipelinedBurstAnsweredInOrder() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token()
            let greet = "GET /api/greet HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(token)\r\n\r\n"
            let healthz = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
            let routed = "GET /api/greet?via=router HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(token)\r\n\r\n"
            let pattern = [greet, healthz, greet, routed]
            let requests = (0..<600).map { pattern[$0 % pattern.count] }
            let answers = try await RawHTTP.exchange(port: harness.apiPort, sending: requests.joined(), expecting: requests.count)
            let expected = (0..<600).map { $0 % 4 == 1 ? "{\"status\":\"ok\"}" : "hi user1!" }
            #expect(answers.map(\.body) == expected)
        }
    }

    /// Requests the fast path leaves to the router: a body, `Connection: close`, HEAD.
    @Test func unusualRequestsStillAnswered() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token()
            let withBody = "GET /api/greet HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(token)\r\nContent-Length: 5\r\n\r\nhello"
            let next = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
            let answered = try await RawHTTP.exchange(port: harness.apiPort, sending: withBody + next, expecting: 2)
            #expect(answered.map(\.status) == [200, 200])
            #expect(answered.map(\.body) == ["hi user1!", "{\"status\":\"ok\"}"])

            let closing = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            let closed = try await RawHTTP.exchange(port: harness.apiPort, sending: closing, expecting: 1, untilClosed: true)
            #expect(closed.map(\.status) == [200])

            // HEAD goes to the router, which answers it like GET without the body.
            let head = "HEAD /api/greet HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
            let headAnswer = try await RawHTTP.everything(port: harness.apiPort, sending: head)
            #expect(headAnswer.hasPrefix("HTTP/1.1 200"), "\(headAnswer)")
            #expect(headAnswer.hasSuffix("\r\n\r\n"), "no body after the headers: \(headAnswer)")
        }
    }

    /// Requests answered on the event loop count in the edge's request metrics, under the
    /// same series as the router's.
    @Test func fastPathRequestsAreCounted() async throws {
        try await withHarness { harness in
            let token = try harness.tokens.token()
            for _ in 0..<3 { _ = try await harness.get("/api/greet", token: token) }
            _ = try await harness.get("/api/greet")
            let metrics = try await harness.get("/metrics").text
            let ok = #"http_server_requests_total{method="GET",route="/api/greet",status="200"} 3"#
            let refused = #"http_server_requests_total{method="GET",route="/api/greet",status="401"} 1"#
            #expect(metrics.contains(ok), "\(metrics.split(separator: "\n").filter { $0.contains("http_server_requests") })")
            #expect(metrics.contains(refused))
            #expect(metrics.contains(#"resource_api_verifications_total{outcome="missing"} 1"#))
        }
    }

    @Test func apiRoutesClaimOnlyPlainGetsOfExactPaths() {
        func claimed(_ method: HTTPRequest.Method = .get, path: String, _ headers: [(String, String)] = []) -> APIRoute? {
            var fields = HTTPFields()
            for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
            let head = HTTPRequest(method: method, scheme: nil, authority: "127.0.0.1", path: path, headerFields: fields)
            guard let claim = APIFastRoutes.claimOf(head), FastPathPolicy.admits(head, maxBodyBytes: claim.maxBodyBytes) else { return nil }
            return APIRoute(rawValue: claim.routeIndex)
        }
        #expect(claimed(path: "/api/greet") == .greet)
        #expect(claimed(path: "/healthz") == .healthz)
        #expect(claimed(path: "/api/me") == .me)
        #expect(claimed(path: "/api/admin/greet") == .adminGreet)
        #expect(claimed(.head, path: "/api/greet") == .greet)
        #expect(claimed(path: "/api/greet", [("Content-Length", "0")]) == .greet)
        #expect(claimed(path: "/api/greet?x=1") == nil)
        #expect(claimed(path: "/api/greet/") == nil)
        #expect(claimed(path: "/readyz") == nil)
        #expect(claimed(.post, path: "/api/greet") == nil)
        #expect(claimed(path: "/api/greet", [("Connection", "close")]) == nil)
        #expect(claimed(path: "/api/greet", [("Content-Length", "3")]) == nil)
        #expect(claimed(path: "/api/greet", [("Transfer-Encoding", "chunked")]) == nil)
    }

    /// Remembered refusals are the ones built fresh, and past the bound new ones are still
    /// answered right (descriptions that quote request data must not grow the memo).
    @Test func refusalMemoIsBoundedAndFaithful() {
        let memo = RefusalMemo(capacity: 4)
        for round in 0..<2 {
            for index in 0..<10 {
                let error = BearerError.invalidToken("unknown key id k\(index)")
                let answer = memo.answer(error)
                #expect(answer.status == .unauthorized, "round \(round)")
                #expect(Array(answer.body.readableBytesView) == error.edgeError.body)
                #expect(answer.headers[.wwwAuthenticate] == error.wwwAuthenticate)
                #expect(answer.headers[.contentLength] == String(error.edgeError.body.count))
            }
        }
        #expect(memo.count == 4)
    }

    @Test func httpDates() {
        // RFC 9110 §5.6.7's example, the epoch, a leap day, and a date past 2038.
        #expect(HTTPDateHeader.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDateHeader.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDateHeader.format(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(HTTPDateHeader.format(4_102_444_799) == "Thu, 31 Dec 2099 23:59:59 GMT")
    }
}
