import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceSupport
import SharedJWT

/// `issuer`: `serve` (default), `users`, `keys`, `clients`.
public struct IssuerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "issuer",
        abstract: "JWT authorization server (access tokens, refresh tokens, JWKS).",
        version: ServiceVersion.current,
        subcommands: [Serve.self, Users.self, Keys.self, Clients.self],
        defaultSubcommand: Serve.self
    )

    public init() {}
}

/// Options every subcommand shares: each is a flag and an `ISSUER_*` variable (flag wins).
public struct IssuerOptions: ParsableArguments {
    @Option(help: "Address to bind (ISSUER_HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Port to bind, 0 lets the OS choose (ISSUER_PORT; default 8081).") var port: String?
    @Option(help: "Public base URL, the iss of every token (ISSUER_ISSUER_URL; default http://127.0.0.1:8081).") var issuerUrl: String?
    @Option(help: "aud of every token (ISSUER_AUDIENCE; default resource-api).") var audience: String?
    @Option(help: "Key directory (ISSUER_KEYS_DIR; default keys).") var keysDir: String?
    @Option(help: "SQLite file (ISSUER_DATA; default data/issuer.sqlite).") var data: String?
    @Option(help: "A SQLite path or a postgres:// URL; wins over --data (ISSUER_STORE; default: --data).") var store: String?
    @Option(help: "Access token lifetime (ISSUER_ACCESS_TTL; default 5m).") var accessTtl: String?
    @Option(help: "Refresh token lifetime (ISSUER_REFRESH_TTL; default 24h).") var refreshTtl: String?
    @Option(help: "JWKS Cache-Control max-age (ISSUER_JWKS_MAX_AGE; default 5m).") var jwksMaxAge: String?
    @Option(help: "Rotate keys on this schedule, or off (ISSUER_ROTATE_EVERY; default off).") var rotateEvery: String?
    @Option(help: "RSA key size: 2048, 3072 or 4096 (ISSUER_KEY_BITS; default 2048).") var keyBits: String?
    @Option(help: "trace, debug, info, notice, warning, error, critical (ISSUER_LOG_LEVEL; default info).") var logLevel: String?
    @Option(help: "text or json (ISSUER_LOG_FORMAT; default text).") var logFormat: String?
    @Option(
        help: "on: refresh grants of /token are answered on the event loop; off: every request through the router (ISSUER_FAST_PATH; default on)."
    )
    var fastPath: String?
    @OptionGroup var connections: ConnectionOptions
    @Option(
        name: .customLong("trusted-proxy"),
        help: """
            A proxy (IP or CIDR, repeatable) whose Forwarded/X-Forwarded-For names the client for login limits \
            (ISSUER_TRUSTED_PROXY, comma-separated; default none).
            """
    )
    var trustedProxy: [String] = []
    @Option(help: "PEM certificate chain: serve HTTPS, with --tls-key (ISSUER_TLS_CERT; re-read on SIGHUP).") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert, mode 0600 (ISSUER_TLS_KEY; re-read on SIGHUP).") var tlsKey: String?
    @Option(help: .hidden) var bcryptCost: String?

    public init() {}

