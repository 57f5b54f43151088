import ArgumentParser

/// `--idle-timeout`, `--header-timeout` and `--max-connections`: the connection limits of
/// both services, declared once (`@OptionGroup`) and resolved by the edge's `EdgeLimits`.
public struct ConnectionOptions: ParsableArguments, Sendable {
    @Option(
        help: "Close a keep-alive connection idle this long (ISSUER_IDLE_TIMEOUT or RESOURCE_API_IDLE_TIMEOUT; default 60s)."
    )
    public var idleTimeout: String?
    @Option(
        help: "408 and close when a request head or body stalls this long (ISSUER_HEADER_TIMEOUT or RESOURCE_API_HEADER_TIMEOUT; default 10s)."
    )
    public var headerTimeout: String?
    @Option(
        help: "Connections served at once; more are closed at once (ISSUER_MAX_CONNECTIONS or RESOURCE_API_MAX_CONNECTIONS; default 10000)."
    )
    public var maxConnections: String?

    public init() {}
}
