import ServiceSupport

extension EdgeLimits {
    /// `--idle-timeout`, `--header-timeout` and `--max-connections` (with the service's
    /// variables), the same on both services.
    public mutating func resolveConnections(_ resolver: OptionResolver, _ options: ConnectionOptions) throws(ConfigurationError) {
        self.idleTimeout = try resolver.duration("idle-timeout", options.idleTimeout, .positive) ?? self.idleTimeout
        self.headerTimeout = try resolver.duration("header-timeout", options.headerTimeout, .positive) ?? self.headerTimeout
        self.maxConnections = try resolver.integer("max-connections", options.maxConnections, in: 1...1_000_000) ?? self.maxConnections
    }
}
