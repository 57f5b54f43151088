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

/// Entry point for the thin `issuer` main: runs the async command tree.
public enum IssuerMain {
    public static func run() async {
        await IssuerCommand.main()
    }
}
