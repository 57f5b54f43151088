import CurlClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SharedJWT
import Synchronization
import Testing

@testable import ResourceAPICore

// MARK: Keys and tokens

/// Keys are slow to generate; every test shares these.
enum TestKeys {
    static let all: [RSAPrivateKey] = (0..<4).map { _ in
        // Generation only fails if OpenSSL itself is broken; then nothing here can pass.
        try! RSAPrivateKey.generate(bits: 2048)
    }
    static var a: RSAPrivateKey { all[0] }
    static var b: RSAPrivateKey { all[1] }
    static var c: RSAPrivateKey { all[2] }
    /// Never published: for bad-signature tokens.
    static var rogue: RSAPrivateKey { all[3] }
}

/// Moves the wall clock the ResourceAPI sees, for expiry and staleness without waiting.
final class TestClock: Sendable {
    private let offset = Mutex(0.0)

    func now() -> Double {
        Date().timeIntervalSince1970 + self.offset.withLock { $0 }
    }

    func advance(by seconds: Double) {
        self.offset.withLock { $0 += seconds }
    }
}

struct TokenFactory {
    var issuer: String
    var audience = "resource-api"
    var clock: TestClock

    func claims(
        subject: String = "user1",
        roles: [String] = ["user"],
        lifetime: Double = 300,
        jti: String = Base64URL.encode(SecureRandom.bytes(count: 16))
    ) -> JWTClaims {
        let now = Int64(self.clock.now())
        return JWTClaims(
            issuer: self.issuer,
            subject: subject,
            audience: [self.audience],
            expiresAt: now + Int64(lifetime),
            issuedAt: now,
            notBefore: now,
            jwtID: jti,
            clientID: "login",
            scope: "api",
            roles: roles
        )
    }

    /// A well-formed RS256 at+jwt from `key`, under its thumbprint unless `kid` says otherwise.
    func token(_ claims: JWTClaims, key: RSAPrivateKey = TestKeys.a, kid: String? = nil) throws -> String {
        try JWTSigner(key: key, keyID: kid ?? key.publicKey.thumbprint).sign(claims)
    }

    func token(subject: String = "user1", roles: [String] = ["user"], key: RSAPrivateKey = TestKeys.a) throws -> String {
        try self.token(self.claims(subject: subject, roles: roles), key: key)
    }

    /// Any header and payload, signed with `key` (or with an empty signature).
    func raw(header: String, payload: String, key: RSAPrivateKey? = TestKeys.a) throws -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let signature = try key.map { try $0.signRS256(Array(input.utf8)) } ?? []
        return input + "." + Base64URL.encode(signature)
    }

    func payload(_ claims: JWTClaims) -> String {
        String(decoding: claims.jsonObject().serialized(), as: UTF8.self)
    }
}

// MARK: A controllable Issuer stand-in

/// Discovery, JWK Set and revocation feed, each observable and breakable by the test.
final class FakeIssuer: Sendable {
    struct State {
        var keys: [RSAPublicKey] = [TestKeys.a.publicKey]
        /// Raw JWK objects (JSON text) appended to the set: for unusable keys.
        var extraJWKs: [String] = []
        /// Served instead of the set when set (huge, not JSON...).
        var bodyOverride: [UInt8]?
        var status = 200
        var delay: Duration = .zero
        var maxAge = 300
        var honourETag = true
        var jwksFetches = 0
        var notModifiedSent = 0
        var revoked: [(jti: String, exp: Int64)] = []
        var retiredKids: [String] = []
        var revocationPolls = 0
        var publicIssuer = ""
    }

    let state = Mutex(State())

    func update(_ change: (inout State) -> Void) {
        self.state.withLock { change(&$0) }
    }

    var jwksFetches: Int { self.state.withLock { $0.jwksFetches } }
    var revocationPolls: Int { self.state.withLock { $0.revocationPolls } }

    func jwksBody(_ state: State) throws -> [UInt8] {
        if let body = state.bodyOverride { return body }
        guard case .array(var keys)? = try JSONValue.parse(JWKSet.encode(state.keys))["keys"] else { return [] }
        for extra in state.extraJWKs { keys.append(try JSONValue.parse(Array(extra.utf8))) }
        return JSONValue.object([("keys", .array(keys))]).serialized()
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/.well-known/openid-configuration") { _, _ -> Response in
            let issuer = self.state.withLock { $0.publicIssuer }
            return Self.json(
                .object([
                    ("issuer", .string(issuer)),
                    ("jwks_uri", .string(issuer + "/.well-known/jwks.json")),
                ])
            )
        }
        router.get("/.well-known/jwks.json") { request, _ -> Response in
            let snapshot = self.state.withLock { state -> State in
                state.jwksFetches += 1
                return state
            }
            if snapshot.delay > .zero { try await Task.sleep(for: snapshot.delay) }
            guard snapshot.status == 200 else {
                return Response(status: .init(code: snapshot.status), body: .init(byteBuffer: ByteBuffer(string: "unavailable")))
            }
            let body = try self.jwksBody(snapshot)
            let etag = "\"" + Base64URL.encode(SHA256Digest.hash(body).prefix(12)) + "\""
            var headers = HTTPFields()
            headers[.cacheControl] = "public, max-age=\(snapshot.maxAge)"
            headers[.eTag] = etag
            if snapshot.honourETag, request.headers[.ifNoneMatch] == etag {
                self.update { $0.notModifiedSent += 1 }
                return Response(status: .notModified, headers: headers)
            }
            headers[.contentType] = "application/jwk-set+json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/revocations") { request, _ -> Response in
            let snapshot = self.state.withLock { state -> State in
                state.revocationPolls += 1
                return state
            }
            let after = request.uri.queryParameters["after"].flatMap { Int(String($0)) } ?? 0
            let revoked = snapshot.revoked.enumerated().filter { $0.offset >= after }.map { entry in
                JSONValue.object([("jti", .string(entry.element.jti)), ("exp", .number(Double(entry.element.exp)))])
            }
            return Self.json(
                .object([
                    ("cursor", .number(Double(snapshot.revoked.count))),
                    ("revoked", .array(revoked)),
                    ("retired_kids", .array(snapshot.retiredKids.map(JSONValue.string))),
                ])
            )
        }
        return router
    }

    static func json(_ value: JSONValue) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.serialized())))
    }
}

