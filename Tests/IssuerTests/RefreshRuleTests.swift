import Testing

@testable import IssuerCore

/// `RefreshRule.decide`, the rotation rule every store applies: each branch, their order,
/// and the expiry boundary.
@Suite struct RefreshRuleTests {
    static let now: Double = 1_800_000_000

    static func row(expiresAt: Double = now + 100, usedAt: Double? = nil, revoked: Bool = false) -> StoredRefreshToken {
        StoredRefreshToken(family: "fam", expiresAt: expiresAt, usedAt: usedAt, revoked: revoked)
    }

    @Test func unknownTokenIsRefused() {
        #expect(RefreshRule.decide(nil, now: Self.now) == .refuse)
    }

    @Test func liveUnusedTokenRotates() {
        #expect(RefreshRule.decide(Self.row(), now: Self.now) == .rotate)
    }

    @Test func usedTokenIsAReplayThatRevokesItsFamily() {
        #expect(RefreshRule.decide(Self.row(usedAt: Self.now - 1), now: Self.now) == .revokeFamily("fam"))
        // Used at this very instant (a racing duplicate) is a replay all the same.
        #expect(RefreshRule.decide(Self.row(usedAt: Self.now), now: Self.now) == .revokeFamily("fam"))
    }

    @Test func revokedTokenIsRefused() {
        #expect(RefreshRule.decide(Self.row(revoked: true), now: Self.now) == .refuse)
    }

    /// Revoked wins over used: the replay of a token whose family is already revoked
    /// changes nothing more (and is not counted as a second reuse).
    @Test func revokedAndUsedIsRefusedNotAReplay() {
        #expect(RefreshRule.decide(Self.row(usedAt: Self.now - 5, revoked: true), now: Self.now) == .refuse)
    }

    @Test func expiryBoundary() {
        // Expired from `expiresAt` on, inclusive.
        #expect(RefreshRule.decide(Self.row(expiresAt: Self.now), now: Self.now) == .refuse)
        #expect(RefreshRule.decide(Self.row(expiresAt: Self.now - 1), now: Self.now) == .refuse)
        #expect(RefreshRule.decide(Self.row(expiresAt: Self.now.nextUp), now: Self.now) == .rotate)
        #expect(RefreshRule.decide(Self.row(expiresAt: Self.now + 0.001), now: Self.now) == .rotate)
    }

    /// Used wins over expired: replaying an expired, already rotated token still ends the
    /// session (the thief may hold its live successor).
    @Test func usedAndExpiredIsStillAReplay() {
        #expect(RefreshRule.decide(Self.row(expiresAt: Self.now - 10, usedAt: Self.now - 20), now: Self.now) == .revokeFamily("fam"))
    }

    @Test func revokedAndExpiredIsRefused() {
        #expect(RefreshRule.decide(Self.row(expiresAt: Self.now - 10, revoked: true), now: Self.now) == .refuse)
    }
}
