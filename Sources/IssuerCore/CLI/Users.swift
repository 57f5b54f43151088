import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceSupport
import SharedJWT

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
