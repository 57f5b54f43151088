import CurlClient
import Foundation
import IssuerCore
import Logging
import ResourceAPICore
import SharedJWT
import Synchronization
import Testing

/// Set by scripts/postgres-test.sh (a throwaway cluster); these tests are skipped without it.
private let postgresURL: String? = {
    let value = ProcessInfo.processInfo.environment["ISSUER_TEST_POSTGRES_URL"]
    return (value?.isEmpty ?? true) ? nil : value
}()

/// Two Issuers (replicas A and B) sharing keys/ and one PostgreSQL schema, and a
/// ResourceAPI that knows only A, as it would know only the balancer.
final class ReplicaStack: Sendable {
    let directory: String
    let storeURL: String
    let configurations: [IssuerConfiguration]
    let resourceConfiguration: ResourceAPIConfiguration
    private let servers = Mutex<[String: RunningServer]>([:])
    let client = CurlClient.shared
    private let admin: PostgresIssuerStore
    private let adminTask: Task<Void, any Error>

    init(revocationPoll: Duration = .milliseconds(300)) async throws {
        guard let base = postgresURL else { throw E2EFailure("no ISSUER_TEST_POSTGRES_URL") }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let schema = "r_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        storeURL = base + (base.contains("?") ? "&" : "?") + "schema=" + schema

        let publicPort = try Stack.freePort()
        var configurations: [IssuerConfiguration] = []
        for replica in 0..<2 {
            var issuer = IssuerConfiguration()
            issuer.port = replica == 0 ? publicPort : try Stack.freePort()
            // One public URL for both, as behind a balancer: the `iss` of every token.
            issuer.issuerURL = "http://127.0.0.1:\(publicPort)"
            issuer.keysDirectory = directory + "/keys"
            issuer.storeURL = storeURL
            issuer.bcryptCost = 4
            issuer.jwksMaxAge = 1
            // keyReloadInterval stays at its default (5 s): the contract's bound is what is tested.
            configurations.append(issuer)
        }
        self.configurations = configurations

        var resource = ResourceAPIConfiguration()
        resource.port = 0
        resource.issuerURL = configurations[0].issuerURL
        resource.revocationPoll = revocationPoll
        resource.jwksMinRefresh = .milliseconds(200)
        resource.retryMinimum = .milliseconds(100)
        resource.retryMaximum = .milliseconds(300)
        resourceConfiguration = resource

        let location = try PostgresLocation(url: storeURL)
        try await PostgresIssuerStore.migrate(location: location, logger: quietLogger)
        let admin = PostgresIssuerStore(location: location, logger: quietLogger)
        self.admin = admin
        adminTask = Task { try await admin.run() }
        for (name, password, roles) in [("user1", "password1", ["user"]), ("admin", "admin-password", ["admin"])] {
            let hash = try await PasswordHasher(cost: 4).hash(password)
            try await admin.addUser(UserRecord(name: name, passwordHash: hash, roles: roles, createdAt: Date().timeIntervalSince1970))
        }
    }

    func url(_ replica: Int) -> String { "http://127.0.0.1:\(configurations[replica].port)" }
    var resourceURL: String { "http://127.0.0.1:\(servers.withLock { $0["resource"]?.port ?? 0 })" }

    func startIssuer(_ replica: Int) async throws {
        let configuration = configurations[replica]
        let server = try await RunningServer.start { onRunning in
            try await makeIssuerApplication(configuration: configuration, logger: quietLogger, onServerRunning: onRunning)
        }
        servers.withLock { $0["issuer\(replica)"] = server }
    }

    func stopIssuer(_ replica: Int) async {
        let server = servers.withLock { $0.removeValue(forKey: "issuer\(replica)") }
        await server?.stop()
    }

    func start() async throws {
        // A first: it creates the keys; B then reads the same keys/.
        try await startIssuer(0)
        try await startIssuer(1)
        let resource = resourceConfiguration
        let server = try await RunningServer.start { onRunning in
            try await makeResourceAPIApplication(configuration: resource, logger: quietLogger, onServerRunning: onRunning)
        }
        servers.withLock { $0["resource"] = server }
        try await waitUntil("the ResourceAPI is ready", timeout: 10) { try await self.client.get(self.resourceURL + "/readyz").status == 200 }
    }

    func stop() async {
        let all = servers.withLock { servers in
            defer { servers = [:] }
            return Array(servers.values)
        }
        for server in all { await server.stop() }
        adminTask.cancel()
        _ = try? await adminTask.value
        try? FileManager.default.removeItem(atPath: directory)
    }

    func postJSON(_ url: String, _ json: String, token: String? = nil) async throws -> CurlResponse {
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return try await client.post(url, headers: headers, body: Array(json.utf8))
    }

    func tokens(_ response: CurlResponse) throws -> (access: String, refresh: String) {
        guard response.status == 200, let body = try? JSONValue.parse(response.body),
            let access = body["access_token"]?.stringValue, let refresh = body["refresh_token"]?.stringValue
        else { throw E2EFailure("expected tokens, got \(response.status): \(String(decoding: response.body, as: UTF8.self))") }
        return (access, refresh)
    }