    /// Validates every option (flag, else `ISSUER_*` variable, else default); the first bad
    /// one throws a `ConfigurationError` naming it.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> IssuerConfiguration {
        let resolver = OptionResolver(environmentPrefix: "ISSUER_", environment: environment)
        var configuration = IssuerConfiguration()
        configuration.host = try resolver.host("host", self.host) ?? configuration.host
        configuration.port = try resolver.port("port", self.port) ?? configuration.port
        configuration.tls = try resolver.tlsFiles(certificate: self.tlsCert, key: self.tlsKey)
        // Over HTTPS the default public URL is the https one.
        let defaultURL = configuration.tls == nil ? configuration.issuerURL : "https://127.0.0.1:8081"
        configuration.issuerURL =
            try resolver.httpURL("issuer-url", self.issuerUrl, plain: true, trimmingSlashes: true) ?? defaultURL
        configuration.audience = try resolver.word("audience", self.audience) ?? configuration.audience
        configuration.keysDirectory = resolver.string("keys-dir", self.keysDir) ?? configuration.keysDirectory
        configuration.databasePath = resolver.string("data", self.data) ?? configuration.databasePath
        try StoreSelection.apply(resolver.string("store", self.store), to: &configuration)
        if let value = try resolver.duration("access-ttl", self.accessTtl, .wholeSeconds) {
            configuration.accessTTL = value.components.seconds
        }
        if let value = try resolver.duration("refresh-ttl", self.refreshTtl, .wholeSeconds) {
            configuration.refreshTTL = value.components.seconds
        }
        if let value = try resolver.duration("jwks-max-age", self.jwksMaxAge, .wholeSeconds) {
            configuration.jwksMaxAge = value.components.seconds
        }
        if case .some(let value) = try resolver.durationOrOff("rotate-every", self.rotateEvery, .wholeSeconds) {
            configuration.rotateEvery = value?.components.seconds
        }
        configuration.keyBits = try resolver.integer("key-bits", self.keyBits, oneOf: [2048, 3072, 4096]) ?? configuration.keyBits
        configuration.fastPath = try resolver.choice("fast-path", self.fastPath, as: OnOff.self)?.isOn ?? configuration.fastPath
        try configuration.limits.resolveConnections(resolver, self.connections)
        configuration.trustedProxies = try resolver.addressBlocks("trusted-proxy", self.trustedProxy) ?? configuration.trustedProxies
        let logging = try resolver.logging(level: self.logLevel, format: self.logFormat)
        configuration.logLevel = logging.level
        configuration.logFormat = logging.format
        // Test-only knob (hidden): real deployments keep the default of 10 or more.
        if let cost = try resolver.integer("bcrypt-cost", self.bcryptCost, in: 4...31) {
            configuration.bcryptCost = UInt8(cost)
        }
        return configuration
    }

    /// These options, with every one that `later` gives replacing this one's: for options
    /// written after a command's arguments (`keys retire -- KID --keys-dir DIR`).
    func overridden(by later: IssuerOptions) -> IssuerOptions {
        var merged = self
        merged.host = later.host ?? self.host
        merged.port = later.port ?? self.port
        merged.issuerUrl = later.issuerUrl ?? self.issuerUrl
        merged.audience = later.audience ?? self.audience
        merged.keysDir = later.keysDir ?? self.keysDir
        merged.data = later.data ?? self.data
        merged.store = later.store ?? self.store
        merged.accessTtl = later.accessTtl ?? self.accessTtl
        merged.refreshTtl = later.refreshTtl ?? self.refreshTtl
        merged.jwksMaxAge = later.jwksMaxAge ?? self.jwksMaxAge
        merged.rotateEvery = later.rotateEvery ?? self.rotateEvery
        merged.keyBits = later.keyBits ?? self.keyBits
        merged.logLevel = later.logLevel ?? self.logLevel
        merged.logFormat = later.logFormat ?? self.logFormat
        merged.fastPath = later.fastPath ?? self.fastPath
        merged.trustedProxy = later.trustedProxy.isEmpty ? self.trustedProxy : later.trustedProxy
        merged.bcryptCost = later.bcryptCost ?? self.bcryptCost
        return merged
    }

    /// Resolves, or prints the error (two lines) and exits with status 2.
    func resolveOrExit() throws -> IssuerConfiguration {
        do {
            return try self.resolve()
        } catch let error as ConfigurationError {
            throw error.report(command: "issuer")
        }
    }
}

/// The subcommands' messages on standard error.
enum CLIOutput {
    static func error(_ line: String) {
        StandardError.writeLine(line)
    }
}

// MARK: serve

