import ArgumentParser
import CurlClient
import Foundation
import Logging
import ServiceSupport
import Synchronization

/// `rotation-drill`: against a running stack, proves a key rotation loses no request.
@main
struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotation-drill",
        abstract: "Rotate the Issuer's signing key under steady traffic and report what the ResourceAPI did.",
        version: ServiceVersion.current,
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
    @Option(
        name: .customLong("resource-url"),
        help: "A ResourceAPI; repeat for several, each reported on its own (DRILL_RESOURCE_URL, comma-separated; default http://127.0.0.1:8082)."
    )
    var resourceURLs: [String] = []
    @Option(help: "User whose tokens make the traffic (DRILL_USERNAME; default user1).") var username: String?
    @Option(help: "Their password (DRILL_PASSWORD; default password1).") var password: String?
    @Option(name: .customLong("admin-username"), help: "User with role admin, to rotate (DRILL_ADMIN_USERNAME; default admin).")
    var adminUsername: String?
    @Option(name: .customLong("admin-password"), help: "Its password (DRILL_ADMIN_PASSWORD; required).") var adminPassword: String?
    @Flag(help: "Force the rotation even if the next key is not yet published for jwks-max-age (emergency; DRILL_FORCE=1).")
    var force = false
    @Flag(help: "After the rotation, retire the old key as in an emergency and measure when its tokens are refused (DRILL_RETIRE=1).")
    var retire = false
    @Option(
        name: .customLong("issuer-bin"),
        help: "The issuer executable that runs 'issuer keys retire' for --retire (DRILL_ISSUER_BIN). The contract has no HTTP endpoint for it."
    )
    var issuerBin: String?
    @Option(
        name: .customLong("keys-dir"),
        help: "--keys-dir passed to 'issuer keys retire' (DRILL_KEYS_DIR; default: the issuer's own, ISSUER_KEYS_DIR or keys)."
    )
    var keysDir: String?
    @Option(
        name: .customLong("ca-file"),
        help: "PEM CAs the https Issuer and ResourceAPI must chain to, instead of the system's (DRILL_CA_FILE)."
    )
    var caFile: String?
    @Option(
        help: "Greet requests per second in each of the two streams, fresh and old tokens, at each ResourceAPI (DRILL_RATE; 1 to 5000, default 200)."
    )
    var rate: String?
    @Option(help: "Traffic before the rotation (DRILL_WARMUP; default 1s).") var warmup: String?
    @Option(help: "Traffic after the new kid is accepted, before the retire or the end (DRILL_SETTLE; default 2s).") var settle: String?
    @Option(name: .customLong("max-wait"), help: "How long a planned rotation may wait for the next key to age (DRILL_MAX_WAIT; default 10m).")
    var maxWait: String?
    @Option(help: "How long to wait for each expected event: new kid accepted, retired kid refused (DRILL_TIMEOUT; default 30s).")
    var timeout: String?
    @Flag(help: "Print the report as JSON instead of text (schema: docs/drill-report.schema.json).") var json = false
    @Option(
        help: "Also write the report as one self-contained HTML page with the timeline, to this file (DRILL_HTML)."
    )
    var html: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical (DRILL_LOG_LEVEL; default info).")
    var logLevel: String?
    @Option(name: .customLong("log-format"), help: "Progress lines on standard error: text or json (DRILL_LOG_FORMAT; default text).")
    var logFormat: String?

    func run() async throws {
        let resolver = OptionResolver(environmentPrefix: "DRILL_", environment: ProcessInfo.processInfo.environment)
        let (settings, logging) = try ConfigurationError.reporting(command: "rotation-drill") {
            () throws(ConfigurationError) -> (DrillSettings, LoggingSetup) in
            (try self.resolve(resolver), try resolver.logging(level: self.logLevel, format: self.logFormat))
        }
        Console.logger = logging.makeLogger(label: "rotation-drill")
        let report: DrillReport
        do {
            report = try await Drill(settings: settings).run()
        } catch {
            Console.error("rotation-drill: \(error.description)")
            throw ExitCode(2)
        }
        if let path = settings.htmlPath {
            do {
                try Data(DrillPage.render(report).utf8).write(to: URL(fileURLWithPath: path))
            } catch {
                Console.error("rotation-drill: --html \(path): \(error.localizedDescription)")
                print(self.json ? report.renderJSON() : report.renderText())
                throw ExitCode(2)
            }
        }
        print(self.json ? report.renderJSON() : report.renderText())
        if !report.passed { throw ExitCode(1) }
    }

    /// Flag, else `DRILL_*` variable, else default; every value checked.
    func resolve(_ resolver: OptionResolver) throws(ConfigurationError) -> DrillSettings {
        func seconds(_ option: String, _ flag: String?, default value: Double) throws(ConfigurationError) -> Double {
            guard let duration = try resolver.duration(option, flag, .fractional) else { return value }
            let (seconds, attoseconds) = duration.components
            return Double(seconds) + Double(attoseconds) / 1e18
        }
        var settings = DrillSettings(
            issuerURL: try resolver.httpURL("issuer-url", self.issuerURL, trimmingSlashes: true) ?? "http://127.0.0.1:8081",
            resourceURLs: try self.resourceURLs(resolver),
            username: resolver.string("username", self.username) ?? "user1",
            password: resolver.string("password", self.password) ?? "password1",
            adminUsername: resolver.string("admin-username", self.adminUsername) ?? "admin",
            adminPassword: "",
            force: resolver.isOn("force", self.force),
            retire: resolver.isOn("retire", self.retire),
            issuerBin: resolver.string("issuer-bin", self.issuerBin),
            keysDir: resolver.string("keys-dir", self.keysDir)
        )
        guard let adminPassword = resolver.string("admin-password", self.adminPassword) else {
            throw ConfigurationError(
                option: "--admin-password",
                problem: "required (or \(resolver.variable("admin-password"))): rotating needs a user with role admin"
            )
        }
        settings.adminPassword = adminPassword
        settings.caFile = try resolver.caFile("ca-file", self.caFile)
        settings.rate = try resolver.number("rate", self.rate, in: 1...5000) ?? settings.rate
        settings.htmlPath = resolver.string("html", self.html)
        settings.warmup = try seconds("warmup", self.warmup, default: settings.warmup)
        settings.settle = try seconds("settle", self.settle, default: settings.settle)
        settings.maxWait = try seconds("max-wait", self.maxWait, default: settings.maxWait)
        settings.timeout = try seconds("timeout", self.timeout, default: settings.timeout)
        return settings
    }

    /// Every `--resource-url` given, else `DRILL_RESOURCE_URL` split at commas, else the default;
    /// a bad one is named as it was given (the flag, or the variable).
    private func resourceURLs(_ resolver: OptionResolver) throws(ConfigurationError) -> [String] {
        var urls: [String] = []
        func add(_ url: String?) {
            if let url, !urls.contains(url) { urls.append(url) }
        }
        if self.resourceURLs.isEmpty {
            let variable = resolver.variable("resource-url")
            // Each item checked on its own, so an error names the variable and the bad item.
            for item in (resolver.string("resource-url", nil) ?? "").split(separator: ",") {
                let one = OptionResolver(environmentPrefix: "DRILL_", environment: [variable: item.trimmingCharacters(in: .whitespaces)])
                add(try one.httpURL("resource-url", nil, trimmingSlashes: true))
            }
        } else {
            for flag in self.resourceURLs { add(try resolver.httpURL("resource-url", flag, trimmingSlashes: true)) }
        }
        return urls.isEmpty ? ["http://127.0.0.1:8082"] : urls
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
    @Option(name: .customLong("ca-file"), help: "PEM CAs an https URL must chain to, instead of the system's.") var caFile: String?

    func run() async throws {
        let resolver = OptionResolver(environmentPrefix: "DRILL_HEALTHCHECK_", environment: [:])
        let duration = try ConfigurationError.reporting(command: "rotation-drill healthcheck") { () throws(ConfigurationError) -> Duration in
            try resolver.duration("timeout", self.timeout, .fractional) ?? .seconds(3)
        }
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let options = CurlRequestOptions(
            connectTimeout: .milliseconds(Int64(min(seconds, 2) * 1000)),
            timeout: .milliseconds(Int64(seconds * 1000)),
            maxBodyBytes: 65_536,
            caFile: self.caFile
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

/// The drill's lines on standard error: errors as they are, progress through the logger
/// (`--log-level`, `--log-format`) so the report alone is on standard output.
enum Console {
    private static let current = Mutex(LoggingSetup().makeLogger(label: "rotation-drill"))

    /// Set by `RunDrill.run()` once the options are read.
    static var logger: Logger {
        get { self.current.withLock { $0 } }
        set { self.current.withLock { $0 = newValue } }
    }

    static func error(_ line: String) {
        StandardError.writeLine(line)
    }

    static func progress(_ line: String) {
        self.logger.info("\(line)")
    }
}
