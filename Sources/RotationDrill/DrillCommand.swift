import ArgumentParser
import CurlClient
import Foundation

/// `rotation-drill`: against a running stack, proves a key rotation loses no request.
@main
struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotation-drill",
        abstract: "Rotate the Issuer's signing key under steady traffic and report what the ResourceAPI did.",
        subcommands: [RunDrill.self, Healthcheck.self],
        defaultSubcommand: RunDrill.self
    )
}

/// The drill itself (the default subcommand).
struct RunDrill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Log in, keep greet traffic going with fresh and old tokens, rotate, optionally retire the old key, report.",
        discussion: """
            Every option is also a DRILL_* variable (the flag wins), e.g. DRILL_ADMIN_PASSWORD, \
            which keeps the password out of the process list. Exit status: 0 when the drill passed, \
            1 when a planned rotation lost a request or an expected event did not happen in time, \
            2 when the drill could not run (bad options, stack unreachable, login refused).
            """
    )

    @Option(name: .customLong("issuer-url"), help: "The Issuer, as this drill reaches it (DRILL_ISSUER_URL; default http://127.0.0.1:8081).")
    var issuerURL: String?
    @Option(name: .customLong("resource-url"), help: "The ResourceAPI (DRILL_RESOURCE_URL; default http://127.0.0.1:8082).")
    var resourceURL: String?
    @Option(help: "User whose tokens make the traffic (DRILL_USERNAME; default user1).") var username: String?
    @Option(help: "Their password (DRILL_PASSWORD; default password1).") var password: String?
    @Option(name: .customLong("admin-username"), help: "User with role admin, to rotate (DRILL_ADMIN_USERNAME; default admin).")
    var adminUsername: String?
    @Option(name: .customLong("admin-password"), help: "Its password (DRILL_ADMIN_PASSWORD; required).") var adminPassword: String?
    @Flag(help: "Force the rotation even if the next key is not yet published for jwks-max-age (emergency; DRILL_FORCE=1).")
    var force = false
    @Flag(help: "After the rotation, retire the old key as in an emergency and measure when its tokens are refused (DRILL_RETIRE=1).")
    var retire = false
    @Option(name: .customLong("issuer-bin"), help: "The issuer executable that runs 'issuer keys retire' for --retire (DRILL_ISSUER_BIN). The contract has no HTTP endpoint for it.")
    var issuerBin: String?
    @Option(name: .customLong("keys-dir"), help: "--keys-dir passed to 'issuer keys retire' (DRILL_KEYS_DIR; default: the issuer's own, ISSUER_KEYS_DIR or keys).")
    var keysDir: String?
    @Option(help: "Greet requests per second in each of the two streams, fresh and old tokens (DRILL_RATE; default 20).") var rate: String?
    @Option(help: "Traffic before the rotation (DRILL_WARMUP; default 1s).") var warmup: String?
    @Option(help: "Traffic after the new kid is accepted, before the retire or the end (DRILL_SETTLE; default 2s).") var settle: String?
    @Option(name: .customLong("max-wait"), help: "How long a planned rotation may wait for the next key to age (DRILL_MAX_WAIT; default 10m).")
    var maxWait: String?
    @Option(help: "How long to wait for each expected event: new kid accepted, retired kid refused (DRILL_TIMEOUT; default 30s).")
    var timeout: String?
    @Flag(help: "Print the report as JSON instead of text.") var json = false

    func run() async throws {
        let settings: DrillSettings
        do {
            settings = try self.resolve(environment: ProcessInfo.processInfo.environment)
        } catch let error as DrillError {
            Console.error("rotation-drill: \(error.description)")
            Console.error("Run 'rotation-drill --help' for the options.")
            throw ExitCode(2)
        }
        let report: DrillReport
        do {
            report = try await Drill(settings: settings).run()
        } catch {
            Console.error("rotation-drill: \(error.description)")
            throw ExitCode(2)
        }
        print(self.json ? report.renderJSON() : report.renderText())
        if !report.passed { throw ExitCode(1) }
    }

    func resolve(environment: [String: String]) throws -> DrillSettings {
        func pick(_ flag: String?, _ variable: String) -> String? {
            if let flag { return flag }
            if let value = environment[variable], !value.isEmpty { return value }
            return nil
        }
        func flag(_ flag: Bool, _ variable: String) -> Bool {
            flag || ["1", "true", "yes"].contains(environment[variable]?.lowercased() ?? "")
        }
        func seconds(_ flag: String?, _ variable: String, option: String, default value: Double) throws -> Double {
            guard let text = pick(flag, variable) else { return value }
            guard let parsed = DrillDuration.seconds(text), parsed > 0 else {
                throw DrillError.option("\(option): '\(text)' is not a duration (e.g. 500ms, 2s, 5m)")
            }
            return parsed
        }
        func url(_ flag: String?, _ variable: String, option: String, default value: String) throws -> String {
            var text = pick(flag, variable) ?? value
            guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
                scheme == "http" || scheme == "https", components.host?.isEmpty == false
            else {
                throw DrillError.option("\(option): '\(text)' is not an http(s) URL")
            }
            while text.hasSuffix("/") { text.removeLast() }
            return text
        }

        var settings = DrillSettings(
            issuerURL: try url(self.issuerURL, "DRILL_ISSUER_URL", option: "--issuer-url", default: "http://127.0.0.1:8081"),
            resourceURL: try url(self.resourceURL, "DRILL_RESOURCE_URL", option: "--resource-url", default: "http://127.0.0.1:8082"),
            username: pick(self.username, "DRILL_USERNAME") ?? "user1",
            password: pick(self.password, "DRILL_PASSWORD") ?? "password1",
            adminUsername: pick(self.adminUsername, "DRILL_ADMIN_USERNAME") ?? "admin",
            adminPassword: "",
            force: flag(self.force, "DRILL_FORCE"),
            retire: flag(self.retire, "DRILL_RETIRE"),
            issuerBin: pick(self.issuerBin, "DRILL_ISSUER_BIN"),
            keysDir: pick(self.keysDir, "DRILL_KEYS_DIR")
        )
        guard let adminPassword = pick(self.adminPassword, "DRILL_ADMIN_PASSWORD") else {
            throw DrillError.option("--admin-password (or DRILL_ADMIN_PASSWORD) is required: rotating needs a user with role admin")
        }
        settings.adminPassword = adminPassword
        if let text = pick(self.rate, "DRILL_RATE") {
            guard let rate = Double(text), rate >= 1, rate <= 500 else {
                throw DrillError.option("--rate: '\(text)' is not a number of requests per second between 1 and 500")
            }
            settings.rate = rate
        }
        settings.warmup = try seconds(self.warmup, "DRILL_WARMUP", option: "--warmup", default: settings.warmup)
        settings.settle = try seconds(self.settle, "DRILL_SETTLE", option: "--settle", default: settings.settle)
        settings.maxWait = try seconds(self.maxWait, "DRILL_MAX_WAIT", option: "--max-wait", default: settings.maxWait)
        settings.timeout = try seconds(self.timeout, "DRILL_TIMEOUT", option: "--timeout", default: settings.timeout)
        return settings
    }
}