public struct Serve: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(abstract: "Run the HTTP server (the default).")
    @OptionGroup var options: IssuerOptions

    public init() {}

    public func run() async throws {
        let configuration = try options.resolveOrExit()
        // SIGHUP means "reload keys", never "terminate", even before the handler is up.
        signal(SIGHUP, SIG_IGN)
        let logger = configuration.logging.bootstrap(label: "issuer")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let app: IssuerApplication
        do {
            app = try await makeIssuerApplication(
                configuration: configuration,
                logger: logger,
                metricsRegistry: registry,
                handleSIGHUP: true
            )
        } catch let error as KeyDirectoryError {
            CLIOutput.error("issuer: \(error.description)")
            throw ExitCode(ConfigurationError.exitStatus)
        } catch let error as ConfigurationError {
            throw error.report(command: "issuer")
        }
        // runService traps SIGTERM and SIGINT: stop accepting, finish in-flight requests, exit 0.
        try await app.runService()
    }
}

// MARK: users

public struct Users: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Manage users who log in through /login.",
        subcommands: [Add.self, List.self, Delete.self]
    )
    public init() {}

    public struct Add: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Add a user; without --password-stdin a password is generated and printed once."
        )
        @OptionGroup var options: IssuerOptions
        @Argument(help: "User name.") var name: String
        @Option(name: .customLong("role"), help: "A role (repeatable), e.g. user, admin.") var roles: [String] = []
        @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false
        @Flag(help: "Exit 0 without changes when the user already exists.") var ifMissing = false

        public init() {}

        public func run() async throws {
            let configuration = try options.resolveOrExit()
            try UserNames.validate(name)
            for role in roles { try UserNames.validateRole(role) }
            let store = try await IssuerStores.openForCommand(configuration)
            if try await store.user(named: name) != nil {
                if ifMissing { return }
                CLIOutput.error("issuer: user \(name) already exists")
                throw ExitCode.failure
            }
            let password: String
            let generated: Bool
            if passwordStdin {
                guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                    CLIOutput.error("issuer: --password-stdin: no password on standard input")
                    throw ExitCode.failure
                }
                password = line
                generated = false
            } else {
                password = Base64URL.encode(Secrets.randomBytes(15))
                generated = true
            }
            let hash = try await PasswordHasher(cost: configuration.bcryptCost).hash(password)
            let roles = self.roles.isEmpty ? ["user"] : self.roles
            do {
                try await store.addUser(UserRecord(name: name, passwordHash: hash, roles: roles, createdAt: Date().timeIntervalSince1970))
            } catch let error as StoreError {
                CLIOutput.error("issuer: \(error.description)")
                throw ExitCode.failure
            }
            if generated {
                print("user \(name) added with roles \(roles.joined(separator: ",")); password (shown once): \(password)")
            } else {
                print("user \(name) added with roles \(roles.joined(separator: ","))")
            }
        }
    }

    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "List users and their roles.")
        @OptionGroup var options: IssuerOptions
        public init() {}

        public func run() async throws {
            let configuration = try options.resolveOrExit()
            let store = try await IssuerStores.openForCommand(configuration)
            for user in try await store.listUsers() {
                print("\(user.name)\t\(user.roles.joined(separator: ","))")
            }
        }
    }

    public struct Delete: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Delete a user and revoke their refresh tokens.")
        @OptionGroup var options: IssuerOptions
        @Argument(help: "User name.") var name: String
        public init() {}

        public func run() async throws {
            let configuration = try options.resolveOrExit()
            let store = try await IssuerStores.openForCommand(configuration)
            guard try await store.deleteUser(named: name) else {
                CLIOutput.error("issuer: no user \(name)")
                throw ExitCode.failure
            }
            print("user \(name) deleted")
        }
    }
}

