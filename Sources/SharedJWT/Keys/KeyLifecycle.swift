// The signing-key lifecycle of the contract, as pure values: no files, no clock of its
// own (every decision takes `now`), no key material (keys are known by their kid).
// The Issuer persists a `KeyLifecycle` as keys/keyset.json and generates the RSA keys
// whose kids it passes in here.

/// The state of one signing key.
public enum KeyState: String, Sendable, Codable, CaseIterable {
    /// Published in the JWK Set, not signing yet.
    case next
    /// The one key that signs.
    case active
    /// Published, no longer signing: tokens it signed may still be alive.
    case retiring
    /// No longer published.
    case retired
}

/// One key's record. Times are seconds since 1970.
public struct ManagedKey: Sendable, Codable, Equatable {
    public var kid: String
    public var state: KeyState
    /// When the key was created and first published (as `next`).
    public var publishedAt: Double
    /// When it started signing.
    public var activatedAt: Double?
    /// When it stopped signing (moved to `retiring`, or retired while active).
    public var deactivatedAt: Double?
    /// When it stopped being published.
    public var retiredAt: Double?
    /// Retired by `keys retire` (a leak): announced on the revocation feed.
    public var emergency: Bool

    public init(
        kid: String,
        state: KeyState,
        publishedAt: Double,
        activatedAt: Double? = nil,
        deactivatedAt: Double? = nil,
        retiredAt: Double? = nil,
        emergency: Bool = false
    ) {
        self.kid = kid
        self.state = state
        self.publishedAt = publishedAt
        self.activatedAt = activatedAt
        self.deactivatedAt = deactivatedAt
        self.retiredAt = retiredAt
        self.emergency = emergency
    }
}

/// The timing rules, in seconds.
public struct KeyLifecyclePolicy: Sendable, Equatable {
    /// Lifetime of an access token.
    public var accessTTL: Double
    /// How long a resource server may cache the JWK Set.
    public var jwksMaxAge: Double
    /// Scheduled rotation period; nil: off.
    public var rotateEvery: Double?

    public init(accessTTL: Double, jwksMaxAge: Double, rotateEvery: Double? = nil) {
        self.accessTTL = accessTTL
        self.jwksMaxAge = jwksMaxAge
        self.rotateEvery = rotateEvery
    }

    /// How long a key stays published after it stopped signing: every token it signed
    /// has expired (access-ttl), plus one JWK Set cache lifetime of margin.
    public var retiringPeriod: Double { accessTTL + jwksMaxAge }
}

public enum KeyLifecycleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The next key has not been published for `jwks-max-age` yet.
    case rotationTooEarly(waitSeconds: Double)
    case noActiveKey
    case unknownKey(String)
    case alreadyRetired(String)
    case duplicateKeyID(String)

    public var description: String {
        switch self {
        case .rotationTooEarly(let wait):
            let seconds = Int(wait.rounded(.up))
            return "the next key has not been published for jwks-max-age yet; retry in \(seconds)s or force the rotation"
        case .noActiveKey: return "the key set has no active key"
        case .unknownKey(let kid): return "no key with kid \(kid)"
        case .alreadyRetired(let kid): return "key \(kid) is already retired"
        case .duplicateKeyID(let kid): return "a key with kid \(kid) already exists"
        }
    }
}

/// The whole key set and its transitions.
public struct KeyLifecycle: Sendable, Codable, Equatable {
    /// Every key ever known, oldest first (retired ones kept for audit).
    public var keys: [ManagedKey]

    public init(keys: [ManagedKey]) {
        self.keys = keys
    }

    /// The first start: one active key and one next key.
    public static func bootstrap(activeKID: String, nextKID: String, now: Double) -> KeyLifecycle {
        KeyLifecycle(keys: [
            ManagedKey(kid: activeKID, state: .active, publishedAt: now, activatedAt: now),
            ManagedKey(kid: nextKID, state: .next, publishedAt: now),
        ])
    }

    public var active: ManagedKey? { keys.first { $0.state == .active } }
    public var next: ManagedKey? { keys.last { $0.state == .next } }
    /// Keys that belong in the JWK Set: next, active, retiring.
    public var published: [ManagedKey] { keys.filter { $0.state != .retired } }

    /// Kids retired in an emergency whose tokens may still be unexpired: the feed's `retired_kids`.
    public func emergencyRetiredKIDs(now: Double, policy: KeyLifecyclePolicy) -> [String] {
        keys.filter { key in
            guard key.state == .retired, key.emergency, let retiredAt = key.retiredAt else { return false }
            return retiredAt + policy.accessTTL + policy.jwksMaxAge > now
        }.map(\.kid)
    }