// MARK: Running both servers

struct Harness: Sendable {
    let issuer: FakeIssuer
    let issuerURL: String
    let apiURL: String
    let apiPort: Int
    let api: ResourceAPI
    let clock: TestClock
    let tokens: TokenFactory
    /// The test's own requests use a separate, larger pool than the server's fetches.
    static let testClient = CurlClient.withOwnThreadPool(threads: 32)
    var client: CurlClient { Self.testClient }

    func get(_ path: String, token: String? = nil, headers: [(String, String)] = []) async throws -> CurlResponse {
        var headers = headers
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return try await self.client.get(self.apiURL + path, headers: headers, options: .init(connectTimeout: .seconds(10), timeout: .seconds(30)))
    }

    /// Polls until `condition` holds or `timeout` passes; true if it held.
    func eventually(within timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }
}

func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    return logger
}

/// Runs an app on 127.0.0.1 port 0 for the duration of `body`, which gets the port, then
/// shuts it down gracefully: cancelling a NIO server task while a connection is being
/// accepted traps ("Deinited NIOAsyncWriter without calling finish()", swift-nio#2637).
func withServer<T: Sendable>(
    _ makeApp: (@escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol,
    _ body: (Int) async throws -> T
) async throws -> T {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = makeApp { port in
        continuation.yield(port)
        continuation.finish()
    }
    let services = ServiceGroup(configuration: .init(services: [app], logger: testLogger("test-services")))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await services.run() }
        var iterator = ports.makeAsyncIterator()
        let result: Result<T, any Error>
        if let port = await iterator.next(), port > 0 {
            do {
                result = .success(try await body(port))
            } catch {
                result = .failure(error)
            }
        } else {
            result = .failure(CurlError.connectFailed("server did not start"))
        }
        await services.triggerGracefulShutdown()
        try await group.waitForAll()
        return try result.get()
    }
}

/// A fake Issuer and a real ResourceAPI on loopback. The Issuer's public URL
/// (`http://localhost:1`, where nothing listens) differs from the one the ResourceAPI
/// reaches it through, so every run also exercises the jwks_uri rebasing.
func withHarness(
    waitUntilReady: Bool = true,
    issuerSetup: @Sendable (inout FakeIssuer.State) -> Void = { _ in },
    configure: @Sendable (inout ResourceAPIConfiguration) -> Void = { _ in },
    _ body: @Sendable (Harness) async throws -> Void
) async throws {
    let issuer = FakeIssuer()
    let publicIssuer = "http://localhost:1"
    issuer.update {
        $0.publicIssuer = publicIssuer
        issuerSetup(&$0)
    }
    let clock = TestClock()
    let makeIssuer = { (onRunning: @escaping @Sendable (Int) async -> Void) in
        Application(
            router: issuer.router(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { await onRunning($0.localAddress?.port ?? 0) },
            logger: testLogger("fake-issuer")
        )
    }
    try await withServer(makeIssuer) { issuerPort in
        var configuration = ResourceAPIConfiguration()
        configuration.fastPath = EdgeSwitch.fastPath
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.issuerURL = "http://127.0.0.1:\(issuerPort)"
        configuration.revocationPoll = .milliseconds(200)
        configuration.jwksMinRefresh = .seconds(1)
        configuration.retryMinimum = .milliseconds(50)
        configuration.retryMaximum = .milliseconds(200)
        // Generous: the whole suite shares two cores; tests of timeouts set their own.
        configuration.fetchTimeout = .seconds(10)
        configuration.clock = { clock.now() }
        configure(&configuration)
        // Each ResourceAPI fetches on two threads of its own (stopped with it), so one
        // test's flood cannot slow another's key or revocation fetches.
        let metrics = ResourceAPIMetrics()
        let api = ResourceAPI(
            configuration: configuration,
            logger: testLogger("resource-api"),
            metrics: metrics
        )
        let issuerURL = configuration.issuerURL
        try await withServer({ api.makeApplication(onServerRunning: $0) }) { apiPort in
            let harness = Harness(
                issuer: issuer,
                issuerURL: issuerURL,
                apiURL: "http://127.0.0.1:\(apiPort)",
                apiPort: apiPort,
                api: api,
                clock: clock,
                tokens: TokenFactory(issuer: publicIssuer, clock: clock)
            )
            if waitUntilReady {
                let ready = await harness.eventually(within: .seconds(15)) { api.keys.status.ready }
                try #require(ready, "the ResourceAPI never loaded the JWK Set")
            }
            try await body(harness)
        }
    }
}

extension CurlResponse {
    var text: String { String(decoding: self.body, as: UTF8.self) }

    var json: JSONValue? { try? JSONValue.parse(self.body) }
}