enum UserNames {
    static func validate(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 128, !name.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 32 } == true }) else {
            CLIOutput.error("issuer: '\(name)' is not a valid name (1-128 characters, no spaces or control characters)")
            throw ExitCode.failure
        }
    }

    static func validateRole(_ role: String) throws {
        guard !role.isEmpty, role.utf8.count <= 64, role.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:".contains($0) }) else {
            CLIOutput.error("issuer: '\(role)' is not a valid role or scope (letters, digits, - _ . :)")
            throw ExitCode.failure
        }
    }
}

// MARK: keys

public struct Keys: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Inspect and rotate signing keys (works while the server runs).",
        subcommands: [List.self, Rotate.self, Retire.self]
    )
    public init() {}

    static func directory(_ configuration: IssuerConfiguration, keyBits: Int? = nil) throws -> KeyDirectory {
        let directory = KeyDirectory(path: configuration.keysDirectory, keyBits: keyBits ?? configuration.keyBits)
        do {
            try directory.initializeIfNeeded(now: configuration.clock())
        } catch let error as KeyDirectoryError {
            CLIOutput.error("issuer: \(error.description)")
            throw ExitCode.failure
        }
        return directory
    }

    /// The key ring `rotate` and `retire` change keys/ through, with the rules of the
    /// running server: the policy a serving Issuer recorded beside the keys
    /// (`ServingKeyPolicy`); this command's own --jwks-max-age, --access-ttl and
    /// --key-bits only when no server ever recorded one. Says which on standard error.
    static func ring(_ configuration: IssuerConfiguration) throws -> KeyRing {
        let probe = KeyDirectory(path: configuration.keysDirectory, keyBits: configuration.keyBits)
        let recorded: ServingKeyPolicy?
        do {
            recorded = try probe.recordedPolicy()
        } catch let error as KeyDirectoryError {
            CLIOutput.error("issuer: \(error.description)")
            throw ExitCode.failure
        }
        let policy: KeyLifecyclePolicy
        let keyBits: Int
        if let recorded {
            policy = recorded.lifecyclePolicy
            keyBits = recorded.keyBits
            let at = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: recorded.recordedAt))
            CLIOutput.error(
                "issuer: following the serving Issuer's key policy (\(probe.policyPath), recorded \(at)): "
                    + Self.describe(policy, keyBits: keyBits) + "; this command's --jwks-max-age, --access-ttl and --key-bits do not apply"
            )
        } else {
            policy = configuration.lifecyclePolicy
            keyBits = configuration.keyBits
            CLIOutput.error(
                "issuer: no serving Issuer has recorded its key policy (\(probe.policyPath)); using this command's own "
                    + Self.describe(policy, keyBits: keyBits)
            )
        }
        var logger = Logger(label: "issuer")
        logger.logLevel = .error
        return KeyRing(
            directory: try directory(configuration, keyBits: keyBits),
            policy: policy,
            clock: configuration.clock,
            logger: logger
        )
    }

    static func describe(_ policy: KeyLifecyclePolicy, keyBits: Int) -> String {
        "jwks-max-age \(Int(policy.jwksMaxAge))s, access-ttl \(Int(policy.accessTTL))s, key-bits \(keyBits)"
    }

    static func printKeys(_ lifecycle: KeyLifecycle) {
        func time(_ value: Double?) -> String {
            guard let value else { return "-" }
            return ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: value))
        }
        print("kid\tstate\tpublished\tactivated\tdeactivated\tretired")
        for key in lifecycle.keys {
            let state = key.emergency ? key.state.rawValue + "(emergency)" : key.state.rawValue
            print("\(key.kid)\t\(state)\t\(time(key.publishedAt))\t\(time(key.activatedAt))\t\(time(key.deactivatedAt))\t\(time(key.retiredAt))")
        }
    }

    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "List keys with their state and timestamps.")
        @OptionGroup var options: IssuerOptions
        public init() {}

        public func run() async throws {
            let configuration = try options.resolveOrExit()
            let directory = try Keys.directory(configuration)
            do {
                Keys.printKeys(try directory.load().lifecycle)
            } catch let error as KeyDirectoryError {
                CLIOutput.error("issuer: \(error.description)")
                throw ExitCode.failure
            }
        }
    }

    public struct Rotate: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "next becomes active, active becomes retiring, a fresh next key is created."
        )
        @OptionGroup var options: IssuerOptions
        @Flag(help: "Rotate even though the next key has not been published for jwks-max-age (emergency).") var force = false
        public init() {}

        public func run() async throws {
            let configuration = try options.resolveOrExit()
            let ring = try Keys.ring(configuration)
            do {
                // The rule of POST /admin/keys/rotate (`KeyRing.rotate`), with the server's policy.
                Keys.printKeys(try ring.rotate(force: force))
            } catch let error as KeyLifecycleError {
                CLIOutput.error("issuer: keys rotate refused: \(error.description)")
                throw ExitCode.failure
            } catch let error as KeyDirectoryError {
                CLIOutput.error("issuer: \(error.description)")
                throw ExitCode.failure
            }
        }
    }

    public struct Retire: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: """
                Emergency: drop a key at once and announce it on the revocation feed \
                (a kid starting with - goes after --; options may stand before or after the kid).
                """
        )
        @OptionGroup var options: IssuerOptions
        @Argument(help: "The kid to retire.") var kid: String
        /// Everything after the kid when it came after `--` (`keys retire -- KID --keys-dir
        /// DIR`): read as this command's options.
        @Argument(help: .hidden) var trailing: [String] = []
        public init() {}

        public func run() async throws {
            var options = self.options
            if !self.trailing.isEmpty {
                do {
                    options = options.overridden(by: try IssuerOptions.parse(self.trailing))
                } catch {
                    CLIOutput.error("issuer: keys retire: after the kid: \(IssuerOptions.message(for: error))")
                    throw ExitCode.validationFailure
                }
            }
            let configuration = try options.resolveOrExit()
            let ring = try Keys.ring(configuration)
            do {
                Keys.printKeys(try ring.retire(kid: kid))
            } catch let error as KeyLifecycleError {
                CLIOutput.error("issuer: keys retire: \(error.description)")
                throw ExitCode.failure
            } catch let error as KeyDirectoryError {
                CLIOutput.error("issuer: \(error.description)")
                throw ExitCode.failure
            }
        }
    }
}

