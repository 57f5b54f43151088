import ArgumentParser
import Foundation
import ServiceSupport
import SharedJWT
import Synchronization
import Testing

@testable import IssuerCore

/// Runs a subcommand in-process; returns the exit code it threw (0 when none).
func runCommand(_ arguments: [String]) async throws -> Int32 {
    var command = try IssuerCommand.parseAsRoot(arguments)
    do {
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
        return 0
    } catch let exit as ExitCode {
        return exit.rawValue
    }
}

/// The built `issuer` binary next to the test bundle.
func issuerBinary() throws -> URL {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [directory, directory.deletingLastPathComponent()] {
        let url = candidate.appendingPathComponent("issuer")
        if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    throw TestFailure("issuer binary not found next to \(CommandLine.arguments[0]); build it first")
}

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the binary to completion (at most 30 s) with `stdin` as input.
func runBinary(_ arguments: [String], stdin: String = "", environment: [String: String] = [:]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = try issuerBinary()
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ISSUER_") }
    env.merge(environment) { $1 }
    process.environment = env
    let input = Pipe()
    let output = Pipe()
    let error = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // A regression that makes the command hang must fail the test, not stall the suite.
    let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
    defer { watchdog.cancel() }
    input.fileHandleForWriting.write(Data(stdin.utf8))
    try input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus,
        stdout: String(decoding: out, as: UTF8.self),
        stderr: String(decoding: err, as: UTF8.self)
    )
}

@Suite("Configuration")
struct ConfigurationTests {
    @Test func durations() {
        #expect(DurationText.seconds("300") == 300)
        #expect(DurationText.seconds("300s") == 300)
        #expect(DurationText.seconds("5m") == 300)
        #expect(DurationText.seconds("1h") == 3600)
        #expect(DurationText.seconds("30d") == 2_592_000)
        for bad in ["", "s", "5x", "-5m", "1.5h", "5 m", "m5", "99999999999999999999d", "５m"] {
            #expect(DurationText.seconds(bad) == nil, "\(bad)")
        }
    }

    @Test func defaultsMatchTheContract() throws {
        let configuration = try IssuerOptions.parse([]).resolve(environment: [:])
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8081)
        #expect(configuration.issuerURL == "http://127.0.0.1:8081")
        #expect(configuration.audience == "resource-api")
        #expect(configuration.keysDirectory == "keys")
        #expect(configuration.databasePath == "data/issuer.sqlite")
        #expect(configuration.accessTTL == 300)
        #expect(configuration.refreshTTL == 86400)
        #expect(configuration.jwksMaxAge == 300)
        #expect(configuration.rotateEvery == nil)
        #expect(configuration.keyBits == 2048)
        #expect(configuration.logLevel == .info)
        #expect(configuration.logFormat == .text)
        #expect(configuration.bcryptCost >= 10)
    }

    @Test func environmentAndFlagPrecedence() throws {
        let environment = [
            "ISSUER_PORT": "9000", "ISSUER_ACCESS_TTL": "10m", "ISSUER_ROTATE_EVERY": "30d", "ISSUER_LOG_FORMAT": "json",
            "ISSUER_ISSUER_URL": "http://localhost:8081/",
        ]
        var configuration = try IssuerOptions.parse([]).resolve(environment: environment)
        #expect(configuration.port == 9000)
        #expect(configuration.accessTTL == 600)
        #expect(configuration.rotateEvery == 2_592_000)
        #expect(configuration.logFormat == .json)
        #expect(configuration.issuerURL == "http://localhost:8081")
        configuration = try IssuerOptions.parse(["--port", "9001", "--access-ttl", "1h", "--rotate-every", "off"]).resolve(environment: environment)
        #expect(configuration.port == 9001)
        #expect(configuration.accessTTL == 3600)
        #expect(configuration.rotateEvery == nil)
    }

    @Test(
        arguments: [
            (["--port", "70000"], [:], "--port"),
            (["--access-ttl", "5x"], [:], "--access-ttl"),
            ([], ["ISSUER_REFRESH_TTL": "0"], "--refresh-ttl"),
            (["--jwks-max-age", "soon"], [:], "--jwks-max-age"),
            (["--rotate-every", "monthly"], [:], "--rotate-every"),
            ([], ["ISSUER_KEY_BITS": "1024"], "--key-bits"),
            (["--log-level", "loud"], [:], "--log-level"),
            (["--log-format", "xml"], [:], "--log-format"),
            (["--issuer-url", "ftp://x"], [:], "--issuer-url"),
            (["--issuer-url", "http://x/?a=b"], [:], "--issuer-url"),
        ] as [([String], [String: String], String)]
    )
    func invalidValuesNameTheOption(arguments: [String], environment: [String: String], option: String) throws {
        do {
            _ = try IssuerOptions.parse(arguments).resolve(environment: environment)
            Issue.record("accepted \(arguments) \(environment)")
        } catch let error as ConfigurationError {
            #expect(error.option == option)
            // What the user wrote: the flag, or the ISSUER_* variable it came from.
            let source = arguments.isEmpty ? try #require(environment.keys.first) : option
            #expect(error.description.hasPrefix("\(source): '"), "\(error)")
        }
    }

    @Test func binaryExitsWithStatus2AndOneClearLine() throws {
        var result = try runBinary(["--access-ttl", "5x"])
        #expect(result.status == 2)
        #expect(
            result.stderr.split(separator: "\n") == [
                "issuer: --access-ttl: '5x' is not a positive duration (e.g. 300, 300s, 5m, 1h, 30d)",
                "Run 'issuer --help' for the options.",
            ]
        )
        result = try runBinary(["serve"], environment: ["ISSUER_KEY_BITS": "1000"])
        #expect(result.status == 2)
        #expect(result.stderr.split(separator: "\n").first == "issuer: ISSUER_KEY_BITS: '1000' is not one of 2048, 3072, 4096")
        #expect(!result.stderr.contains("Fatal error"))
        let directory = try TempDirectory()
        result = try runBinary(["serve", "--port", "0", "--keys-dir", directory.keys, "--data", "/dev/null/issuer.sqlite"])
        #expect(result.status == 2)
        #expect(result.stderr.split(separator: "\n").first?.contains("--data") == true)
    }
}