    /// Seconds to wait before a planned rotation is allowed; 0 when it is allowed now.
    public func rotationWait(now: Double, policy: KeyLifecyclePolicy) -> Double {
        guard let next else { return 0 }
        return max(0, next.publishedAt + policy.jwksMaxAge - now)
    }

    /// `rotate`: next becomes active, active becomes retiring, `newNextKID` becomes next.
    /// Refuses while next has been published for less than `jwks-max-age`, unless forced.
    public mutating func rotate(newNextKID: String, now: Double, policy: KeyLifecyclePolicy, force: Bool = false) throws {
        guard !keys.contains(where: { $0.kid == newNextKID }) else { throw KeyLifecycleError.duplicateKeyID(newNextKID) }
        let wait = rotationWait(now: now, policy: policy)
        if wait > 0 && !force { throw KeyLifecycleError.rotationTooEarly(waitSeconds: wait) }
        for index in keys.indices where keys[index].state == .active {
            keys[index].state = .retiring
            keys[index].deactivatedAt = now
        }
        if let nextIndex = keys.lastIndex(where: { $0.state == .next }) {
            keys[nextIndex].state = .active
            keys[nextIndex].activatedAt = now
            keys.append(ManagedKey(kid: newNextKID, state: .next, publishedAt: now))
        } else {
            // No next key (should not happen): the fresh key has to sign at once.
            keys.append(ManagedKey(kid: newNextKID, state: .active, publishedAt: now, activatedAt: now))
        }
    }

    /// Emergency retire (`keys retire KID`): the key leaves the set at once and is
    /// announced on the feed. Retiring the active key promotes next at once; whenever
    /// the next key was consumed or retired, `freshNextKID` becomes the new next key.
    /// Returns whether `freshNextKID` was used.
    @discardableResult
    public mutating func retire(kid: String, freshNextKID: String, now: Double) throws -> Bool {
        guard let index = keys.firstIndex(where: { $0.kid == kid }) else { throw KeyLifecycleError.unknownKey(kid) }
        let previous = keys[index].state
        guard previous != .retired else { throw KeyLifecycleError.alreadyRetired(kid) }
        guard !keys.contains(where: { $0.kid == freshNextKID }) else { throw KeyLifecycleError.duplicateKeyID(freshNextKID) }
        keys[index].state = .retired
        keys[index].retiredAt = now
        keys[index].emergency = true
        if previous == .active { keys[index].deactivatedAt = now }
        switch previous {
        case .active:
            if let nextIndex = keys.lastIndex(where: { $0.state == .next }) {
                keys[nextIndex].state = .active
                keys[nextIndex].activatedAt = now
                keys.append(ManagedKey(kid: freshNextKID, state: .next, publishedAt: now))
            } else {
                keys.append(ManagedKey(kid: freshNextKID, state: .active, publishedAt: now, activatedAt: now))
            }
            return true
        case .next:
            keys.append(ManagedKey(kid: freshNextKID, state: .next, publishedAt: now))
            return true
        case .retiring, .retired:
            return false
        }
    }

    /// Time-driven changes: retiring keys retire after `access-ttl + jwks-max-age`, and,
    /// with `rotateEvery`, a planned rotation once the active key is old enough and the
    /// next key has been published long enough. Returns whether anything changed.
    /// `makeKID` is called only when a rotation needs a fresh key.
    @discardableResult
    public mutating func tick(now: Double, policy: KeyLifecyclePolicy, makeKID: () throws -> String) rethrows -> Bool {
        var changed = false
        for index in keys.indices where keys[index].state == .retiring {
            let since = keys[index].deactivatedAt ?? keys[index].publishedAt
            if since + policy.retiringPeriod <= now {
                keys[index].state = .retired
                keys[index].retiredAt = now
                changed = true
            }
        }
        if isRotationDue(now: now, policy: policy) {
            let kid = try makeKID()
            if (try? rotate(newNextKID: kid, now: now, policy: policy)) != nil { changed = true }
        }
        return changed
    }

    /// Whether the `rotateEvery` schedule asks for a rotation now (and it is allowed).
    public func isRotationDue(now: Double, policy: KeyLifecyclePolicy) -> Bool {
        guard let every = policy.rotateEvery, let active else { return false }
        let since = active.activatedAt ?? active.publishedAt
        return since + every <= now && rotationWait(now: now, policy: policy) == 0
    }
}
