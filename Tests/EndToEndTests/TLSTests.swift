import CurlClient
import Foundation
import IssuerCore
import Logging
import ResourceAPICore
import ServiceSupport
import SharedJWT
import Synchronization
import TestTLS
import Testing

/// Log lines kept in memory, to assert what an operator would read.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { self.lines.withLock { $0 } }

    func contains(_ text: String) -> Bool {
        self.lines.withLock { $0.contains { $0.contains(text) } }
    }

    var logger: Logger {
        var logger = Logger(label: "tls-test") { _ in CapturingLogHandler(log: self) }
        logger.logLevel = .info
        return logger
    }

    fileprivate func append(_ line: String) {
        self.lines.withLock { $0.append(line) }
    }
}

private struct CapturingLogHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        self.log.append("\(event.level) \(event.message) \(rendered)")
    }
}

/// Both services over HTTPS with a CA made for the test, the keys fetched over HTTPS.
@Suite("TLS end to end", .serialized)
struct TLSTests {
    /// An Issuer on `https://127.0.0.1:PORT` with `certificate`, its data in `directory`.
    static func issuerConfiguration(directory: String, certificate: TestCertificateAuthority.Issued?) throws -> IssuerConfiguration {
        var issuer = IssuerConfiguration()
        issuer.port = try Stack.freePort()
        issuer.issuerURL = (certificate == nil ? "http" : "https") + "://127.0.0.1:\(issuer.port)"
        issuer.keysDirectory = directory + "/keys"
        issuer.databasePath = directory + "/data/issuer.sqlite"
        issuer.bcryptCost = 4
        issuer.keyReloadInterval = .milliseconds(200)
        issuer.tls = certificate.map { TLSFiles(certificatePath: $0.certificatePath, keyPath: $0.keyPath) }
        return issuer
    }

    static func resourceConfiguration(issuerURL: String, caFile: String?, certificate: TestCertificateAuthority.Issued?) -> ResourceAPIConfiguration {
        var resource = ResourceAPIConfiguration()
        resource.port = 0
        resource.issuerURL = issuerURL
        resource.issuerCAFile = caFile
        resource.jwksMinRefresh = .milliseconds(200)
        resource.retryMinimum = .milliseconds(100)
        resource.retryMaximum = .milliseconds(300)
        resource.revocationPoll = .milliseconds(300)
        resource.tls = certificate.map { TLSFiles(certificatePath: $0.certificatePath, keyPath: $0.keyPath) }
        return resource
    }

    static func startIssuer(_ configuration: IssuerConfiguration, logger: Logger = quietLogger) async throws -> RunningServer {
        try await RunningServer.start { onRunning in
            try await makeIssuerApplication(configuration: configuration, logger: logger, onServerRunning: onRunning)
        }
    }

    static func startResourceAPI(_ configuration: ResourceAPIConfiguration, logger: Logger) async throws -> RunningServer {
        try await RunningServer.start { onRunning in
            try await makeResourceAPIApplication(configuration: configuration, logger: logger, onServerRunning: onRunning)
        }
    }

    static func get(_ url: String, caFile: String?, token: String? = nil) async throws -> CurlResponse {
        try await CurlClient.shared.get(
            url,
            headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [],
            options: CurlRequestOptions(caFile: caFile)
        )
    }

    static func postJSON(_ url: String, _ json: String, caFile: String?) async throws -> CurlResponse {
        try await CurlClient.shared.post(
            url,
            headers: [("Content-Type", "application/json")],
            body: Array(json.utf8),
            options: CurlRequestOptions(caFile: caFile)
        )
    }

    static func tokens(_ response: CurlResponse) throws -> (access: String, refresh: String) {
        guard response.status == 200, let body = try? JSONValue.parse(response.body),
            let access = body["access_token"]?.stringValue, let refresh = body["refresh_token"]?.stringValue
        else { throw E2EFailure("no tokens (\(response.status)): \(String(decoding: response.body, as: UTF8.self))") }
        return (access, refresh)
    }

    @Test func loginRefreshAndGreetOverHTTPSWithKeysFetchedOverHTTPS() async throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let issuerCertificate = try ca.issue("issuer")
        let resourceCertificate = try ca.issue("resource")
        let issuerConfiguration = try Self.issuerConfiguration(directory: ca.directory, certificate: issuerCertificate)
        try await Stack.addUser(issuerConfiguration, "user1", "password1", ["user"])
        let issuer = try await Self.startIssuer(issuerConfiguration)
        defer { Task { await issuer.stop() } }
        let log = CapturedLog()
        let resource = try await Self.startResourceAPI(
            Self.resourceConfiguration(issuerURL: issuerConfiguration.issuerURL, caFile: ca.certificatePath, certificate: resourceCertificate),
            logger: log.logger
        )
        defer { Task { await resource.stop() } }
        let issuerURL = issuerConfiguration.issuerURL
        let resourceURL = "https://127.0.0.1:\(resource.port)"

        try await waitUntil("the ResourceAPI is ready over HTTPS", timeout: 15) {
            try await Self.get(resourceURL + "/readyz", caFile: ca.certificatePath).status == 200
        }
        let readiness = try JSONValue.parse(try await Self.get(resourceURL + "/readyz", caFile: ca.certificatePath).body)
        #expect(readiness["jwks_url"]?.stringValue?.hasPrefix("https://127.0.0.1:") == true, "\(readiness)")
        #expect(readiness["issuer"]?.stringValue == issuerURL)

