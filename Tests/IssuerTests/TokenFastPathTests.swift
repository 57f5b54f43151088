import Foundation
import GRDB
import HTTPEdge
import HTTPPipelining
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import Synchronization
import Testing

@testable import IssuerCore
@testable import ServiceSupport

/// Refresh grants of `POST /token` are answered by the fast path (`TokenFastRoutes`) on the event loop,
/// with their commits grouped per event-loop tick; everything else goes to the router.
/// A query (`/token?via=router`) sends a request to the router, so these tests hold both
/// paths to the same answers, and check the order of pipelined responses, racing
/// replays, and what happens when the database is busy.
@Suite struct TokenFastPathTests {
    /// `issuer_refresh_commits_total{path}` from /metrics.
    static func fastRefreshes(_ client: some TestClientProtocol, commit: String) async throws -> Int {
        fastRefreshes(inMetrics: try await client.get("/metrics").text, commit: commit)
    }

    static func fastRefreshes(inMetrics text: String, commit: String) -> Int {
        let prefix = "issuer_refresh_commits_total{path=\"\(commit)\"} "
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return 0 }
        return Int(line.dropFirst(prefix.count)) ?? -1
    }

    static func refreshForm(_ token: String) -> String { "grant_type=refresh_token&refresh_token=\(token)" }

    @Test func fastPathAndRouterAnswerAlike() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run(.live) { client in
            let before = try await Self.fastRefreshes(client, commit: "event_loop")
            // A good refresh on each path: the same response apart from the tokens.
            var answers: [TestResponse] = []
            for uri in ["/token", "/token?via=router"] {
                let session = try await client.login("user1", "password1")
                answers.append(try await client.postForm(uri, Self.refreshForm(try string(session, "refresh_token"))))
            }
            let (fast, routed) = (answers[0], answers[1])
            #expect(fast.status == .ok)
            #expect(routed.status == .ok)
            for name: HTTPField.Name in [.contentType, .cacheControl, .pragma] {
                #expect(fast.headers[name] == routed.headers[name], "\(name)")
            }
            #expect(fast.headers[.date] != nil)
            let fastBody = try fast.jsonObject()
            let routedBody = try routed.jsonObject()
            #expect(Set(fastBody.keys) == Set(routedBody.keys))
            for key in ["token_type", "expires_in", "scope"] {
                #expect("\(fastBody[key] ?? "-")" == "\(routedBody[key] ?? "-")", "\(key)")
            }
            let payload = try decodeJWT(try string(fastBody, "access_token")).payload
            #expect(payload["sub"] as? String == "user1")
            #expect(payload["roles"] as? [String] == ["user"])
            // Both paths commit through the store's committer (SQLite: on the event loop).
            #expect(try await Self.fastRefreshes(client, commit: "event_loop") == before + 2)

            // The fast path's successor works on the router, and the other way round.
            let crossed = try await client.postForm("/token?via=router", Self.refreshForm(try string(fastBody, "refresh_token")))
            #expect(crossed.status == .ok)
            let back = try await client.postForm("/token", Self.refreshForm(try string(routedBody, "refresh_token")))
            #expect(back.status == .ok)

            // Refusals, and the requests the fast path leaves to the router: same status,
            // same body, same headers. Each replay case gets a session of its own per path.
            var replays: [String] = []
            var successors: [String] = []
            for _ in 0..<2 {
                let session = try await client.login("user1", "password1")
                let used = try string(session, "refresh_token")
                let rotated = try await client.postForm("/token", Self.refreshForm(used))
                #expect(rotated.status == .ok)
                replays.append(used)
                successors.append(try string(try rotated.jsonObject(), "refresh_token"))
            }
            let cases: [(body: String, headers: HTTPFields, fastBody: String?)] = [
                (Self.refreshForm("unknown"), [:], nil),
                (Self.refreshForm(replays[0]), [:], Self.refreshForm(replays[1])),
                ("grant_type=refresh_token", [:], nil),
                ("grant_type=refresh_token&refresh_token=", [:], nil),
                ("grant_type=refresh_token&refresh_token=a&refresh_token=b", [:], nil),
                ("grant_type=refresh_token&refresh_token=%FF", [:], nil),
                ("grant_type=refresh_token&refresh_token=%zz", [:], nil),
                ("grant_type=password&username=u&password=p", [:], nil),
                ("refresh_token=x", [:], nil),
                ("grant_type=client_credentials", [.authorization: "Basic c3ZjOnMzY3JldA=="], nil),
                ("grant_type=client_credentials", [.authorization: "Basic c3ZjOndyb25n"], nil),
                ("grant_type=refresh_token&refresh_token=\(String(repeating: "a", count: 9000))", [:], nil),
            ]
            for (body, headers, fastBody) in cases {
                let label = "\(body.prefix(60)) \(headers)"
                let routedAnswer = try await client.postForm("/token?via=router", body, headers: headers)
                let fastAnswer = try await client.postForm("/token", fastBody ?? body, headers: headers)
                #expect(fastAnswer.status == routedAnswer.status, "\(label)")
                if routedAnswer.status == .ok {
                    #expect(Set(try fastAnswer.jsonObject().keys) == Set(try routedAnswer.jsonObject().keys), "\(label)")
                } else {
                    #expect(fastAnswer.text == routedAnswer.text, "\(label)")
                }
                for name: HTTPField.Name in [.contentType, .cacheControl, .pragma, .wwwAuthenticate] {
                    #expect(fastAnswer.headers[name] == routedAnswer.headers[name], "\(name) of \(label)")
                }
            }
            // Each replay ended its session, the one refused on the fast path as the other.
            for successor in successors {
                let ended = try await client.postForm("/token", Self.refreshForm(successor))
                #expect(ended.status == .badRequest)
                #expect(try ended.oauthError() == "invalid_grant")
            }
            // And the service still answers.
            #expect(try await client.get("/healthz").status == .ok)
        }
    }

    /// Responses leave in request order whichever path answers each request, also when a
    /// fast-path refresh is still waiting for its commit as the next requests arrive.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run(.live) { client in
            var tokens: [String] = []
            for _ in 0..<3 { tokens.append(try string(try await client.login("user1", "password1"), "refresh_token")) }
            func post(_ uri: String, _ body: String) -> String {
                "POST \(uri) HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            let requests = [
                post("/token", Self.refreshForm(tokens[0])),
                "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
                post("/token?via=router", Self.refreshForm(tokens[1])),
                post("/token", Self.refreshForm(tokens[2])),
                post("/token", Self.refreshForm("unknown")),
                "GET /.well-known/jwks.json HTTP/1.1\r\nHost: t\r\n\r\n",
                post("/token", Self.refreshForm(tokens[0])),
            ]
            let answers = try await RawHTTP.exchange(port: client.port ?? 0, sending: requests.joined(), expecting: requests.count)
            #expect(answers.map(\.status) == [200, 200, 200, 200, 400, 200, 400])
            #expect(answers[0].body.contains("\"access_token\""))
            #expect(answers[1].body == #"{"status":"ok"}"#)
            #expect(answers[2].body.contains("\"access_token\""))
            #expect(answers[3].body.contains("\"access_token\""))
            #expect(answers[4].body.contains("invalid_grant"))
            #expect(answers[5].body.contains("\"keys\""))
            #expect(answers[6].body.contains("already used"))
        }
    }

    /// Many connections refreshing at once share commits; every session still rotates
    /// exactly once per request, and of two requests with the same token exactly one wins.
    @Test func concurrentRefreshesAndRacingReplays() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run(.live) { client in
            let port = try #require(client.port)
            var tokens: [String] = []
            for _ in 0..<12 { tokens.append(try string(try await client.login("user1", "password1"), "refresh_token")) }
            let before = try await Self.fastRefreshes(client, commit: "event_loop")
            // Each session sends two requests with its token on two connections at once.
            let statuses = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for (index, token) in tokens.enumerated() {
                    for _ in 0..<2 {
                        group.addTask {
                            let body = Self.refreshForm(token)
                            let request =
                                "POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
                            return (index, try await RawHTTP.exchange(port: port, sending: request, expecting: 1)[0].status)
                        }
                    }
                }
                var bySession: [Int: [Int]] = [:]
                for try await (index, status) in group { bySession[index, default: []].append(status) }
                return bySession
            }
            for (index, answers) in statuses {
                #expect(answers.sorted() == [200, 400], "session \(index)")
            }
            #expect(try await Self.fastRefreshes(client, commit: "event_loop") == before + 24)
            // The replays ended every one of those sessions.
            for token in tokens {
                #expect(try await client.postForm("/token", Self.refreshForm(token)).status == .badRequest)
            }
        }
    }

    /// While another connection holds the database's write lock, fast-path refreshes do not
    /// wait on the event loop: they wait for the lock off it (`SQLiteIssuerStore.refresh`), and
    /// the event loop answers other requests meanwhile.
    @Test func busyDatabaseTakesTheWaitingPath() async throws {
        let fixture = try await IssuerFixture()
        let path = fixture.configuration.databasePath
        try await fixture.run(.live) { client in
            let token = try string(try await client.login("user1", "password1"), "refresh_token")
            let waitedBefore = try await Self.fastRefreshes(client, commit: "waited")
            let blocker = try DatabaseQueue(path: path)
            let locked = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let blockerError = Mutex<String?>(nil)
            DispatchQueue.global().async {
                do {
                    try blocker.writeWithoutTransaction { db in
                        try db.execute(sql: "BEGIN IMMEDIATE")
                        locked.signal()
                        release.wait()
                        try db.execute(sql: "COMMIT")
                    }
                } catch {
                    blockerError.withLock { $0 = "\(error)" }
                    locked.signal()
                }
            }
            locked.wait()
            async let refreshed = client.postForm("/token", Self.refreshForm(token))
            // The event loop is free while the refresh waits for the lock: on another
            // connection it answers /metrics, which shows the refresh handed to the waiting
            // path (polled: the refresh may take a moment to arrive).
            let port = try #require(client.port)
            var waited = waitedBefore
            for _ in 0..<400 where waited == waitedBefore {
                try await Task.sleep(for: .milliseconds(25))
                let metrics = try await RawHTTP.exchange(port: port, sending: "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", expecting: 1)
                #expect(metrics.map(\.status) == [200])
                waited = Self.fastRefreshes(inMetrics: metrics.first?.body ?? "", commit: "waited")
            }
            #expect(waited == waitedBefore + 1)
            release.signal()
            let answer = try await refreshed
            #expect(blockerError.withLock { $0 } == nil)
            #expect(answer.status == .ok)
            // Once the lock is free, commits are on the event loop again.
            let next = try string(try answer.jsonObject(), "refresh_token")
            let onLoop = try await Self.fastRefreshes(client, commit: "event_loop")
            #expect(try await client.postForm("/token", Self.refreshForm(next)).status == .ok)
            #expect(try await Self.fastRefreshes(client, commit: "event_loop") == onLoop + 1)
        }
    }

    /// A graceful shutdown while a refresh is under way on the fast path: the connection
    /// stays open until its answer (already committed) is written, instead of closing as
    /// Hummingbird closes the connections it sees idle.
    @Test func gracefulShutdownWaitsForTheAnswer() async throws {
        let fixture = try await IssuerFixture()
        let path = fixture.configuration.databasePath
        let release = DispatchSemaphore(value: 0)
        let pending = Mutex<Task<[RawHTTP.Answer], any Error>?>(nil)
        try await fixture.run(.live) { client in
            let port = try #require(client.port)
            let token = try string(try await client.login("user1", "password1"), "refresh_token")
            let waitedBefore = try await Self.fastRefreshes(client, commit: "waited")
            // The refresh is held in the waiting path by a lock on the database.
            let blocker = try DatabaseQueue(path: path)
            let locked = DispatchSemaphore(value: 0)
            Thread {
                try? blocker.writeWithoutTransaction { db in
                    try db.execute(sql: "BEGIN IMMEDIATE")
                    locked.signal()
                    release.wait()
                    try db.execute(sql: "COMMIT")
                }
            }.start()
            locked.wait()
            let body = Self.refreshForm(token)
            let request =
                "POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            pending.withLock { $0 = Task { try await RawHTTP.exchange(port: port, sending: request, expecting: 1) } }
            var waited = waitedBefore
            for _ in 0..<400 where waited == waitedBefore {
                try await Task.sleep(for: .milliseconds(25))
                let metrics = try await RawHTTP.exchange(port: port, sending: "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", expecting: 1)
                waited = Self.fastRefreshes(inMetrics: metrics.first?.body ?? "", commit: "waited")
            }
            #expect(waited == waitedBefore + 1)
            // Leaving this closure shuts the server down; the lock goes a moment later.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(500)) { release.signal() }
        }
        let answers = try await #require(pending.withLock { $0 }).value
        #expect(answers.map(\.status) == [200])
        #expect(answers.first?.body.contains("\"refresh_token\"") == true)
    }

    /// A client that sends a refresh and leaves does not disturb the next one.
    @Test func clientGoneBeforeTheAnswer() async throws {
        let fixture = try await IssuerFixture()
        try await fixture.run(.live) { client in
            let port = try #require(client.port)
            for _ in 0..<5 {
                let token = try string(try await client.login("user1", "password1"), "refresh_token")
                let body = Self.refreshForm(token)
                // Sent, then the socket is closed at once (exchange expecting nothing).
                _ = try await RawHTTP.exchange(
                    port: port,
                    sending: "POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                        + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)",
                    expecting: 0
                )
            }
            let token = try string(try await client.login("user1", "password1"), "refresh_token")
            #expect(try await client.postForm("/token", Self.refreshForm(token)).status == .ok)
        }
    }

    @Test func tokenRouteClaimsOnlyPlainRefreshForms() {
        func claimed(method: HTTPRequest.Method = .post, path: String = "/token", _ headers: [(String, String)]) -> Bool {
            var fields = HTTPFields()
            for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
            let head = HTTPRequest(method: method, scheme: nil, authority: "127.0.0.1", path: path, headerFields: fields)
            guard let claim = TokenFastRoutes.claimOf(head) else { return false }
            return FastPathPolicy.admits(head, maxBodyBytes: claim.maxBodyBytes)
        }
        let form = [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "60")]
        #expect(claimed(form))
        #expect(claimed([("content-type", "Application/X-WWW-Form-URLEncoded; charset=utf-8"), ("content-length", "9")]))
        #expect(!claimed(method: .get, form))
        #expect(!claimed(path: "/token?x=1", form))
        #expect(!claimed(path: "/login", form))
        #expect(!claimed(form + [("Connection", "close")]))
        #expect(!claimed(form + [("Authorization", "Basic eDp5")]))
        #expect(!claimed(form + [("Expect", "100-continue")]))
        #expect(!claimed([("Content-Type", "application/json"), ("Content-Length", "60")]))
        #expect(!claimed([("Content-Type", "application/x-www-form-urlencoded"), ("Transfer-Encoding", "chunked")]))
        #expect(!claimed([("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "5000")]))
        #expect(!claimed(form + [("Content-Length", "60")]))
        #expect(!claimed(form + [("Content-Type", "application/x-www-form-urlencoded")]))
    }

    @Test func availableCPUsFromTheAffinityMask() {
        #expect(AvailableCPUs.count(inStatus: "Name:\tissuer\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n") == 1)
        #expect(AvailableCPUs.count(inStatus: "Cpus_allowed:\t3\n") == 2)
        #expect(AvailableCPUs.count(inStatus: "Cpus_allowed:\tffffffff,ffffffff\n") == 64)
        #expect(AvailableCPUs.count(inStatus: "Cpus_allowed:\t0\n") == nil)
        #expect(AvailableCPUs.count(inStatus: "Cpus_allowed:\txyz\n") == nil)
        #expect(AvailableCPUs.count(inStatus: "Name:\tx\n") == nil)
        #expect((AvailableCPUs.count ?? 1) >= 1)
    }
}