// MARK: clients

public struct Clients: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Manage OAuth clients (client_credentials grant).",
        subcommands: [Add.self]
    )
    public init() {}

    public struct Add: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Add a client and print its secret once.")
        @OptionGroup var options: IssuerOptions
        @Argument(help: "Client id.") var id: String
        @Option(name: .customLong("scope"), help: "A scope the client may request (repeatable; default api).") var scopes: [String] = []
        public init() {}

        public func run() async throws {
            let configuration = try options.resolveOrExit()
            try UserNames.validate(id)
            guard id != TokenService.loginClientID else {
                CLIOutput.error("issuer: client id \(id) is reserved for /login")
                throw ExitCode.failure
            }
            for scope in scopes { try UserNames.validateRole(scope) }
            let store = try await IssuerStores.openForCommand(configuration)
            let secret = Secrets.clientSecret()
            let hash = try await PasswordHasher(cost: configuration.bcryptCost).hash(secret)
            let scopes = self.scopes.isEmpty ? [TokenService.loginScope] : self.scopes
            do {
                try await store.addClient(ClientRecord(id: id, secretHash: hash, scopes: scopes, createdAt: Date().timeIntervalSince1970))
            } catch let error as StoreError {
                CLIOutput.error("issuer: \(error.description)")
                throw ExitCode.failure
            }
            print("client \(id) added with scopes \(scopes.joined(separator: " ")); secret (shown once): \(secret)")
        }
    }
}

/// Entry point for the thin `issuer` main: runs the async command tree.
public enum IssuerMain {
    public static func run() async {
        await IssuerCommand.main()
    }
}