@Suite("Command line")
struct CLITests {
    func baseArguments(_ directory: TempDirectory) -> [String] {
        ["--keys-dir", directory.keys, "--data", directory.database, "--bcrypt-cost", "4", "--jwks-max-age", "60"]
    }

    @Test func usersAddListDeleteInProcess() async throws {
        let directory = try TempDirectory()
        let base = baseArguments(directory)
        #expect(try await runCommand(["users", "add", "alice", "--role", "admin", "--role", "user"] + base) == 0)
        #expect(try await runCommand(["users", "add", "alice"] + base) == 1)  // exists
        #expect(try await runCommand(["users", "add", "alice", "--if-missing"] + base) == 0)
        #expect(try await runCommand(["users", "add", "bad name"] + base) == 1)
        let store = try SQLiteIssuerStore(path: directory.database)
        let alice = try #require(try await store.user(named: "alice"))
        #expect(alice.roles == ["admin", "user"])
        #expect(alice.passwordHash.hasPrefix("$2"))
        #expect(try await runCommand(["users", "list"] + base) == 0)
        #expect(try await runCommand(["users", "delete", "alice"] + base) == 0)
        #expect(try await store.user(named: "alice") == nil)
        #expect(try await runCommand(["users", "delete", "alice"] + base) == 1)
    }

    @Test func clientsAddInProcess() async throws {
        let directory = try TempDirectory()
        let base = baseArguments(directory)
        #expect(try await runCommand(["clients", "add", "svc", "--scope", "api", "--scope", "reports"] + base) == 0)
        #expect(try await runCommand(["clients", "add", "svc"] + base) == 1)
        #expect(try await runCommand(["clients", "add", "login"] + base) == 1)  // reserved
        let client = try #require(try await SQLiteIssuerStore(path: directory.database).client(id: "svc"))
        #expect(client.scopes == ["api", "reports"])
    }

    @Test func keysRotateAndRetireInProcess() async throws {
        let directory = try TempDirectory()
        let base = baseArguments(directory)
        #expect(try await runCommand(["keys", "list"] + base) == 0)
        let keyDirectory = KeyDirectory(path: directory.keys, keyBits: 2048)
        let initial = try keyDirectory.load().lifecycle
        let active = try #require(initial.active?.kid)
        let next = try #require(initial.next?.kid)
        // The next key was just published: a planned rotation must wait.
        #expect(try await runCommand(["keys", "rotate"] + base) == 1)
        #expect(try keyDirectory.load().lifecycle == initial)
        #expect(try await runCommand(["keys", "rotate", "--force"] + base) == 0)
        var lifecycle = try keyDirectory.load().lifecycle
        #expect(lifecycle.active?.kid == next)
        #expect(lifecycle.keys.first { $0.kid == active }?.state == .retiring)
        let fresh = try #require(lifecycle.next?.kid)
        // Emergency retire of the active key: next promoted, a fresh next created; kid after --.
        #expect(try await runCommand(["keys", "retire"] + base + ["--", next]) == 0)
        lifecycle = try keyDirectory.load().lifecycle
        #expect(lifecycle.keys.first { $0.kid == next }?.state == .retired)
        #expect(lifecycle.keys.first { $0.kid == next }?.emergency == true)
        #expect(lifecycle.active?.kid == fresh)
        #expect(lifecycle.next != nil)
        #expect(try await runCommand(["keys", "retire"] + base + ["--", "-no-such-kid"]) == 1)
        // Private key files exist only for what the key set references, all 0600.
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.keys) where name.hasSuffix(".pem") {
            let mode = try FileManager.default.attributesOfItem(atPath: directory.keys + "/" + name)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }

