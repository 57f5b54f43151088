import CurlClient
import Foundation
import HTTPEdge
import Hummingbird
import IssuerCore
import Logging
import ResourceAPICore
import ServiceLifecycle
import SharedJWT
import Testing

/// A real Issuer and a real ResourceAPI on 127.0.0.1 (ports chosen by the OS), the
/// ResourceAPI fetching the Issuer's JWK Set over HTTP through libcurl, plus what an
/// attacker test needs: the Issuer's active private key (read from its temporary keys/
/// directory, to sign tokens that differ from a valid one in exactly one way), a valid
/// token from `/login`, and a listener that must never be contacted.
struct AttackStack: Sendable {
    static let issuer = "https://issuer.attack.test"
    static let audience = "resource-api"
    static let username = "alice"
    static let password = "correct horse battery staple"

    let issuerPort: Int
    let apiPort: Int
    let signingKey: RSAPrivateKey
    let kid: String
    let recorder: ConnectionRecorder
    let client: CurlClient
    /// From the Issuer's own `/login`.
    let validToken: String

    var issuerURL: String { "http://127.0.0.1:\(self.issuerPort)" }
    var apiURL: String { "http://127.0.0.1:\(self.apiPort)" }

    /// Starts both services, runs `body`, stops both.
    static func run(limits: EdgeLimits = .standard, _ body: @Sendable (AttackStack) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("attack-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "attack-tests")
        logger.logLevel = .critical

        var issuerConfiguration = IssuerConfiguration()
        issuerConfiguration.host = "127.0.0.1"
        issuerConfiguration.port = 0
        // Only a string in tokens: the ResourceAPI is given the JWKS URL directly, so no
        // traffic ever goes to this name.
        issuerConfiguration.issuerURL = issuer
        issuerConfiguration.keysDirectory = directory + "/keys"
        issuerConfiguration.databasePath = directory + "/data/issuer.sqlite"
        issuerConfiguration.bcryptCost = 4
        issuerConfiguration.jwksMaxAge = 60
        issuerConfiguration.fastPath = EdgeSwitch.fastPath
        issuerConfiguration.limits = limits

        let store = try SQLiteIssuerStore(path: issuerConfiguration.databasePath)
        let hash = try await PasswordHasher(cost: 4).hash(password)
        try await store.addUser(UserRecord(name: username, passwordHash: hash, roles: ["user"], createdAt: Date().timeIntervalSince1970))

        let (issuerPorts, issuerContinuation) = AsyncStream.makeStream(of: Int.self)
        let issuerApp = try await makeIssuerApplication(configuration: issuerConfiguration, logger: logger) { port in
            issuerContinuation.yield(port)
            issuerContinuation.finish()
        }
        let (signingKey, kid) = try activeKey(in: issuerConfiguration.keysDirectory)
        let recorder = try ConnectionRecorder()
        defer { recorder.stop() }

        // Stopped by graceful shutdown, never by cancellation: cancelling a NIO server task
        // while a connection is open traps ("Deinited NIOAsyncWriter without calling
        // finish()", swift-nio#2637), which took the whole test process down once.
        let issuerServices = ServiceGroup(configuration: .init(services: [issuerApp], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await issuerServices.run() }
            var apiServices: ServiceGroup?
            let result: Result<Void, any Error>
            do {
                var iterator = issuerPorts.makeAsyncIterator()
                guard let issuerPort = await iterator.next(), issuerPort > 0 else { throw StackError("the Issuer did not start") }

                var apiConfiguration = ResourceAPIConfiguration()
                apiConfiguration.host = "127.0.0.1"
                apiConfiguration.port = 0
                apiConfiguration.issuerURL = "http://127.0.0.1:\(issuerPort)"
                apiConfiguration.jwksURL = "http://127.0.0.1:\(issuerPort)/.well-known/jwks.json"
                apiConfiguration.expectedIssuer = issuer
                apiConfiguration.revocationPoll = .milliseconds(300)
                apiConfiguration.logLevel = .critical
                apiConfiguration.fastPath = EdgeSwitch.fastPath
                apiConfiguration.limits = limits
                let (apiPorts, apiContinuation) = AsyncStream.makeStream(of: Int.self)
                let api = try await makeResourceAPIApplication(configuration: apiConfiguration, logger: logger) { port in
                    apiContinuation.yield(port)
                    apiContinuation.finish()
                }
                let services = ServiceGroup(configuration: .init(services: [api], logger: logger))
                apiServices = services
                group.addTask { try await services.run() }
                var apiIterator = apiPorts.makeAsyncIterator()
                guard let apiPort = await apiIterator.next(), apiPort > 0 else { throw StackError("the ResourceAPI did not start") }

                let client = CurlClient.shared
                try await waitUntilReady(client, "http://127.0.0.1:\(apiPort)/readyz")
                let token = try await login(client, issuerURL: "http://127.0.0.1:\(issuerPort)")
                let stack = AttackStack(
                    issuerPort: issuerPort,
                    apiPort: apiPort,
                    signingKey: signingKey,
                    kid: kid,
                    recorder: recorder,
                    client: client,
                    validToken: token
                )
                try await body(stack)
                result = .success(())
            } catch {
                result = .failure(error)
            }
            await apiServices?.triggerGracefulShutdown()
            await issuerServices.triggerGracefulShutdown()
            try await group.waitForAll()
            try result.get()
        }
    }

    /// The active key as the Issuer wrote it: keyset.json names it, key-<kid>.pem holds it.
    static func activeKey(in keysDirectory: String) throws -> (RSAPrivateKey, String) {
        let data = try Data(contentsOf: URL(fileURLWithPath: keysDirectory + "/keyset.json"))
        let lifecycle = try JSONDecoder().decode(KeyLifecycle.self, from: data)
        guard let active = lifecycle.active else { throw StackError("no active key in keyset.json") }
        let pem = try String(contentsOfFile: keysDirectory + "/key-\(active.kid).pem", encoding: .utf8)
        return (try RSAPrivateKey(pkcs8PEM: pem), active.kid)
    }

    static func waitUntilReady(_ client: CurlClient, _ url: String) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if let response = try? await client.get(url, options: Self.patient), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw StackError("\(url) did not become ready")
    }

