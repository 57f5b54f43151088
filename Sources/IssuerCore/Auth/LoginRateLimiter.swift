import Synchronization

/// Failure counts kept where every replica sees them (the PostgreSQL store).
public protocol SharedLoginFailures: Sendable {
    func loginRetryAfter(key: String, maxFailures: Int, window: Double, now: Double) async throws -> Int?
    func recordLoginFailure(key: String, window: Double, now: Double) async throws
    func clearLoginFailures(key: String) async throws
}

/// Counts failed logins per key (a username, or a client address) in a fixed window.
/// After `maxFailures` failures in `window` seconds, further attempts get 429 until the
/// window ends. In memory (each replica limits on its own) unless given a shared backend,
/// where the counts are the database's and hold across replicas.
final class LoginRateLimiter: Sendable {
    private struct Bucket {
        var windowStart: Double
        var failures: Int
    }

    let maxFailures: Int
    let window: Double
    private let shared: (any SharedLoginFailures)?
    /// Keeps the user and address limiters apart in the shared table.
    private let sharedPrefix: String
    private let buckets = Mutex<[String: Bucket]>([:])

    init(maxFailures: Int, window: Double, shared: (any SharedLoginFailures)? = nil, sharedPrefix: String = "") {
        self.maxFailures = maxFailures
        self.window = window
        self.shared = shared
        self.sharedPrefix = sharedPrefix
    }

    /// Seconds to wait when `key` is blocked, nil when allowed.
    func retryAfter(key: String, now: Double) async throws -> Int? {
        if let shared {
            return try await shared.loginRetryAfter(key: sharedPrefix + key, maxFailures: maxFailures, window: window, now: now)
        }
        return buckets.withLock { buckets in
            guard let bucket = buckets[key], now < bucket.windowStart + window, bucket.failures >= maxFailures else { return nil }
            return max(1, Int((bucket.windowStart + window - now).rounded(.up)))
        }
    }

    func recordFailure(key: String, now: Double) async throws {
        if let shared {
            return try await shared.recordLoginFailure(key: sharedPrefix + key, window: window, now: now)
        }
        buckets.withLock { buckets in
            if var bucket = buckets[key], now < bucket.windowStart + window {
                bucket.failures += 1
                buckets[key] = bucket
            } else {
                buckets[key] = Bucket(windowStart: now, failures: 1)
            }
            // Keep memory bounded under a flood of random usernames.
            if buckets.count > 100_000 {
                buckets = buckets.filter { now < $0.value.windowStart + window }
            }
        }
    }

    /// A successful login clears the username's count (callers do not clear addresses).
    func recordSuccess(key: String) async throws {
        if let shared {
            return try await shared.clearLoginFailures(key: sharedPrefix + key)
        }
        _ = buckets.withLock { $0.removeValue(forKey: key) }
    }
}
