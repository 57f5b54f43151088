import Foundation
import Synchronization
import Testing

/// A built executable of this package, next to the test bundle (`swift build --build-tests`).
func executable(_ name: String) throws -> URL {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [directory, directory.deletingLastPathComponent()] {
        let url = candidate.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    throw ExecutableNotFound(name: name)
}

struct ExecutableNotFound: Error, CustomStringConvertible {
    var name: String
    var description: String { "\(self.name) not found next to \(CommandLine.arguments[0]); run swift build first" }
}

struct Outcome {
    var status: Int32
    var stderr: String
    var lines: [String] { self.stderr.split(separator: "\n").map(String.init) }
}

/// Runs `name` with `arguments` and only `environment` (plus PATH); at most 30 s.
func run(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
    let process = Process()
    process.executableURL = try executable(name)
    process.arguments = arguments
    process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
    let error = Pipe()
    process.standardError = error
    process.standardOutput = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
    defer { watchdog.cancel() }
    let data = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Outcome(status: process.terminationStatus, stderr: String(decoding: data, as: UTF8.self))
}

@Suite("Executables' configuration errors")
struct ExecutableTests {
    /// The executables, their environment prefix, and arguments that get as far as the options.
    static let executables: [(name: String, prefix: String, base: [String])] = [
        ("issuer", "ISSUER_", ["serve"]),
        ("resource-api", "RESOURCE_API_", ["serve"]),
        ("rotation-drill", "DRILL_", ["run", "--admin-password", "x"]),
    ]

    @Test(arguments: [
        ("--log-level", "loud", "'loud' is not one of trace, debug, info, notice, warning, error, critical"),
        ("--log-format", "xml", "'xml' is not one of text, json"),
    ])
    func sameWordingAndStatusInAllThree(option: String, value: String, problem: String) throws {
        for (name, prefix, base) in Self.executables {
            let fromFlag = try run(name, base + [option, value])
            #expect(fromFlag.status == 2, "\(name): \(fromFlag.stderr)")
            #expect(fromFlag.lines == ["\(name): \(option): \(problem)", "Run '\(name) --help' for the options."], "\(name)")
            let variable = prefix + option.dropFirst(2).uppercased().replacingOccurrences(of: "-", with: "_")
            let fromEnvironment = try run(name, base, environment: [variable: value])
            #expect(fromEnvironment.status == 2, "\(name): \(fromEnvironment.stderr)")
            #expect(fromEnvironment.lines.first == "\(name): \(variable): \(problem)", "\(name)")
        }
    }

    @Test(
        arguments: [
            ("issuer", ["serve", "--port", "70000"], "issuer: --port: '70000' is not a port number (0-65535)"),
            ("resource-api", ["--port", "70000"], "resource-api: --port: '70000' is not a port number (0-65535)"),
            ("issuer", ["--host", "a b"], "issuer: --host: 'a b' is not a host name or address"),
            ("resource-api", ["--host", "a b"], "resource-api: --host: 'a b' is not a host name or address"),
            ("issuer", ["--access-ttl", "5x"], "issuer: --access-ttl: '5x' is not a positive duration (e.g. 300, 300s, 5m, 1h, 30d)"),
            (
                "resource-api", ["--revocation-poll", "5x"],
                "resource-api: --revocation-poll: '5x' is not a positive duration (e.g. 250ms, 300, 300s, 5m, 1h, 30d)"
            ),
            (
                "rotation-drill", ["--admin-password", "x", "--settle", "5x"],
                "rotation-drill: --settle: '5x' is not a positive duration (e.g. 250ms, 300, 300s, 5m, 1h, 30d)"
            ),
            ("issuer", ["serve", "--max-connections", "0"], "issuer: --max-connections: '0' is not a whole number from 1 to 1000000"),
            (
                "resource-api", ["--header-timeout", "5x"],
                "resource-api: --header-timeout: '5x' is not a positive duration (e.g. 250ms, 300, 300s, 5m, 1h, 30d)"
            ),
            (
                "issuer", ["serve", "--idle-timeout", "0s"],
                "issuer: --idle-timeout: '0s' is not a positive duration (e.g. 250ms, 300, 300s, 5m, 1h, 30d)"
            ),
            ("issuer", ["--issuer-url", "ftp://x"], "issuer: --issuer-url: 'ftp://x' is not an http(s) URL without query or fragment"),
            ("resource-api", ["--issuer-url", "ftp://x"], "resource-api: --issuer-url: 'ftp://x' is not an http(s) URL"),
            (
                "rotation-drill", ["--admin-password", "x", "--issuer-url", "ftp://x"],
                "rotation-drill: --issuer-url: 'ftp://x' is not an http(s) URL"
            ),
            ("issuer", ["--key-bits", "1024"], "issuer: --key-bits: '1024' is not one of 2048, 3072, 4096"),
            ("rotation-drill", ["--admin-password", "x", "--rate", "0"], "rotation-drill: --rate: '0' is not a number from 1 to 5000"),
            (
                "rotation-drill", ["--admin-password", "x", "--resource-url", "http://127.0.0.1:1", "--resource-url", "ftp://x"],
                "rotation-drill: --resource-url: 'ftp://x' is not an http(s) URL"
            ),
            (
                "rotation-drill", ["run"],
                "rotation-drill: --admin-password: required (or DRILL_ADMIN_PASSWORD): rotating needs a user with role admin"
            ),
            ("issuer", ["--store", "postgres://u:s3cret@h/db?sslmode=maybe"], "issuer: --store: sslmode 'maybe' is not disable, prefer or require"),
        ] as [(String, [String], String)]
    )
    func typedValueErrors(name: String, arguments: [String], first: String) throws {
        let outcome = try run(name, arguments)
        #expect(outcome.status == 2, "\(outcome.stderr)")
        #expect(outcome.lines == [first, "Run '\(name) --help' for the options."])
        #expect(!outcome.stderr.contains("s3cret"))
    }

    /// A bad variable under a good flag is never read: the next bad option is the one reported.
    @Test(
        arguments: [
            ("issuer", ["serve", "--port", "1"], ["ISSUER_PORT": "x"]),
            ("resource-api", ["--port", "1"], ["RESOURCE_API_PORT": "x"]),
            ("rotation-drill", ["run", "--admin-password", "x", "--rate", "5"], ["DRILL_RATE": "0"]),
        ] as [(String, [String], [String: String])]
    )
    func flagWinsOverEnvironment(name: String, arguments: [String], environment: [String: String]) throws {
        let outcome = try run(name, arguments + ["--log-format", "xml"], environment: environment)
        #expect(outcome.status == 2)
        #expect(outcome.lines.first == "\(name): --log-format: 'xml' is not one of text, json", "\(outcome.stderr)")
        let fromEnvironment = try run(name, Array(arguments.dropLast(2)), environment: environment)
        #expect(fromEnvironment.status == 2)
        #expect(fromEnvironment.lines.first?.hasPrefix("\(name): \(environment.keys.first ?? ""): '") == true, "\(fromEnvironment.stderr)")
    }

    @Test func argumentParserUsageErrorsKeepTheirStatus() throws {
        let outcome = try run("issuer", ["--no-such-flag"])
        #expect(outcome.status == 64, "\(outcome.stderr)")
    }
}

@Suite("Issuer debug logs")
struct IssuerDebugLogTests {
    /// `issuer serve --log-level debug --log-format json` with a PostgreSQL store URL that
    /// carries a password: nothing reachable on port 1, so it logs while it waits; no line
    /// may carry the password.
    @Test func noLineCarriesTheStorePassword() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("issuer-keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: keys) }
        let process = Process()
        process.executableURL = try executable("issuer")
        process.arguments = [
            "serve", "--port", "0", "--keys-dir", keys, "--log-level", "debug", "--log-format", "json",
            "--store", "postgres://issuer:s3cretpw@127.0.0.1:1/issuer?sslmode=disable",
        ]
        process.environment = ["PATH": "/usr/bin:/bin"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let log = Mutex("")
        errors.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if chunk.isEmpty { handle.readabilityHandler = nil } else { log.withLock { $0 += String(decoding: chunk, as: UTF8.self) } }
        }
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let deadline = ContinuousClock.now + .seconds(20)
        while !log.withLock({ $0.contains("waiting for PostgreSQL") }), process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        process.waitUntilExit()
        let lines = log.withLock { $0 }.split(separator: "\n")
        #expect(lines.contains { $0.contains("waiting for PostgreSQL") }, "\(lines)")
        for line in lines {
            #expect(!line.contains("s3cretpw"), "\(line)")
            #expect(line.hasPrefix("{"), "JSON lines only: \(line)")
        }
    }
}