    static func login(_ client: CurlClient, issuerURL: String) async throws -> String {
        let body = #"{"username":"\#(username)","password":"\#(password)"}"#
        let response = try await client.post(
            issuerURL + "/login",
            headers: [("Content-Type", "application/json")],
            body: Array(body.utf8),
            options: Self.patient
        )
        guard response.status == 200,
            let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let token = object["access_token"] as? String
        else { throw StackError("login failed with HTTP \(response.status)") }
        return token
    }

    /// GET /api/greet through libcurl with this token: the "still answers a valid token" check.
    func greet(_ token: String, scheme: String = "Bearer") async throws -> CurlResponse {
        try await self.client.get(self.apiURL + "/api/greet", headers: [("Authorization", "\(scheme) \(token)")], options: Self.patient)
    }

    /// The stack's own requests wait longer than curl's 5 s default: `make test` runs many
    /// stacks at once on two cores, and a slow answer here is load, not the finding.
    static let patient = CurlRequestOptions(timeout: .seconds(20))

    var forger: Forger {
        Forger(key: self.signingKey, kid: self.kid, issuer: Self.issuer, audience: Self.audience)
    }
}

struct StackError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Builds tokens byte by byte: header and payload are raw JSON text, so duplicate members,
/// wrong types and odd shapes are all expressible.
struct Forger: Sendable {
    let key: RSAPrivateKey
    let kid: String
    let issuer: String
    let audience: String
    let now = Int64(Date().timeIntervalSince1970)

    static let claimOrder = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "roles"]

    /// `{"alg":...,"typ":...,"kid":...}` plus `extra` members (raw JSON text, without braces).
    func header(alg: String = "RS256", typ: String? = "at+jwt", kid: String? = nil, omitKid: Bool = false, extra: String? = nil) -> String {
        var members = [#""alg":\#(Self.quote(alg))"#]
        if let typ { members.append(#""typ":\#(Self.quote(typ))"#) }
        if !omitKid { members.append(#""kid":\#(Self.quote(kid ?? self.kid))"#) }
        if let extra { members.append(extra) }
        return "{" + members.joined(separator: ",") + "}"
    }

    /// A valid claim set; `changes` replace members (raw JSON values), nil removes one,
    /// unknown names are appended.
    func payload(_ changes: [String: String?] = [:]) -> String {
        var values: [String: String] = [
            "iss": Self.quote(self.issuer),
            "sub": #""mallory""#,
            "aud": Self.quote(self.audience),
            "exp": "\(self.now + 300)",
            "iat": "\(self.now)",
            "nbf": "\(self.now)",
            "jti": Self.quote(Base64URL.encode(SecureRandom.bytes(count: 16))),
            "client_id": #""login""#,
            "scope": #""api""#,
            "roles": #"["user"]"#,
        ]
        for (name, value) in changes { values[name] = value }
        let names = Self.claimOrder + changes.keys.filter { !Self.claimOrder.contains($0) }.sorted()
        let members = names.compactMap { name in values[name].map { "\(Self.quote(name)):\($0)" } }
        return "{" + members.joined(separator: ",") + "}"
    }

    func signingInput(_ header: String, _ payload: String) -> String {
        Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
    }

    /// RS256 over the input with `key` (the Issuer's own key unless given).
    func rs256(_ header: String, _ payload: String, key: RSAPrivateKey? = nil) throws -> String {
        let input = self.signingInput(header, payload)
        return input + "." + Base64URL.encode(try (key ?? self.key).signRS256(Array(input.utf8)))
    }

    func hmac(_ alg: String, secret: [UInt8], _ header: String, _ payload: String) -> String {
        let input = self.signingInput(header, payload)
        return input + "." + Base64URL.encode(HMAC.sign(alg: alg, key: secret, message: Array(input.utf8)))
    }

    func unsigned(_ header: String, _ payload: String, signature: String = "") -> String {
        self.signingInput(header, payload) + "." + signature
    }

    /// A valid token for the real key, as the Issuer would sign it.
    func valid(_ changes: [String: String?] = [:]) throws -> String {
        try self.rs256(self.header(), self.payload(changes))
    }

    static func quote(_ text: String) -> String {
        String(decoding: JSONValue.string(text).serialized(), as: UTF8.self)
    }
}
