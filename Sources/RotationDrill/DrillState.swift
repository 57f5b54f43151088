import Foundation

/// Everything the traffic tasks share: tokens to use, counters per ResourceAPI, the timeline,
/// and the moments the report is about. One actor, so the counts are exact.
actor DrillState {
    private let clock = ContinuousClock()
    /// When the traffic started: the zero of the timeline.
    let startedAt: ContinuousClock.Instant

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
    private(set) var resources: [ResourceTally]
    private(set) var sent: [Stream: Int] = [:]
    private(set) var accepted: [Stream: Int] = [:]
    /// Old tokens not sent because they had expired: expiry is not a rotation problem.
    private(set) var skippedExpired = 0
    /// Refresh and login errors at the Issuer (not greet requests), by kind.
    private(set) var issuerErrors: [String: Int] = [:]
    private(set) var timeline = DrillTimeline()
    private(set) var oldExpiredBeforeRetire = false
    /// Kids first seen (seconds since the start) at the Issuer's JWK Set and at each
    /// ResourceAPI's `/readyz`; what was there at the first look counts as 0.
    private var issuerKidsSeen: [String: Double] = [:]
    private var resourceKidsSeen: [[String: Double]]

    init(resourceURLs: [String]) {
        self.startedAt = self.clock.now
        self.resources = resourceURLs.map { ResourceTally(url: $0) }
        self.resourceKidsSeen = resourceURLs.map { _ in [:] }
    }

    /// Seconds since the traffic started.
    func elapsed(at instant: ContinuousClock.Instant? = nil) -> Double {
        Drill.seconds((instant ?? self.clock.now) - self.startedAt)
    }

    func setFresh(_ token: DrillToken) {
        if let newKid = self.newKid, token.kid == newKid, self.lastTokenByKid[newKid] == nil {
            self.timeline.mark("new_kid_first_signed", at: self.elapsed(), detail: newKid)
        }
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
        self.timeline.mark("rotated", at: self.elapsed(), detail: "\(oldKid) -> \(newKid)")
        if let seen = self.issuerKidsSeen[newKid] {
            self.timeline.mark("new_kid_published", at: seen, detail: seen == 0 ? "\(newKid) (published before the drill)" : newKid)
        }
        for (index, seen) in self.resourceKidsSeen.enumerated() {
            if let at = seen[newKid] { self.timeline.mark("new_kid_known", at: at, resourceURL: self.resources[index].url, detail: newKid) }
        }
    }

    func markRetireStarted() {
        self.retireStartedAt = self.clock.now
        if let old = self.old, Date().timeIntervalSince1970 >= old.expiresAt { self.oldExpiredBeforeRetire = true }
        self.timeline.mark("retire_started", at: self.elapsed(), detail: self.oldKid)
    }

    /// An event of the foreground (the retire command done, the kid on the feed).
    func mark(_ event: String, detail: String? = nil) {
        self.timeline.mark(event, at: self.elapsed(), detail: detail)
    }

    /// Kids seen now at the Issuer (`resource` nil) or at a ResourceAPI; first sightings are
    /// kept, and once the new kid is known they are events of the timeline.
    func sawKids(_ kids: [String], resource: Int?) {
        let now = self.elapsed()
        let first = resource.map { self.resourceKidsSeen[$0].isEmpty } ?? self.issuerKidsSeen.isEmpty
        for kid in kids {
            let at = first ? 0 : now
            if let resource {
                guard self.resourceKidsSeen[resource][kid] == nil else { continue }
                self.resourceKidsSeen[resource][kid] = at
                if kid == self.newKid { self.timeline.mark("new_kid_known", at: at, resourceURL: self.resources[resource].url, detail: kid) }
            } else {
                guard self.issuerKidsSeen[kid] == nil else { continue }
                self.issuerKidsSeen[kid] = at
                if kid == self.newKid { self.timeline.mark("new_kid_published", at: at, detail: kid) }
            }
        }
    }

    /// Counts a tick at which `resource` already had `Drill.maxInFlight` requests of a stream waiting.
    func noteNotSent(resource: Int) {
        self.resources[resource].notSentClientBehind += 1
    }

    func record(resource: Int, _ stream: Stream, token: DrillToken, outcome: GreetOutcome, sentAt: ContinuousClock.Instant) {
        let now = self.clock.now
        let at = self.elapsed(at: now)
        self.sent[stream, default: 0] += 1
        self.resources[resource].sent += 1
        // A request sent after the retire began, with a token of the retired key, may be refused.
        let retiredKidTraffic = self.retireStartedAt.map { sentAt >= $0 } == true && token.kid == self.oldKid
        switch outcome {
        case .accepted:
            self.accepted[stream, default: 0] += 1
            self.resources[resource].accepted += 1
            self.timeline.count(resource: resource, at: at, .accepted(kid: token.kid))
            if token.kid == self.newKid, self.resources[resource].firstNewKidAcceptedAt == nil {
                self.resources[resource].firstNewKidAcceptedAt = now
                self.timeline.mark("new_kid_first_accepted", at: at, resourceURL: self.resources[resource].url, detail: token.kid)
            }
            if retiredKidTraffic, self.resources[resource].oldRefusedAt != nil { self.resources[resource].acceptedAfterRefusal += 1 }
        case .refused(let kind):
            if retiredKidTraffic {
                self.resources[resource].expectedRefusals[kind, default: 0] += 1
                self.timeline.count(resource: resource, at: at, .expectedRefusal)
                if self.resources[resource].oldRefusedAt == nil {
                    self.resources[resource].oldRefusedAt = now
                    self.resources[resource].oldRefusedWith = kind
                    self.timeline.mark("retired_kid_first_refused", at: at, resourceURL: self.resources[resource].url, detail: kind)
                }
            } else {
                self.resources[resource].lost["\(stream.rawValue) token: \(kind)", default: 0] += 1
                self.timeline.count(resource: resource, at: at, .lost)
            }
        }
    }

    /// The end of the traffic, marked on the timeline.
    func finish() {
        self.timeline.mark("end", at: self.elapsed())
    }
}
