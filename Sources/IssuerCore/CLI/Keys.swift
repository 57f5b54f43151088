import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceSupport
import SharedJWT

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
