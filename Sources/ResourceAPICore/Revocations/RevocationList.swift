import Synchronization

/// Revoked `jti`s, each kept until its token's `exp` (plus leeway) has passed.
public final class RevocationList: Sendable {
    struct State {
        var revoked: [String: Int64] = [:]
        var cursor: Int?
    }

    private let state = Mutex(State())
    private let leeway: Int64

    init(leeway: Int64) {
        self.leeway = leeway
    }

    public func isRevoked(_ jti: String) -> Bool {
        self.state.withLock { $0.revoked[jti] != nil }
    }

    public var cursor: Int? {
        self.state.withLock { $0.cursor }
    }

    public var count: Int {
        self.state.withLock { $0.revoked.count }
    }

    /// Adds a page of the feed and forgets entries whose tokens can no longer be used.
    func apply(cursor: Int?, revoked: [(jti: String, exp: Int64)], now: Double) -> Int {
        let cutoff = Int64(now.rounded(.down)) - self.leeway
        return self.state.withLock { state in
            for entry in revoked where entry.exp >= cutoff {
                state.revoked[entry.jti] = entry.exp
            }
            state.revoked = state.revoked.filter { $0.value >= cutoff }
            if let cursor { state.cursor = cursor }
            return state.revoked.count
        }
    }
}
