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
}

@Suite(
    "Issuer replicas on PostgreSQL",
    .serialized,
    .enabled(if: postgresURL != nil, "ISSUER_TEST_POSTGRES_URL is unset: run scripts/postgres-test.sh")
)
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
        try await waitUntil("the logged-out token is refused", timeout: 0.3 + 1.0) {
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
                stack.url(0) + "/admin/keys/rotate",
                headers: [("Authorization", "Bearer \(admin.access)")],
                body: []
            )
            rotated = response.status == 200
            if !rotated { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(rotated)
        let onA = try Stack.kid(of: try await stack.login(on: 0).access)
        #expect(onA != oldKid)
        let seconds = try await waitUntil("B signs with the new key", timeout: 5.0) {
            try Stack.kid(of: try await stack.login(on: 1).access) == onA
        }
        #expect(seconds <= 5.0)
        // And the ResourceAPI accepts B's new tokens.
        let fresh = try await stack.login(on: 1)
        try await waitUntil("the new key is accepted", timeout: 3) { try await stack.greet(fresh.access).status == 200 }
    }

    /// Replica A is a real `issuer` process, killed with SIGKILL mid-burst while clients
    /// refresh in a loop across A and B (in-process). Every chain goes on at B. What A
    /// committed before dying is not lost: a logout done on A is on B's feed, and every
    /// token A handed out still refreshes on B. A request cut by the kill after A committed
    /// its rotation (the client never saw the answer) ends that session by reuse detection,
    /// as it must; such chains are counted, never more than one per chain.
    @Test func killingOneIssuerMidBurstLosesNothing() async throws {
        let stack = try await ReplicaStack()
        let a = try IssuerProcess(configuration: stack.configurations[0], storeURL: stack.storeURL)
        defer { a.kill() }
        try await waitUntil("replica A (a process) is ready", timeout: 20) {
            try await stack.client.get(stack.url(0) + "/readyz").status == 200
        }
        try await stack.startIssuer(1)
        defer { Task { await stack.stop() } }

        // Committed on A before the kill: a logout.
        let loggedOut = try await stack.login(on: 0)
        let logout = try await stack.postJSON(stack.url(0) + "/logout", "{}", token: loggedOut.access)
        #expect(logout.status == 204)

        let chains = 4
        let steps = 40
        var starts: [String] = []
        for _ in 0..<chains { starts.append(try await stack.login(on: 0).refresh) }
        let progress = Progress()
        let results = try await withThrowingTaskGroup(of: ChainResult.self) { group in
            for (index, start) in starts.enumerated() {
                group.addTask {
                    var result = ChainResult(token: start)
                    for step in 0..<steps {
                        var replica = (index + step) % 2
                        while true {
                            do {
                                let response = try await stack.refresh(on: replica, result.token)
                                if response.status == 401, result.failedOver > 0, replica == 1 {
                                    result.cut = true  // A rotated it, then died before answering.
                                    return result
                                }
                                result.token = try stack.tokens(response).refresh
                                break
                            } catch let error as CurlError {
                                guard replica == 0 else { throw E2EFailure("replica B failed: \(error)") }
                                replica = 1
                                result.failedOver += 1
                            }
                        }
                        result.steps += 1
                        progress.increment()
                    }
                    return result
                }
            }
            group.addTask {
                while progress.value < chains * steps / 3 { try await Task.sleep(for: .milliseconds(2)) }
                a.kill()
                return ChainResult(token: "", steps: -1)
            }
            return try await group.reduce(into: []) { $0.append($1) }.filter { $0.steps >= 0 }
        }
        #expect(results.count == chains)
        #expect(results.reduce(0) { $0 + $1.failedOver } > 0, "no request had to fail over: A died too late to test anything")
        let cut = results.filter(\.cut).count
        #expect(cut < chains, "every chain was cut: \(results)")
        for result in results where !result.cut {
            #expect(result.steps == steps)
            #expect(try await stack.refresh(on: 1, result.token).status == 200)
        }
        // A's logout survived A: B's feed has the jti.
        let jti = try JWS.parse(loggedOut.access).claims.jwtID
        let feed = try JSONValue.parse(try await stack.client.get(stack.url(1) + "/revocations").body)
        let jtis = feed["revoked"]?.arrayValue?.compactMap { $0["jti"]?.stringValue } ?? []
        #expect(jti != nil && jtis.contains(jti ?? ""), "\(jtis)")
    }
}

struct ChainResult: Sendable, CustomStringConvertible {
    var token: String
    var steps = 0
    var failedOver = 0
    var cut = false
    var description: String { "steps \(steps), failovers \(failedOver), cut \(cut)" }
}

/// `issuer serve` as a child process (the binary beside the test bundle), killed with SIGKILL.
final class IssuerProcess: Sendable {
    private let process: Process

    init(configuration: IssuerConfiguration, storeURL: String) throws {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        guard
            let binary = [directory, directory.deletingLastPathComponent()].map({ $0.appendingPathComponent("issuer") })
                .first(where: { FileManager.default.isExecutableFile(atPath: $0.path) })
        else { throw E2EFailure("issuer binary not found next to \(CommandLine.arguments[0]); build it first") }
        let process = Process()
        process.executableURL = binary
        process.arguments = [
            "serve", "--host", "127.0.0.1", "--port", String(configuration.port), "--issuer-url", configuration.issuerURL,
            "--keys-dir", configuration.keysDirectory, "--store", storeURL, "--jwks-max-age", String(configuration.jwksMaxAge),
            "--bcrypt-cost", String(configuration.bcryptCost), "--log-level", "error",
        ]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ISSUER_") }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Requests done so far, across the burst's tasks.
private final class Progress: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}
