import Foundation

/// A certificate authority made at test time with the system's `openssl` in a temporary
/// directory, and server certificates it signs. Nothing is checked in: every run makes
/// its own keys (EC P-256, fast to make), written with mode 0600.
public final class TestCertificateAuthority: Sendable {
    /// The directory holding every file; removed by `remove()`.
    public let directory: String
    /// The CA's certificate: what a client passes as `--cacert` / `--issuer-ca-file`.
    public let certificatePath: String
    let keyPath: String

    /// A certificate and key for a server, as files.
    public struct Issued: Sendable {
        public var certificatePath: String
        public var keyPath: String
    }

    /// Makes a CA named `name` in a fresh directory (or in `directory`).
    public init(name: String = "test-ca", in directory: String? = nil) throws {
        let directory =
            directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.certificatePath = directory + "/\(name).pem"
        self.keyPath = directory + "/\(name)-key.pem"
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", self.keyPath, "-out", self.certificatePath, "-days", "2", "-subj", "/CN=\(name)",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        try Self.restrict(self.keyPath)
    }

    /// A server certificate for `hosts` (DNS names and IP addresses), signed by this CA,
    /// valid for `days` (negative: already expired), as `name.pem` and `name-key.pem`.
    @discardableResult
    public func issue(
        _ name: String,
        hosts: [String] = ["localhost", "127.0.0.1"],
        days: Int = 2,
        commonName: String? = nil
    ) throws
        -> Issued
    {
        let certificate = self.directory + "/\(name).pem"
        let key = self.directory + "/\(name)-key.pem"
        let request = self.directory + "/\(name).csr"
        let extensions = self.directory + "/\(name).ext"
        let names = hosts.map { host in
            host.allSatisfy({ $0.isNumber || $0 == "." || $0 == ":" }) ? "IP:\(host)" : "DNS:\(host)"
        }
        try ("subjectAltName=" + names.joined(separator: ",") + "\nextendedKeyUsage=serverAuth\n")
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        try Self.openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", request, "-subj", "/CN=\(commonName ?? name)",
        ])
        try Self.restrict(key)
        try Self.openssl([
            "x509", "-req", "-in", request, "-CA", self.certificatePath, "-CAkey", self.keyPath, "-CAcreateserial",
            "-days", String(days), "-extfile", extensions, "-out", certificate,
        ])
        return Issued(certificatePath: certificate, keyPath: key)
    }

    /// Removes the directory and everything in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// chmod 600.
    public static func restrict(_ path: String) throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// Runs `openssl` with `arguments`; throws with its standard error on failure.
    public static func openssl(_ arguments: [String]) throws {
        let result = try Tool.run("openssl", arguments)
        guard result.status == 0 else {
            throw ToolFailure("openssl \(arguments.prefix(2).joined(separator: " ")) failed (\(result.status)): \(result.standardError)")
        }
    }
}

/// A command-line tool of the system (`openssl`, `curl`), run to its end.
public enum Tool {
    public struct Result: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
    }

    /// Runs `/usr/bin/NAME arguments` with `input` on standard input; at most 30 s.
    public static func run(_ name: String, _ arguments: [String], input: String = "") throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/" + name)
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        let standardInput = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = standardInput
        try process.run()
        standardInput.fileHandleForWriting.write(Data(input.utf8))
        try? standardInput.fileHandleForWriting.close()
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
        defer { watchdog.cancel() }
        // Both pipes drained at once: a tool that fills one while the other is read would block.
        let errorData = Mutexed(Data())
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errorData.set(error.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData.get(), as: UTF8.self)
        )
    }
}

/// A value shared between threads behind a lock.
final class Mutexed<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ value: Value) { self.lock.withLock { self.value = value } }
    func get() -> Value { self.lock.withLock { self.value } }
}

/// A tool that failed, with what it said.
public struct ToolFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