    /// `keys retire -- KID --keys-dir DIR` (issue 19): options may follow the kid, also after
    /// `--`; a word after the kid that is no option is still a usage error (64), and the
    /// directory given last is the one changed.
    @Test func keysRetireTakesOptionsAfterTheKid() async throws {
        let directory = try TempDirectory()
        let other = try TempDirectory()
        let base = baseArguments(directory)
        #expect(try await runCommand(["keys", "list"] + base) == 0)
        #expect(try await runCommand(["keys", "list"] + baseArguments(other)) == 0)
        let keyDirectory = KeyDirectory(path: directory.keys, keyBits: 2048)
        let untouched = try KeyDirectory(path: other.keys, keyBits: 2048).load().lifecycle
        let next = try #require(try keyDirectory.load().lifecycle.next?.kid)

        // The binary, as an operator types it: the other directory first, then this one after the kid.
        var result = try runBinary(["keys", "retire", "--keys-dir", other.keys, "--", next] + base)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try keyDirectory.load().lifecycle.keys.first { $0.kid == next }?.state == .retired)
        #expect(try KeyDirectory(path: other.keys, keyBits: 2048).load().lifecycle == untouched)

        // Options after a kid without `--` work as before.
        let fresh = try #require(try keyDirectory.load().lifecycle.next?.kid)
        #expect(try await runCommand(["keys", "retire", fresh] + base) == 0)
        #expect(try keyDirectory.load().lifecycle.keys.first { $0.kid == fresh }?.state == .retired)

        // Anything else after the kid is refused, naming the problem, and changes nothing.
        let before = try keyDirectory.load().lifecycle
        let third = try #require(before.next?.kid)
        result = try runBinary(["keys", "retire", "--", third, "stray"] + base)
        #expect(result.status == 64)
        #expect(result.stderr.contains("after the kid"), "\(result.stderr)")
        #expect(try keyDirectory.load().lifecycle == before)
        // And the next command still works.
        #expect(try await runCommand(["keys", "list"] + base) == 0)
    }

    @Test func binaryUsersAddWithPasswordStdinThenLogin() async throws {
        let directory = try TempDirectory()
        let base = baseArguments(directory)
        var result = try runBinary(["users", "add", "user1", "--role", "user", "--password-stdin"] + base, stdin: "password1\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("password1"))
        result = try runBinary(["users", "add", "admin", "--role", "admin"] + base)
        #expect(result.status == 0)
        let generated = try #require(result.stdout.components(separatedBy: "(shown once): ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        result = try runBinary(["users", "list"] + base)
        #expect(result.stdout.contains("user1\tuser"))
        #expect(result.stdout.contains("admin\tadmin"))

        var configuration = testConfiguration(directory, clock: ManualClock())
        configuration.clock = { Date().timeIntervalSince1970 }
        let app = try await makeIssuerApplication(configuration: configuration, logger: testLogger)
        try await app.test(.router) { client in
            _ = try await client.login("user1", "password1")
            _ = try await client.login("admin", generated)
        }
    }

    @Test func binaryKeysRotateRefusalSaysHowLongToWait() throws {
        let directory = try TempDirectory()
        let base = baseArguments(directory)
        var result = try runBinary(["keys", "rotate"] + base)
        #expect(result.status == 1)
        #expect(result.stderr.contains("retry in"))
        result = try runBinary(["keys", "rotate", "--force"] + base)
        #expect(result.status == 0)
        #expect(result.stdout.contains("retiring"))
    }

    @Test func binaryServeRefusesReadableKeyAndStopsCleanlyOnSIGTERM() async throws {
        let directory = try TempDirectory()
        let base = baseArguments(directory) + ["--port", "0"]
        // Create keys, then loosen one.
        #expect(try runBinary(["keys", "list"] + base).status == 0)
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.keys).first { $0.hasSuffix(".pem") })
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: directory.keys + "/" + name)
        let refused = try runBinary(["serve"] + base)
        #expect(refused.status == 2)
        #expect(refused.stderr.split(separator: "\n").first?.contains(name) == true)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: directory.keys + "/" + name)

        // A real start, then SIGHUP (reload, keep running), then SIGTERM: exit status 0.
        let process = Process()
        process.executableURL = try issuerBinary()
        process.arguments = ["serve"] + base
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        // stderr collected on a thread of its own: the test's waits have deadlines.
        let log = Mutex("")
        errors.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if chunk.isEmpty {
                handle.readabilityHandler = nil
            } else {
                log.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
            }
        }
        try process.run()
        defer {
            if process.isRunning {
                process.interrupt()
                kill(process.processIdentifier, SIGKILL)
            }
        }
        func waitForLog(_ text: String, seconds: Double) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if log.withLock({ $0.contains(text) }) { return true }
                try await Task.sleep(for: .milliseconds(20))
            }
            return false
        }
        #expect(try await waitForLog("issuer listening", seconds: 60))
        kill(process.processIdentifier, SIGHUP)
        #expect(try await waitForLog("SIGHUP: reloading keys", seconds: 30))
        #expect(process.isRunning)
        process.terminate()  // SIGTERM
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!process.isRunning, "still running 10 s after SIGTERM")
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
    }
}
