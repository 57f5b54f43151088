import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SharedJWT
import Synchronization
import Testing

@testable import IssuerCore

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let value: Mutex<Double>
    init(_ start: Double = 1_800_000_000) { value = Mutex(start) }
    var now: Double { value.withLock { $0 } }
    func advance(_ seconds: Double) { value.withLock { $0 += seconds } }
}

/// A temporary directory with keys/ and data/ inside, removed at deinit.
final class TempDirectory: Sendable {
    let path: String
    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("issuer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    var keys: String { path + "/keys" }
    var database: String { path + "/data/issuer.sqlite" }
}

/// Fast settings: bcrypt cost 4, a manual clock, short TTLs.
func testConfiguration(_ directory: TempDirectory, clock: ManualClock) -> IssuerConfiguration {
    var configuration = IssuerConfiguration()
    configuration.fastPath = EdgeSwitch.fastPath
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.keysDirectory = directory.keys
    configuration.databasePath = directory.database
    configuration.bcryptCost = 4
    configuration.accessTTL = 300
    configuration.refreshTTL = 3600
    configuration.jwksMaxAge = 60
    configuration.clock = { clock.now }
    return configuration
}

let testLogger: Logger = {
    var logger = Logger(label: "issuer-tests")
    logger.logLevel = ProcessInfo.processInfo.environment["ISSUER_TEST_LOG"] == "1" ? .debug : .critical
    return logger
}()

func addUser(_ configuration: IssuerConfiguration, _ name: String, password: String, roles: [String]) async throws {
    let store = try SQLiteIssuerStore(path: configuration.databasePath)
    let hash = try await PasswordHasher(cost: configuration.bcryptCost).hash(password)
    try await store.addUser(UserRecord(name: name, passwordHash: hash, roles: roles, createdAt: configuration.clock()))
}

func addClient(_ configuration: IssuerConfiguration, _ id: String, secret: String, scopes: [String]) async throws {
    let store = try SQLiteIssuerStore(path: configuration.databasePath)
    let hash = try await PasswordHasher(cost: configuration.bcryptCost).hash(secret)
    try await store.addClient(ClientRecord(id: id, secretHash: hash, scopes: scopes, createdAt: configuration.clock()))
}

// MARK: Requests

extension TestClientProtocol {
    func postJSON(_ uri: String, _ json: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var fields = headers
        fields[.contentType] = "application/json"
        return try await execute(uri: uri, method: .post, headers: fields, body: ByteBuffer(string: json))
    }

    func postForm(_ uri: String, _ form: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var fields = headers
        fields[.contentType] = "application/x-www-form-urlencoded"
        return try await execute(uri: uri, method: .post, headers: fields, body: ByteBuffer(string: form))
    }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }

    /// Logs in and returns the token response; fails the test on anything but 200.
    func login(_ username: String, _ password: String) async throws -> [String: Any] {
        let response = try await postJSON("/login", #"{"username":"\#(username)","password":"\#(password)"}"#)
        #expect(response.status == .ok)
        return try response.jsonObject()
    }
}

extension TestResponse {
    func jsonObject() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
        guard let dictionary = object as? [String: Any] else { throw TestFailure("body is not a JSON object") }
        return dictionary
    }

    var text: String { String(buffer: body) }

    /// The contract's error body; returns the `error` member.
    func oauthError() throws -> String {
        let object = try jsonObject()
        #expect(object["error_description"] is String)
        #expect(headers[.contentType]?.hasPrefix("application/json") == true)
        return object["error"] as? String ?? "<none>"
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

/// Decodes a compact JWS's header and payload as JSON objects (no verification).
func decodeJWT(_ token: String) throws -> (header: [String: Any], payload: [String: Any]) {
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3 else { throw TestFailure("not a compact JWS") }
    func object(_ part: Substring) throws -> [String: Any] {
        let bytes = try Base64URL.decode(part)
        guard let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw TestFailure("segment is not a JSON object")
        }
        return object
    }
    return (try object(parts[0]), try object(parts[1]))
}

/// A string member of a JSON object, or a test failure naming it.
func string(_ object: [String: Any], _ key: String) throws -> String {
    guard let value = object[key] as? String else { throw TestFailure("missing string member \(key)") }
    return value
}
