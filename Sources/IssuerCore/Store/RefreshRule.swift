// The refresh-token rotation rule of the contract, as a pure function over the stored
// row, the way `SharedJWT/KeyLifecycle` is a pure model of the key rules: no database,
// no clock of its own. Every store reads the presented token's row inside the write
// transaction that holds it still (SQLite: the one writer; PostgreSQL: the row lock),
// asks `RefreshRule.decide`, and carries out the answer in the same transaction.

/// What the rotation rule needs of a stored refresh token.
public struct StoredRefreshToken: Sendable, Equatable {
    /// The session: every token rotated from the same login.
    public var family: String
    public var expiresAt: Double
    /// When it was rotated; nil while unused.
    public var usedAt: Double?
    public var revoked: Bool

    public init(family: String, expiresAt: Double, usedAt: Double?, revoked: Bool) {
        self.family = family
        self.expiresAt = expiresAt
        self.usedAt = usedAt
        self.revoked = revoked
    }
}

/// What a store does with a presented refresh token.
public enum RefreshDecision: Sendable, Equatable {
    /// Live and unused: mark it used and store its successor.
    case rotate
    /// Unknown, revoked or expired: change nothing, refuse (`invalid`).
    case refuse
    /// Already used: a replay. Revoke the whole family, then refuse (`reused`).
    case revokeFamily(String)
}

/// The rotation rule: revoked → refuse, already used → revoke the family (a replay),
/// expired → refuse, otherwise rotate.
public enum RefreshRule {
    /// The decision for the row of the presented token (nil: no such token) at `now`.
    /// A token expires at `expiresAt` exactly: it is refused from that instant on.
    /// A revoked token is refused before the used check: a replay of a token whose
    /// family is already revoked changes nothing more.
    public static func decide(_ row: StoredRefreshToken?, now: Double) -> RefreshDecision {
        guard let row else { return .refuse }
        if row.revoked { return .refuse }
        if row.usedAt != nil { return .revokeFamily(row.family) }
        if row.expiresAt <= now { return .refuse }
        return .rotate
    }
}