    func login(on replica: Int, _ username: String = "user1", _ password: String = "password1") async throws -> (access: String, refresh: String) {
        try tokens(try await postJSON(url(replica) + "/login", #"{"username":"\#(username)","password":"\#(password)"}"#))
    }

    func refresh(on replica: Int, _ token: String) async throws -> CurlResponse {
        try await postJSON(url(replica) + "/refresh", #"{"refresh_token":"\#(token)"}"#)
    }

    func greet(_ token: String) async throws -> CurlResponse {
        try await client.get(resourceURL + "/api/greet", headers: [("Authorization", "Bearer \(token)")])
    }

    @discardableResult
    func waitUntil(_ what: String, timeout: Double, _ condition: @Sendable () async throws -> Bool) async throws -> Double {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            if (try? await condition()) == true { return Date().timeIntervalSince(start) }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw E2EFailure("timed out after \(timeout) s waiting until \(what)")
    }
}

@Suite("Issuer replicas on PostgreSQL", .serialized, .enabled(if: postgresURL != nil, "ISSUER_TEST_POSTGRES_URL is unset: run scripts/postgres-test.sh"))
struct PostgresReplicaTests {
    @Test func refreshOnBThenReplayOnARevokesTheSession() async throws {
        let stack = try await ReplicaStack()
        try await stack.start()
        defer { Task { await stack.stop() } }

        let first = try await stack.login(on: 0)
        let second = try stack.tokens(try await stack.refresh(on: 1, first.refresh))
        #expect(try await stack.greet(second.access).status == 200)
        // The rotated token again, on the other replica: a replay.
        #expect(try await stack.refresh(on: 0, first.refresh).status == 401)
        // The session is gone everywhere: B's fresh refresh token is dead too.
        #expect(try await stack.refresh(on: 1, second.refresh).status == 401)
        #expect(try await stack.refresh(on: 0, second.refresh).status == 401)
    }

    @Test func logoutOnBIsRefusedAtTheResourceAPIWithinThePollInterval() async throws {
        let stack = try await ReplicaStack(revocationPoll: .milliseconds(300))
        try await stack.start()
        defer { Task { await stack.stop() } }

        // The ResourceAPI polls A's feed; the logout happens on B.
        let tokens = try await stack.login(on: 0)
        #expect(try await stack.greet(tokens.access).status == 200)
        let logout = try await stack.postJSON(stack.url(1) + "/logout", #"{"refresh_token":"\#(tokens.refresh)"}"#, token: tokens.access)
        #expect(logout.status == 204)
        try await stack.waitUntil("the logged-out token is refused", timeout: 0.3 + 1.0) {
            try await stack.greet(tokens.access).status == 401
        }
        #expect(try await stack.refresh(on: 0, tokens.refresh).status == 401)
    }

    @Test func rotationOnAMakesBSignWithTheNewKeyWithinFiveSeconds() async throws {
        let stack = try await ReplicaStack()
        try await stack.start()
        defer { Task { await stack.stop() } }

        let before = try await stack.login(on: 1)
        let oldKid = try Stack.kid(of: before.access)
        let admin = try await stack.login(on: 0, "admin", "admin-password")
        // jwks-max-age is 1 s: wait until the next key may be promoted, then rotate on A.
        var rotated = false
        for _ in 0..<30 where !rotated {
            let response = try await stack.client.post(
                stack.url(0) + "/admin/keys/rotate", headers: [("Authorization", "Bearer \(admin.access)")], body: []
            )
            rotated = response.status == 200
            if !rotated { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(rotated)
        let onA = try Stack.kid(of: try await stack.login(on: 0).access)
        #expect(onA != oldKid)
        let seconds = try await stack.waitUntil("B signs with the new key", timeout: 5.0) {
            try Stack.kid(of: try await stack.login(on: 1).access) == onA
        }
        #expect(seconds <= 5.0)
        // And the ResourceAPI accepts B's new tokens.
        let fresh = try await stack.login(on: 1)
        try await stack.waitUntil("the new key is accepted", timeout: 3) { try await stack.greet(fresh.access).status == 200 }
    }

    /// Clients refresh in a loop against both replicas; A stops mid-burst. Every chain keeps
    /// going on B and no refresh token is lost (each chain's last token still works).
    @Test(.disabled("hangs when replica A stops mid-burst: under investigation (issue 9)"))
    func stoppingOneIssuerMidBurstLosesNothing() async throws {
        let stack = try await ReplicaStack()
        try await stack.start()
        defer { Task { await stack.stop() } }

        let chains = 4, steps = 30
        var starts: [String] = []
        for _ in 0..<chains { starts.append(try await stack.login(on: 1).refresh) }
        let progress = Progress()
        let results = try await withThrowingTaskGroup(of: (Int, String, Int).self) { group in
            for (index, start) in starts.enumerated() {
                group.addTask {
                    var token = start
                    var failovers = 0
                    for step in 0..<steps {
                        var replica = (index + step) % 2
                        while true {
                            do {
                                let response = try await stack.refresh(on: replica, token)
                                token = try stack.tokens(response).refresh
                                break
                            } catch let error as CurlError {
                                // Connection refused: the request never reached A; B takes it.
                                _ = error
                                guard replica == 0 else { throw E2EFailure("replica B failed: \(error)") }
                                replica = 1
                                failovers += 1
                            }
                        }
                        progress.increment()
                    }
                    return (index, token, failovers)
                }
            }
            // Stop A once the burst is under way.
            group.addTask {
                while progress.value < chains * steps / 3 { try await Task.sleep(for: .milliseconds(5)) }
                await stack.stopIssuer(0)
                return (-1, "", 0)
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let finished = results.filter { $0.0 >= 0 }
        #expect(finished.count == chains)
        #expect(progress.value == chains * steps)
        #expect(finished.reduce(0) { $0 + $1.2 } > 0, "no request had to fail over: A stopped too late to test anything")
        for (_, token, _) in finished {
            #expect(try await stack.refresh(on: 1, token).status == 200)
        }
    }
}

/// Requests done so far, across the burst's tasks.
private final class Progress: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}
