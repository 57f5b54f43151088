extension OptionResolver {
    /// A repeatable list of CIDR blocks: every `--OPTION` flag, else the variable's
    /// comma-separated value, else nil. The first value that is no block is the error.
    public func addressBlocks(_ option: String, _ flags: [String]) throws(ConfigurationError) -> TrustedProxies? {
        let given: [Given]
        if !flags.isEmpty {
            given = flags.map { Given(option: "--\(option)", source: "--\(option)", text: $0) }
        } else if let value = self.environment[self.variable(option)], !value.isEmpty {
            given = value.split(separator: ",", omittingEmptySubsequences: false).map {
                Given(option: "--\(option)", source: self.variable(option), text: TrustedProxies.trimmed($0))
            }
        } else {
            return nil
        }
        var blocks: [IPAddressBlock] = []
        for value in given {
            guard let block = IPAddressBlock(value.text) else {
                throw value.invalid("an IP address or CIDR block (e.g. 10.0.0.0/8, 192.168.1.5, fd00::/8)")
            }
            blocks.append(block)
        }
        return TrustedProxies(blocks)
    }
}