/// `rotation-drill healthcheck URL`: exit 0 when URL answers 2xx within the timeout. The
/// runtime image has no curl binary; compose healthchecks run this instead.
struct Healthcheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "GET a URL (e.g. http://127.0.0.1:8081/readyz); exit 0 on 2xx, 1 otherwise."
    )

    @Argument(help: "The URL to probe.") var url: String
    @Option(help: "Total time allowed (default 3s).") var timeout: String = "3s"

    func run() async throws {
        guard let seconds = DrillDuration.seconds(self.timeout), seconds > 0 else {
            Console.error("healthcheck: --timeout: '\(self.timeout)' is not a duration")
            throw ExitCode(2)
        }
        let options = CurlRequestOptions(
            connectTimeout: .milliseconds(Int64(min(seconds, 2) * 1000)), timeout: .milliseconds(Int64(seconds * 1000)), maxBodyBytes: 65_536
        )
        do {
            let response = try await CurlClient.shared.get(self.url, options: options)
            print("\(self.url): \(response.status)")
            if !(200..<300).contains(response.status) { throw ExitCode(1) }
        } catch let error as CurlError {
            print("\(self.url): \(error.description)")
            throw ExitCode(1)
        }
    }
}

/// Durations as the services take them (`300`, `300s`, `5m`, `1h`) plus `ms` and fractions.
enum DrillDuration {
    static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return Double(text)
    }
}

enum Console {
    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Progress lines go to standard error so the report alone is on standard output.
    static func progress(_ line: String) {
        error("drill: " + line)
    }
}
