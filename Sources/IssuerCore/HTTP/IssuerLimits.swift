import HTTPEdge

/// The Issuer's request limits.
enum IssuerLimits {
    static let maxBodyBytes = EdgeLimits.standard.maxBodyBytes
    /// Longest username, password, client id, token... we look at.
    static let maxFieldBytes = 8 * 1024
}
