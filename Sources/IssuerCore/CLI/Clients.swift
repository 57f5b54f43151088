import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceSupport
import SharedJWT

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
