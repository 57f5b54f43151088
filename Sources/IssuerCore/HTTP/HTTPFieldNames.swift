import HTTPTypes

extension HTTPField.Name {
    static let retryAfter = Self("Retry-After")!
    static let pragma = Self("Pragma")!
    /// RFC 7239; read only from a trusted proxy (`--trusted-proxy`).
    static let forwarded = Self("Forwarded")!
    /// The de-facto form of `Forwarded`; likewise.
    static let xForwardedFor = Self("X-Forwarded-For")!
}
