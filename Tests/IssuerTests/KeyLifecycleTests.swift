import Foundation
import SharedJWT
import Testing

@Suite("Key lifecycle (pure model, injected time)")
struct KeyLifecycleTests {
    let policy = KeyLifecyclePolicy(accessTTL: 300, jwksMaxAge: 60)
    let start = 1_000.0

    func states(_ lifecycle: KeyLifecycle) -> [String: KeyState] {
        Dictionary(uniqueKeysWithValues: lifecycle.keys.map { ($0.kid, $0.state) })
    }

    @Test func bootstrapHasOneActiveAndOneNext() {
        let lifecycle = KeyLifecycle.bootstrap(activeKID: "A", nextKID: "B", now: start)
        #expect(states(lifecycle) == ["A": .active, "B": .next])
        #expect(lifecycle.active?.kid == "A")
        #expect(lifecycle.next?.kid == "B")
        #expect(lifecycle.published.map(\.kid) == ["A", "B"])
    }

    @Test func rotateRefusesUntilNextPublishedForJWKSMaxAge() throws {
        var lifecycle = KeyLifecycle.bootstrap(activeKID: "A", nextKID: "B", now: start)
        #expect(throws: KeyLifecycleError.rotationTooEarly(waitSeconds: 60)) {
            try lifecycle.rotate(newNextKID: "C", now: start, policy: policy)
        }
        #expect(throws: KeyLifecycleError.rotationTooEarly(waitSeconds: 1)) {
            try lifecycle.rotate(newNextKID: "C", now: start + 59, policy: policy)
        }
        #expect(states(lifecycle) == ["A": .active, "B": .next])  // unchanged by the refusals
        try lifecycle.rotate(newNextKID: "C", now: start + 60, policy: policy)
        #expect(states(lifecycle) == ["A": .retiring, "B": .active, "C": .next])
        #expect(lifecycle.keys.first { $0.kid == "A" }?.deactivatedAt == start + 60)
        #expect(lifecycle.keys.first { $0.kid == "B" }?.activatedAt == start + 60)
    }

    @Test func forcedRotationIgnoresTheWait() throws {
        var lifecycle = KeyLifecycle.bootstrap(activeKID: "A", nextKID: "B", now: start)
        try lifecycle.rotate(newNextKID: "C", now: start + 1, policy: policy, force: true)
        #expect(states(lifecycle) == ["A": .retiring, "B": .active, "C": .next])
        // The fresh next key restarts the wait.
        #expect(lifecycle.rotationWait(now: start + 1, policy: policy) == 60)
    }

    @Test func retiringKeyRetiresAfterAccessTTLPlusJWKSMaxAge() throws {
        var lifecycle = KeyLifecycle.bootstrap(activeKID: "A", nextKID: "B", now: start)
        try lifecycle.rotate(newNextKID: "C", now: start + 60, policy: policy)
        let stopped = start + 60
        #expect(lifecycle.tick(now: stopped + 359, policy: policy, makeKID: { "X" }) == false)
        #expect(states(lifecycle)["A"] == .retiring)
        #expect(lifecycle.tick(now: stopped + 360, policy: policy, makeKID: { "X" }) == true)
        #expect(states(lifecycle)["A"] == .retired)
        #expect(!lifecycle.published.contains { $0.kid == "A" })
        // A planned retirement is not announced on the feed.
        #expect(lifecycle.emergencyRetiredKIDs(now: stopped + 361, policy: policy).isEmpty)
    }

    @Test func emergencyRetireOfActivePromotesNextAndCreatesFreshNext() throws {
        var lifecycle = KeyLifecycle.bootstrap(activeKID: "A", nextKID: "B", now: start)
        let used = try lifecycle.retire(kid: "A", freshNextKID: "C", now: start + 5)
        #expect(used)
        #expect(states(lifecycle) == ["A": .retired, "B": .active, "C": .next])
        #expect(lifecycle.emergencyRetiredKIDs(now: start + 6, policy: policy) == ["A"])
        // Announced until every token it could have signed has expired.
        #expect(lifecycle.emergencyRetiredKIDs(now: start + 5 + 360, policy: policy).isEmpty)
    }

    @Test func emergencyRetireOfNextOrRetiringKey() throws {
        var lifecycle = KeyLifecycle.bootstrap(activeKID: "A", nextKID: "B", now: start)
        #expect(try lifecycle.retire(kid: "B", freshNextKID: "C", now: start))
        #expect(states(lifecycle) == ["A": .active, "B": .retired, "C": .next])
        try lifecycle.rotate(newNextKID: "D", now: start + 60, policy: policy)
        #expect(try lifecycle.retire(kid: "A", freshNextKID: "E", now: start + 61) == false)
        #expect(states(lifecycle) == ["A": .retired, "B": .retired, "C": .active, "D": .next])
        #expect(Set(lifecycle.emergencyRetiredKIDs(now: start + 62, policy: policy)) == ["A", "B"])
    }

    @Test func retireRejectsUnknownAndAlreadyRetiredKeys() throws {
        var lifecycle = KeyLifecycle.bootstrap(activeKID: "A", nextKID: "B", now: start)
        #expect(throws: KeyLifecycleError.unknownKey("Z")) { try lifecycle.retire(kid: "Z", freshNextKID: "C", now: start) }
        try lifecycle.retire(kid: "A", freshNextKID: "C", now: start)
        #expect(throws: KeyLifecycleError.alreadyRetired("A")) { try lifecycle.retire(kid: "A", freshNextKID: "D", now: start) }
    }

    @Test func scheduledRotationWaitsForTheScheduleAndThePublicationDelay() throws {
        let scheduled = KeyLifecyclePolicy(accessTTL: 300, jwksMaxAge: 60, rotateEvery: 1000)
        var lifecycle = KeyLifecycle.bootstrap(activeKID: "A", nextKID: "B", now: start)
        var counter = 0
        let make = { () -> String in
            counter += 1
            return "K\(counter)"
        }
        #expect(lifecycle.tick(now: start + 999, policy: scheduled, makeKID: make) == false)
        #expect(counter == 0)
        #expect(lifecycle.tick(now: start + 1000, policy: scheduled, makeKID: make) == true)
        #expect(states(lifecycle) == ["A": .retiring, "B": .active, "K1": .next])
        // Next scheduled rotation 1000 s after B became active.
        #expect(lifecycle.isRotationDue(now: start + 1999, policy: scheduled) == false)
        #expect(lifecycle.isRotationDue(now: start + 2000, policy: scheduled) == true)
    }

    @Test func everyPublishedKeyCoversUnexpiredTokensThroughAPlannedRotation() throws {
        // Walk time forward rotating as soon as allowed; a token signed at t by the
        // active key must find its kid published until t + accessTTL.
        var lifecycle = KeyLifecycle.bootstrap(activeKID: "K0", nextKID: "K1", now: 0)
        var signed: [(kid: String, at: Double)] = []
        var counter = 1
        for t in stride(from: 0.0, through: 3000, by: 10) {
            _ = lifecycle.tick(now: t, policy: policy, makeKID: { "unused" })
            if lifecycle.rotationWait(now: t, policy: policy) == 0 {
                counter += 1
                try lifecycle.rotate(newNextKID: "K\(counter)", now: t, policy: policy)
            }
            if let active = lifecycle.active { signed.append((active.kid, t)) }
            let published = Set(lifecycle.published.map(\.kid))
            for token in signed where token.at + policy.accessTTL > t {
                #expect(published.contains(token.kid), "kid \(token.kid) signed at \(token.at) missing at \(t)")
            }
            // Every signing key was published at least jwksMaxAge before it signed (except the bootstrap key).
            if let active = lifecycle.active, active.kid != "K0" {
                #expect((active.activatedAt ?? 0) - active.publishedAt >= policy.jwksMaxAge)
            }
        }
    }

    @Test func codableRoundTrip() throws {
        var lifecycle = KeyLifecycle.bootstrap(activeKID: "-A", nextKID: "B", now: start)
        try lifecycle.retire(kid: "-A", freshNextKID: "C", now: start + 1)
        let data = try JSONEncoder().encode(lifecycle)
        #expect(try JSONDecoder().decode(KeyLifecycle.self, from: data) == lifecycle)
    }
}
