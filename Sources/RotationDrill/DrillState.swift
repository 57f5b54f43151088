import Foundation

/// Everything the traffic tasks share: tokens to use, counters, and the moments the report
/// is about. One actor, so the counts are exact.
actor DrillState {
    private let clock = ContinuousClock()

    // Tokens
    private(set) var fresh: DrillToken?
    private var old: DrillToken?
    private var lastTokenByKid: [String: DrillToken] = [:]

    // Phases
    private(set) var rotatedAt: ContinuousClock.Instant?
    private(set) var retireStartedAt: ContinuousClock.Instant?
    private(set) var oldKid: String?
    private(set) var newKid: String?

    // Counters
    private(set) var sent: [Stream: Int] = [:]
    private(set) var accepted: [Stream: Int] = [:]
    /// Requests that should have been accepted and were not, by kind.
    private(set) var lost: [String: Int] = [:]
    /// Old-kid tokens refused after the emergency retire: the point of the retire.
    private(set) var expectedRefusals: [String: Int] = [:]
    /// Old tokens not sent because they had expired: expiry is not a rotation problem.
    private(set) var skippedExpired = 0
    /// Refresh and login errors at the Issuer (not greet requests), by kind.
    private(set) var issuerErrors: [String: Int] = [:]

    // Events
    private(set) var firstNewKidAcceptedAt: ContinuousClock.Instant?
    private(set) var oldRefusedAt: ContinuousClock.Instant?
    private(set) var oldRefusedWith: String?
    private(set) var acceptedAfterRefusal = 0
    private(set) var oldExpiredBeforeRetire = false

    func setFresh(_ token: DrillToken) {
        self.fresh = token
        self.lastTokenByKid[token.kid] = token
    }

    func issuerError(_ kind: String) {
        self.issuerErrors[kind, default: 0] += 1
    }

    /// The token a stream sends next, or nil when there is none worth sending.
    func token(for stream: Stream) -> DrillToken? {
        let now = Date().timeIntervalSince1970
        switch stream {
        case .fresh:
            return self.fresh
        case .old:
            if self.rotatedAt == nil {
                // Before the rotation, "old" is a token kept as long as it lives, then the latest.
                if let old = self.old, old.expiresAt - now > 1 { return old }
                self.old = self.fresh
                return self.old
            }
            guard let old = self.old else { return nil }
            if self.retireStartedAt != nil { return old }  // sent until refused, whatever its age
            if now >= old.expiresAt - 0.5 {
                self.skippedExpired += 1
                return nil
            }
            return old
        }
    }

    /// From now on fresh tokens carry `newKid`; the old stream keeps the latest `oldKid` token.
    func markRotated(oldKid: String, newKid: String) {
        self.rotatedAt = self.clock.now
        self.oldKid = oldKid
        self.newKid = newKid
        if let latest = self.lastTokenByKid[oldKid] { self.old = latest }
    }

    func markRetireStarted() {
        self.retireStartedAt = self.clock.now
        if let old = self.old, Date().timeIntervalSince1970 >= old.expiresAt { self.oldExpiredBeforeRetire = true }
    }

    func record(_ stream: Stream, token: DrillToken, outcome: GreetOutcome, sentAt: ContinuousClock.Instant) {
        let now = self.clock.now
        self.sent[stream, default: 0] += 1
        // A request sent after the retire began, with a token of the retired key, may be refused.
        let retiredKidTraffic = self.retireStartedAt.map { sentAt >= $0 } == true && token.kid == self.oldKid
        switch outcome {
        case .accepted:
            self.accepted[stream, default: 0] += 1
            if token.kid == self.newKid, self.firstNewKidAcceptedAt == nil { self.firstNewKidAcceptedAt = now }
            if retiredKidTraffic, self.oldRefusedAt != nil { self.acceptedAfterRefusal += 1 }
        case .refused(let kind):
            if retiredKidTraffic {
                self.expectedRefusals[kind, default: 0] += 1
                if self.oldRefusedAt == nil {
                    self.oldRefusedAt = now
                    self.oldRefusedWith = kind
                }
            } else {
                self.lost["\(stream.rawValue) token: \(kind)", default: 0] += 1
            }
        }
    }
}
