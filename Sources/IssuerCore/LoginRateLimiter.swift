import Synchronization

/// Counts failed logins per key (a username, or a client address) in a fixed window.
/// After `maxFailures` failures in `window` seconds, further attempts get 429 until the
/// window ends. In memory: each replica limits on its own.
final class LoginRateLimiter: Sendable {
    private struct Bucket {
        var windowStart: Double
        var failures: Int
    }

    let maxFailures: Int
    let window: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    init(maxFailures: Int, window: Double) {
        self.maxFailures = maxFailures
        self.window = window
    }

    /// Seconds to wait when `key` is blocked, nil when allowed.
    func retryAfter(key: String, now: Double) -> Int? {
        buckets.withLock { buckets in
            guard let bucket = buckets[key], now < bucket.windowStart + window, bucket.failures >= maxFailures else { return nil }
            return max(1, Int((bucket.windowStart + window - now).rounded(.up)))
        }
    }

    func recordFailure(key: String, now: Double) {
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
    func recordSuccess(key: String) {
        _ = buckets.withLock { $0.removeValue(forKey: key) }
    }
}
