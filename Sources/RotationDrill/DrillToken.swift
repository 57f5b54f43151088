import SharedJWT

/// An access token with what the drill needs to know about it (read, not verified).
struct DrillToken: Sendable {
    let access: String
    let refresh: String?
    let kid: String
    /// `exp`, seconds since 1970.
    let expiresAt: Double

    init(access: String, refresh: String?) throws(DrillError) {
        guard let jws = try? JWS.parse(access), let kid = jws.header.kid, let exp = jws.claims.expiresAt else {
            throw DrillError.stack("the Issuer returned an access token without a readable kid or exp")
        }
        self.access = access
        self.refresh = refresh
        self.kid = kid
        self.expiresAt = Double(exp)
    }
}
