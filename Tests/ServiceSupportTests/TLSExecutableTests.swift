import Foundation
import TestTLS
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A service binary running until `stop()`, its standard error in a file.
final class LaunchedService: @unchecked Sendable {
    let process = Process()
    let logPath: String

    init(_ name: String, _ arguments: [String], environment: [String: String] = [:], logPath: String) throws {
        self.logPath = logPath
        FileManager.default.createFile(atPath: logPath, contents: nil)
        self.process.executableURL = try executable(name)
        self.process.arguments = arguments
        self.process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
        self.process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        self.process.standardOutput = FileHandle.nullDevice
        self.process.standardInput = FileHandle.nullDevice
        try self.process.run()
    }

    var log: String { (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM, then waits for the exit.
    func stop() {
        if self.process.isRunning { self.process.terminate() }
        self.process.waitUntilExit()
    }
}

/// Polls `condition` every 100 ms for at most `timeout` seconds.
func eventually(_ what: String, timeout: Double = 30, _ condition: () throws -> Bool) throws {
    let start = Date()
    while Date().timeIntervalSince(start) < timeout {
        if (try? condition()) == true { return }
        Thread.sleep(forTimeInterval: 0.1)
    }
    throw ToolFailure("timed out waiting until \(what)")
}

/// A port that was free a moment ago.
func freeTCPPort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw ToolFailure("socket() failed") }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
    }
    guard bound else { throw ToolFailure("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// One TLS connection held open by `openssl s_client`: requests written on its standard
/// input go over the same connection (HTTP keep-alive).
final class KeptConnection: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var received = ""
    private let lock = NSLock()

    init(address: String, caFile: String) throws {
        self.process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        self.process.arguments = ["s_client", "-connect", address, "-CAfile", caFile, "-verify_return_error", "-quiet"]
        self.process.standardInput = self.input
        self.process.standardOutput = self.output
        self.process.standardError = FileHandle.nullDevice
        self.output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            guard let self else { return }
            let data = handle.availableData
            self.lock.withLock { self.received += String(decoding: data, as: UTF8.self) }
        }
        try self.process.run()
    }

    /// Answers received so far (status lines).
    var answers: Int {
        self.lock.withLock { self.received.components(separatedBy: "HTTP/1.1 200").count - 1 }
    }

    func send(_ path: String) {
        self.input.fileHandleForWriting.write(Data("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
    }

    func close() {
        self.output.fileHandleForReading.readabilityHandler = nil
        // s_client does not stop on SIGTERM while it waits on its input.
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        self.process.waitUntilExit()
        try? self.input.fileHandleForWriting.close()
    }
}

/// `--tls-cert`/`--tls-key` and the Issuer URL rules, through the built binaries.
@Suite("TLS options of the executables", .serialized)
struct TLSExecutableTests {
    static let services: [(name: String, prefix: String)] = [("issuer", "ISSUER_"), ("resource-api", "RESOURCE_API_")]

    @Test func aKeyReadableByGroupOrOthersStopsBothServices() throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let issued = try ca.issue("server")
        chmod(issued.keyPath, 0o640)
        for (name, prefix) in Self.services {
            let fromFlag = try run(name, ["serve", "--port", "0", "--tls-cert", issued.certificatePath, "--tls-key", issued.keyPath])
            #expect(fromFlag.status == 2, "\(name): \(fromFlag.stderr)")
            #expect(
                fromFlag.lines.first
                    == "\(name): --tls-key: '\(issued.keyPath)' has mode 640: a TLS private key must not be readable by group or others; run chmod 600 \(issued.keyPath)",
                "\(name): \(fromFlag.stderr)"
            )
            let fromEnvironment = try run(
                name,
                ["serve", "--port", "0"],
                environment: [prefix + "TLS_CERT": issued.certificatePath, prefix + "TLS_KEY": issued.keyPath]
            )
            #expect(fromEnvironment.status == 2)
            #expect(
                fromEnvironment.lines.first?.hasPrefix("\(name): \(prefix)TLS_KEY: '\(issued.keyPath)' has mode 640") == true,
                "\(fromEnvironment.stderr)"
            )
        }
    }

    @Test func aCertificateWithoutItsKeyOrAFileThatIsNotACertificateStopsBothServices() throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let issued = try ca.issue("server")
        let notPEM = ca.directory + "/not.pem"
        try "hello\n".write(toFile: notPEM, atomically: true, encoding: .utf8)
        for (name, _) in Self.services {
            let alone = try run(name, ["serve", "--port", "0", "--tls-cert", issued.certificatePath])
            #expect(alone.status == 2, "\(name): \(alone.stderr)")
            #expect(alone.lines.first?.hasPrefix("\(name): --tls-key: missing") == true, "\(alone.stderr)")
            // The Issuer loads its certificate before it opens its store or keys.
            let bad = try run(name, ["serve", "--port", "0", "--tls-cert", notPEM, "--tls-key", issued.keyPath])
            #expect(bad.status == 2, "\(name): \(bad.stderr)")
            #expect(bad.lines.first?.hasPrefix("\(name): --tls-cert: '\(notPEM)' is not a PEM certificate chain") == true, "\(bad.stderr)")
        }
    }

    @Test func plainHTTPToARemoteIssuerNeedsAllowHTTPIssuer() throws {
        let refused = try run("resource-api", ["--issuer-url", "http://issuer.example:8081"])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.lines.first?.hasPrefix("resource-api: --issuer-url: 'http://issuer.example:8081' is plain http") == true, "\(refused.stderr)")
        #expect(refused.lines.first?.contains("--allow-http-issuer") == true, "\(refused.stderr)")
        let fromEnvironment = try run("resource-api", [], environment: ["RESOURCE_API_JWKS_URL": "http://10.1.2.3/jwks.json"])
        #expect(fromEnvironment.status == 2)
        #expect(
            fromEnvironment.lines.first?.hasPrefix("resource-api: RESOURCE_API_JWKS_URL: 'http://10.1.2.3/jwks.json'") == true,
            "\(fromEnvironment.stderr)"
        )
        // Loopback stays allowed without the flag: the local stack's default.
        // With the flag (or its variable) the service starts and answers.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("allow-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (arguments, environment) in [
            (["--allow-http-issuer"], [String: String]()), ([], ["RESOURCE_API_ALLOW_HTTP_ISSUER": "true"]),
        ] {
            let port = try freeTCPPort()
            let service = try LaunchedService(
                "resource-api",
                ["--issuer-url", "http://issuer.invalid:8081", "--port", String(port)] + arguments,
                environment: environment,
                logPath: directory + "/\(port).log"
            )
            defer { service.stop() }
            try eventually("resource-api answers /healthz") {
                try Tool.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/healthz"]).standardOutput == "200"
            }
            #expect(service.process.isRunning)
        }
    }

    @Test func rotationDrillTakesACAFile() throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let issued = try ca.issue("server")
        let missing = try run("rotation-drill", ["run", "--admin-password", "x", "--ca-file", ca.directory + "/none.pem"])
        #expect(missing.status == 2, "\(missing.stderr)")
        #expect(missing.lines.first?.hasPrefix("rotation-drill: --ca-file: '\(ca.directory)/none.pem' cannot be read") == true, "\(missing.stderr)")

        let port = try freeTCPPort()
        let service = try LaunchedService(
            "resource-api",
            Self.serveArguments("resource-api", port: port, directory: ca.directory, tls: issued),
            logPath: ca.directory + "/service.log"
        )
        defer { service.stop() }
        let url = "https://127.0.0.1:\(port)/healthz"
        try eventually("the drill's probe verifies the service against --ca-file") {
            try run("rotation-drill", ["healthcheck", "--ca-file", ca.certificatePath, url]).status == 0
        }
        // The system's CAs do not know the test CA: the probe fails, never downgrades.
        #expect(try run("rotation-drill", ["healthcheck", url]).status == 1)
    }

    /// The arguments that start `name` on `port` with `tls` in `directory`.
    static func serveArguments(_ name: String, port: Int, directory: String, tls: TestCertificateAuthority.Issued) -> [String] {
        var arguments = ["serve", "--port", String(port), "--tls-cert", tls.certificatePath, "--tls-key", tls.keyPath]
        if name == "issuer" {
            arguments += [
                "--keys-dir", directory + "/keys", "--data", directory + "/issuer.sqlite", "--issuer-url", "https://127.0.0.1:\(port)",
                "--bcrypt-cost", "4",
            ]
        }
        return arguments
    }

    @Test(arguments: ["issuer", "resource-api"])
    func aRenewedCertificateIsServedAfterSIGHUPWhileAKeptConnectionGoesOn(_ name: String) throws {
        let ca = try TestCertificateAuthority()
        defer { ca.remove() }
        let issued = try ca.issue("server", commonName: "first")
        let port = try freeTCPPort()
        let service = try LaunchedService(
            name,
            Self.serveArguments(name, port: port, directory: ca.directory, tls: issued),
            logPath: ca.directory + "/service.log"
        )
        defer { service.stop() }
        let address = "127.0.0.1:\(port)"
        func peer() throws -> String {
            let result = try Tool.run("openssl", ["s_client", "-connect", address, "-CAfile", ca.certificatePath, "-brief"], input: "")
            return result.standardError.split(separator: "\n").first { $0.hasPrefix("Peer certificate:") }.map(String.init) ?? result.standardError
        }
        try eventually("\(name) serves HTTPS") {
            try Tool.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca.certificatePath, "https://\(address)/healthz"])
                .standardOutput == "200"
        }
        #expect(try peer() == "Peer certificate: CN = first")

        let kept = try KeptConnection(address: address, caFile: ca.certificatePath)
        defer { kept.close() }
        kept.send("/healthz")
        try eventually("the kept connection's first answer") { kept.answers == 1 }

        // Renewal: a new key and certificate written over the same files, then SIGHUP.
        try ca.issue("server", commonName: "renewed")
        #expect(kill(service.process.processIdentifier, SIGHUP) == 0)
        try eventually("\(name) logs the reload") { service.log.contains("TLS certificate and key reloaded") }
        #expect(service.process.isRunning, "\(service.log)")

        kept.send("/healthz")
        try eventually("the kept connection's second answer, after the reload") { kept.answers == 2 }
        #expect(kept.process.isRunning, "the open connection was dropped")
        #expect(try peer() == "Peer certificate: CN = renewed")
        // No key material in the log.
        #expect(!service.log.contains("PRIVATE KEY"))
    }
}
