import SharedJWT
import Synchronization

/// Tokens whose signature was already checked, so a hot token skips the RSA work.
///
/// Bounded with two generations: when the current one is full it becomes the previous
/// one and the older entries go; a hit in the previous generation is promoted. Each entry
/// remembers the exact key object that verified it, so it dies with that key.
final class VerifiedTokenCache: Sendable {
    struct Entry: Sendable {
        var claims: JWTClaims
        var kid: String
        var key: RSAPublicKey

        /// Takes `other`'s copies of the values every token of one issuer repeats (issuer,
        /// audience, client, scope, roles, kid) when they are equal, so that a full cache
        /// holds one copy of each instead of one per token.
        mutating func share(_ other: Entry) {
            if self.kid == other.kid { self.kid = other.kid }
            if self.claims.issuer == other.claims.issuer { self.claims.issuer = other.claims.issuer }
            if self.claims.audience == other.claims.audience { self.claims.audience = other.claims.audience }
            if self.claims.clientID == other.claims.clientID { self.claims.clientID = other.claims.clientID }
            if self.claims.scope == other.claims.scope { self.claims.scope = other.claims.scope }
            if self.claims.roles == other.claims.roles { self.claims.roles = other.claims.roles }
        }
    }

    private struct Generations {
        var current: [TokenDigest: Entry] = [:]
        var previous: [TokenDigest: Entry] = [:]
        /// The last entry stored, whose strings the next one shares when equal.
        var last: Entry?
    }

    private let generationSize: Int
    private let state = Mutex(Generations())

    init(capacity: Int) {
        self.generationSize = max(1, capacity / 2)
    }

    func get(_ digest: TokenDigest) -> Entry? {
        self.state.withLock { state in
            if let entry = state.current[digest] { return entry }
            guard let entry = state.previous.removeValue(forKey: digest) else { return nil }
            Self.insert(entry, for: digest, into: &state, limit: self.generationSize)
            return entry
        }
    }

    func insert(_ entry: Entry, for digest: TokenDigest) {
        self.state.withLock { Self.insert(entry, for: digest, into: &$0, limit: self.generationSize) }
    }

    func remove(_ digest: TokenDigest) {
        self.state.withLock { state in
            state.current.removeValue(forKey: digest)
            state.previous.removeValue(forKey: digest)
        }
    }

    var count: Int {
        self.state.withLock { $0.current.count + $0.previous.count }
    }

    private static func insert(_ entry: Entry, for digest: TokenDigest, into state: inout Generations, limit: Int) {
        if state.current.count >= limit {
            state.previous = state.current
            state.current = [:]
            state.current.reserveCapacity(limit)
        }
        var entry = entry
        if let last = state.last { entry.share(last) }
        state.last = entry
        state.current[digest] = entry
    }
}
