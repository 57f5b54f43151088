import CurlClient
import Dispatch
import Foundation
import NIOHTTP1
@testable import ResourceAPICore
import SharedJWT
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The hot routes are answered by `HotRouteHandler` on the event loop unless a request has
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
                ("/api/greet", [("Authorization", "Bearer \(try tokens.token(tokens.claims(), key: TestKeys.rogue, kid: TestKeys.a.publicKey.thumbprint))")]),
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
            #expect(responses.map(\.body).enumerated().filter { $0.offset != 3 }.map(\.element)
                == ["hi bob!", "{\"status\":\"ok\"}", "hi alice!", "hi alice!"])
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

    /// Requests answered on the event loop count in Hummingbird's request metrics (under
    /// `MetricsMiddleware`'s names; in the service both go to the global MetricsSystem).
    @Test func fastPathRequestsAreCounted() async throws {
        try await withHarness(requestMetricsInOwnRegistry: true) { harness in
            let token = try harness.tokens.token()
            for _ in 0..<3 { _ = try await harness.get("/api/greet", token: token) }
            _ = try await harness.get("/api/greet")
            let metrics = try await harness.get("/metrics").text
            let ok = #"hb_requests{http_route="/api/greet",http_request_method="GET",http_response_status_code="200"} 3"#
            let refused = #"hb_requests{http_route="/api/greet",http_request_method="GET",http_response_status_code="401"} 1"#
            #expect(metrics.contains(ok), "\(metrics.split(separator: "\n").filter { $0.contains("hb_requests") })")
            #expect(metrics.contains(refused))
            #expect(metrics.contains(#"resource_api_verifications_total{outcome="missing"} 1"#))
        }
    }

    @Test func hotRouteMatchesOnlyPlainGetsOfExactPaths() {
        func head(_ method: HTTPMethod = .GET, uri: String, version: HTTPVersion = .http1_1, _ headers: [(String, String)] = []) -> HTTPRequestHead {
            HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
        }
        #expect(HotRoute.match(head(uri: "/api/greet")) == .greet)
        #expect(HotRoute.match(head(uri: "/healthz")) == .healthz)
        #expect(HotRoute.match(head(uri: "/api/me")) == .me)
        #expect(HotRoute.match(head(uri: "/api/admin/greet")) == .adminGreet)
        #expect(HotRoute.match(head(uri: "/api/greet", [("Content-Length", "0")])) == .greet)
        #expect(HotRoute.match(head(uri: "/api/greet?x=1")) == nil)
        #expect(HotRoute.match(head(uri: "/api/greet/")) == nil)
        #expect(HotRoute.match(head(uri: "/readyz")) == nil)
        #expect(HotRoute.match(head(.HEAD, uri: "/api/greet")) == nil)
        #expect(HotRoute.match(head(.POST, uri: "/api/greet")) == nil)
        #expect(HotRoute.match(head(uri: "/api/greet", version: .http1_0)) == nil)
        #expect(HotRoute.match(head(uri: "/api/greet", [("Connection", "close")])) == nil)
        #expect(HotRoute.match(head(uri: "/api/greet", [("Content-Length", "3")])) == nil)
        #expect(HotRoute.match(head(uri: "/api/greet", [("Transfer-Encoding", "chunked")])) == nil)
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
                #expect(answer.body == error.body)
                #expect(answer.headers["WWW-Authenticate"] == [error.wwwAuthenticate ?? ""])
                #expect(answer.headers["Content-Length"] == [String(error.body.count)])
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

/// A plain TCP client for what curl will not send: several requests in one write
/// (pipelining) and bodies on GET. Blocking socket calls run on a Dispatch thread, not on
/// the test's cooperative threads.
enum RawHTTP {
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func exchange(port: Int, sending text: String, expecting count: Int, untilClosed: Bool = false) async throws -> [Answer] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try self.exchangeBlocking(port: port, text: text, count: count, untilClosed: untilClosed) })
            }
        }
    }

    /// Everything the server sends until it closes the connection.
    static func everything(port: Int, sending text: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let fd = try self.connected(port: port, sending: text)
                    defer { close(fd) }
                    var received: [UInt8] = []
                    while true {
                        var chunk = [UInt8](repeating: 0, count: 65_536)
                        let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                        if got == 0 { break }
                        guard got > 0 else { throw Failure(description: "recv() failed or timed out") }
                        received += chunk[..<got]
                    }
                    return String(decoding: received, as: UTF8.self)
                })
            }
        }
    }

    /// A socket connected to 127.0.0.1:`port` with `text` sent; the caller closes it.
    private static func connected(port: Int, sending text: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "connect() failed")
        }
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard written > 0 else {
                close(fd)
                throw Failure(description: "send() failed")
            }
            sent += written
        }
        return fd
    }

    private static func exchangeBlocking(port: Int, text: String, count: Int, untilClosed: Bool) throws -> [Answer] {
        let fd = try self.connected(port: port, sending: text)
        defer { close(fd) }
        var received: [UInt8] = []
        var answers: [Answer] = []
        var closed = false
        while answers.count < count || (untilClosed && !closed) {
            if let (answer, used) = try self.parse(received) {
                answers.append(answer)
                received.removeFirst(used)
                continue
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got == 0 {
                closed = true
                if answers.count < count { throw Failure(description: "closed after \(answers.count) of \(count) responses") }
                break
            }
            guard got > 0 else { throw Failure(description: "recv() failed or timed out after \(answers.count) responses") }
            received += chunk[..<got]
        }
        return answers
    }

    /// One response with a Content-Length body from the front of `bytes`, if complete.
    private static func parse(_ bytes: [UInt8]) throws -> (Answer, Int)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = bytes.indices.dropLast(3).first(where: { Array(bytes[$0..<($0 + 4)]) == separator }) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
            throw Failure(description: "bad status line: \(head.first ?? "")")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        let bodyStart = end + 4
        guard bytes.count >= bodyStart + length else { return nil }
        let body = String(decoding: bytes[bodyStart..<(bodyStart + length)], as: UTF8.self)
        return (Answer(status: status, headers: headers, body: body), bodyStart + length)
    }
}
