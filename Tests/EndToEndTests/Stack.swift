import ArgumentParser
import CurlClient
import Foundation
import Hummingbird
import IssuerCore
import Logging
import ResourceAPICore
import ServiceLifecycle
import SharedJWT
import Synchronization
import Testing

/// A server running in this process until `stop()`.
///
/// Stopped by graceful shutdown, never by cancellation: cancelling a NIO server task while a
/// connection is open, or being accepted, traps ("Deinited NIOAsyncWriter without calling
/// finish()", swift-nio#2637); it took a whole `make test` run down once.
final class RunningServer: Sendable {
    let port: Int
    private let task: Task<Void, any Error>
    private let group: ServiceGroup

    private init(port: Int, task: Task<Void, any Error>, group: ServiceGroup) {
        self.port = port
        self.task = task
        self.group = group
    }

    /// Starts `make` (which must pass its `onServerRunning` on) and waits for the port.
    static func start<Application: ApplicationProtocol>(
        _ make: @escaping @Sendable (@escaping @Sendable (Int) async -> Void) async throws -> Application
    ) async throws -> RunningServer {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application: Application
        do {
            application = try await make { port in continuation.yield(port) }
        } catch {
            continuation.finish()
            throw error
        }
        let group = ServiceGroup(configuration: .init(services: [application], logger: quietLogger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        for await port in ports {
            return RunningServer(port: port, task: task, group: group)
        }
        // The stream ended without a port: surface the start-up error.
        try await task.value
        throw E2EFailure("server stopped before it listened")
    }

    func stop() async {
        await self.group.triggerGracefulShutdown()
        _ = try? await self.task.value
    }
}

/// Polls `condition` every 50 ms; returns the seconds it took, or throws after `timeout`.
@discardableResult
func waitUntil(_ what: String, timeout: Double, _ condition: @Sendable () async throws -> Bool) async throws -> Double {
    let start = Date()
    while Date().timeIntervalSince(start) < timeout {
        if (try? await condition()) == true { return Date().timeIntervalSince(start) }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw E2EFailure("timed out after \(timeout) s waiting until \(what)")
}

struct E2EFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

let quietLogger: Logger = {
    var logger = Logger(label: "e2e")
    logger.logLevel = .critical
    return logger
}()

/// A real Issuer and a real ResourceAPI on loopback; the ResourceAPI learns the keys
/// only over HTTP, through libcurl.
final class Stack: Sendable {
    let directory: String
    let issuerConfiguration: IssuerConfiguration
    let resourceConfiguration: ResourceAPIConfiguration
    private let servers: Mutex<(issuer: RunningServer?, resource: RunningServer?)> = Mutex((nil, nil))
    let client = CurlClient.shared

    var issuerPort: Int { servers.withLock { $0.issuer?.port ?? issuerConfiguration.port } }
    var issuerURL: String { "http://127.0.0.1:\(issuerPort)" }
    var resourceURL: String { "http://127.0.0.1:\(servers.withLock { $0.resource?.port ?? 0 })" }

    /// `jwksMaxAge` is long on purpose in the revocation tests: they prove the
    /// revocation feed, not a JWKS refresh, is what bites.
    init(jwksMaxAge: Int64 = 60, revocationPoll: Duration = .milliseconds(300)) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        var issuer = IssuerConfiguration()
        issuer.fastPath = EdgeSwitch.fastPath
        issuer.port = try Self.freePort()
        issuer.issuerURL = "http://127.0.0.1:\(issuer.port)"
        issuer.keysDirectory = directory + "/keys"
        issuer.databasePath = directory + "/data/issuer.sqlite"
        issuer.bcryptCost = 4
        issuer.jwksMaxAge = jwksMaxAge
        issuer.keyReloadInterval = .milliseconds(200)
        issuerConfiguration = issuer

        var resource = ResourceAPIConfiguration()
        resource.fastPath = EdgeSwitch.fastPath
        resource.port = 0
        resource.issuerURL = issuer.issuerURL
        resource.revocationPoll = revocationPoll
        resource.jwksMinRefresh = .milliseconds(200)
        resource.retryMinimum = .milliseconds(100)
        resource.retryMaximum = .milliseconds(300)
        resourceConfiguration = resource

        try await Self.addUser(issuer, "user1", "password1", ["user"])
        try await Self.addUser(issuer, "admin", "admin-password", ["admin"])
    }

    func start() async throws {
        try await startIssuer()
        let resource = resourceConfiguration
        let server = try await RunningServer.start { onRunning in
            try await makeResourceAPIApplication(configuration: resource, logger: quietLogger, onServerRunning: onRunning)
        }
        servers.withLock { $0.resource = server }
        try await waitUntil("the ResourceAPI is ready", timeout: 10) { try await self.get(self.resourceURL + "/readyz").status == 200 }
    }

    func startIssuer() async throws {
        let configuration = issuerConfiguration
        let server = try await RunningServer.start { onRunning in
            try await makeIssuerApplication(configuration: configuration, logger: quietLogger, onServerRunning: onRunning)
        }
        servers.withLock { $0.issuer = server }
    }

    func stopIssuer() async {
        let server = servers.withLock { state in
            defer { state.issuer = nil }
            return state.issuer
        }
        await server?.stop()
    }

    func stop() async {
        let (issuer, resource) = servers.withLock { ($0.issuer, $0.resource) }
        await resource?.stop()
        await issuer?.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: HTTP

    func get(_ url: String, token: String? = nil) async throws -> CurlResponse {
        try await client.get(url, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    func postJSON(_ url: String, _ json: String, token: String? = nil) async throws -> CurlResponse {
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return try await client.post(url, headers: headers, body: Array(json.utf8))
    }

    /// Logs in and returns (access token, refresh token).
    func login(_ username: String, _ password: String) async throws -> (access: String, refresh: String) {
        let response = try await postJSON(issuerURL + "/login", #"{"username":"\#(username)","password":"\#(password)"}"#)
        guard response.status == 200, let body = try? JSONValue.parse(response.body),
            let access = body["access_token"]?.stringValue, let refresh = body["refresh_token"]?.stringValue
        else { throw E2EFailure("login failed with \(response.status): \(String(decoding: response.body, as: UTF8.self))") }
        return (access, refresh)
    }

    func greet(_ token: String) async throws -> CurlResponse {
        try await get(resourceURL + "/api/greet", token: token)
    }

    func readiness() async throws -> JSONValue {
        try JSONValue.parse(try await get(resourceURL + "/readyz").body)
    }

    // MARK: Helpers

    static func kid(of token: String) throws -> String {
        guard let kid = try JWS.parse(token).header.kid else { throw E2EFailure("token without kid") }
        return kid
    }

    static func addUser(_ configuration: IssuerConfiguration, _ name: String, _ password: String, _ roles: [String]) async throws {
        let store = try SQLiteIssuerStore(path: configuration.databasePath)
        let hash = try await PasswordHasher(cost: configuration.bcryptCost).hash(password)
        try await store.addUser(UserRecord(name: name, passwordHash: hash, roles: roles, createdAt: Date().timeIntervalSince1970))
    }

    /// Runs an `issuer` subcommand in this process, as an operator would from a shell.
    func issuerCLI(_ arguments: [String]) async throws {
        let common = ["--keys-dir", issuerConfiguration.keysDirectory, "--data", issuerConfiguration.databasePath]
        var command = try IssuerCommand.parseAsRoot(
            Array(arguments.prefix(while: { $0 != "--" })) + common + Array(arguments.drop(while: { $0 != "--" }))
        )
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    }

    /// A port that was free a moment ago (the Issuer must keep its port across a restart,
    /// and its URL is its `iss`).
    static func freePort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw E2EFailure("socket() failed") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw E2EFailure("bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