        let login = try await Self.postJSON(issuerURL + "/login", #"{"username":"user1","password":"password1"}"#, caFile: ca.certificatePath)
        let tokens = try Self.tokens(login)
        let greet = try await Self.get(resourceURL + "/api/greet", caFile: ca.certificatePath, token: tokens.access)
        #expect(greet.status == 200, "\(String(decoding: greet.body, as: UTF8.self))")
        // The same hot token again: the fast path's answer, over TLS.
        let again = try await Self.get(resourceURL + "/api/greet", caFile: ca.certificatePath, token: tokens.access)
        #expect(again.status == 200)

        let refreshed = try Self.tokens(
            try await Self.postJSON(issuerURL + "/refresh", #"{"refresh_token":"\#(tokens.refresh)"}"#, caFile: ca.certificatePath)
        )
        #expect(refreshed.refresh != tokens.refresh)
        let greetRefreshed = try await Self.get(resourceURL + "/api/greet", caFile: ca.certificatePath, token: refreshed.access)
        #expect(greetRefreshed.status == 200)
        #expect(log.contains("TLS verification failed") == false)

        // A client without the test CA (the system's CAs only) refuses both services.
        await #expect(throws: CurlError.self) { _ = try await Self.get(resourceURL + "/healthz", caFile: nil) }
        await #expect(throws: CurlError.self) { _ = try await Self.get(issuerURL + "/healthz", caFile: nil) }
        await resource.stop()
        await issuer.stop()
    }

    /// The Issuer's certificate as the ResourceAPI (trusting `trusted` only) sees it, and
    /// the reason curl gives.
    static let refusals: [(name: String, reason: String)] = [
        ("unknown CA", "unable to get local issuer certificate"),
        ("wrong host name", "subject name"),
        ("expired", "certificate has expired"),
    ]

    @Test(arguments: TLSTests.refusals.map(\.name))
    func anIssuerCertificateThatDoesNotVerifyIsAFailedFetchNeverAGreet(_ name: String) async throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let other = try TestCertificateAuthority(name: "other-ca", in: ca.directory + "/other")
        let certificate: TestCertificateAuthority.Issued
        switch name {
        case "unknown CA": certificate = try other.issue("issuer")
        case "wrong host name": certificate = try ca.issue("issuer", hosts: ["issuer.example"])
        default: certificate = try ca.issue("issuer", days: -1)
        }
        let reason = try #require(Self.refusals.first { $0.name == name }).reason

        // A plain-HTTP twin over the same keys and store hands out a real token.
        let plainConfiguration = try Self.issuerConfiguration(directory: ca.directory, certificate: nil)
        try await Stack.addUser(plainConfiguration, "user1", "password1", ["user"])
        let plain = try await Self.startIssuer(plainConfiguration)
        defer { Task { await plain.stop() } }
        var tlsConfiguration = try Self.issuerConfiguration(directory: ca.directory, certificate: certificate)
        tlsConfiguration.keysDirectory = plainConfiguration.keysDirectory
        tlsConfiguration.databasePath = plainConfiguration.databasePath
        let issuer = try await Self.startIssuer(tlsConfiguration)
        defer { Task { await issuer.stop() } }

        let log = CapturedLog()
        let resource = try await Self.startResourceAPI(
            Self.resourceConfiguration(issuerURL: tlsConfiguration.issuerURL, caFile: ca.certificatePath, certificate: nil),
            logger: log.logger
        )
        defer { Task { await resource.stop() } }
        let resourceURL = "http://127.0.0.1:\(resource.port)"

        try await waitUntil("the refusal is logged with curl's reason", timeout: 15) {
            log.contains("TLS verification failed") && log.contains(reason)
        }
        #expect(try await Self.get(resourceURL + "/readyz", caFile: nil).status == 503)
        let tokens = try Self.tokens(
            try await Self.postJSON("http://127.0.0.1:\(plainConfiguration.port)/login", #"{"username":"user1","password":"password1"}"#, caFile: nil)
        )
        let greet = try await Self.get(resourceURL + "/api/greet", caFile: nil, token: tokens.access)
        #expect(greet.status != 200, "\(String(decoding: greet.body, as: UTF8.self))")
        #expect(try await Self.get(resourceURL + "/readyz", caFile: nil).status == 503)
        // No line carries key material.
        #expect(!log.all.contains { $0.contains("PRIVATE KEY") })
        await resource.stop()
        await issuer.stop()
        await plain.stop()
    }

    @Test func tlsOnePointOneIsRefusedOnePointTwoAndOnePointThreeServed() async throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let certificate = try ca.issue("resource")
        let resource = try await Self.startResourceAPI(
            Self.resourceConfiguration(issuerURL: "http://127.0.0.1:9", caFile: nil, certificate: certificate),
            logger: quietLogger
        )
        defer { Task { await resource.stop() } }
        let address = "127.0.0.1:\(resource.port)"
        func handshake(_ version: String) throws -> Tool.Result {
            // SECLEVEL=0 lets this client offer TLS 1.1: a refusal is the server's.
            try Tool.run(
                "openssl",
                ["s_client", "-connect", address, "-CAfile", ca.certificatePath, version, "-cipher", "DEFAULT@SECLEVEL=0", "-brief"],
                input: ""
            )
        }
        let old = try handshake("-tls1_1")
        #expect(old.status != 0, "\(old.standardOutput)\(old.standardError)")
        #expect(!old.standardError.contains("no protocols available"), "the client refused by itself: \(old.standardError)")
        for (version, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
            let result = try handshake(version)
            #expect(result.status == 0, "\(version): \(result.standardError)")
            #expect((result.standardOutput + result.standardError).contains("Protocol version: \(name)"), "\(result.standardError)")
        }
        await resource.stop()
    }
}
