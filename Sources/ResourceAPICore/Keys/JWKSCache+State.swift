import SharedJWT

extension JWKSCache {
    /// What the cache knows, behind `JWKSCache.state`'s lock.
    struct State {
        var source: KeySource?
        var validator: JWTValidator?
        var keys: [String: RSAPublicKey] = [:]
        /// Clock time of the last 200 or 304, nil before the first.
        var lastGood: Double?
        var freshUntil: Double = 0
        var etag: String?
        /// Dropped by the revocation feed; refused even if a later fetch still lists them.
        var retired: Set<String> = []
        /// `kid`s just looked up in vain, and until when that answer holds.
        var unknownKids: [String: Double] = [:]
        var lastTriggeredFetch: Double = -.infinity
        var inflight: Task<Void, Never>?
        var consecutiveFailures = 0
        var nextAttempt: Double = 0
        var loggedSkips: Set<String> = []
        var fetchCount = 0

        func isUsable(now: Double, maxStale: Double) -> Bool {
            guard self.source != nil, let lastGood = self.lastGood else { return false }
            return now - lastGood <= maxStale
        }
    }
}
