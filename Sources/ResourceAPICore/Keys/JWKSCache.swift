import CurlClient
import Logging
import ServiceLifecycle
import SharedJWT
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The JWK Set cache: a `Service` that discovers the Issuer, keeps the key set fresh in
/// the background, and answers lookups from a snapshot.
///
/// The request path only takes `state`'s lock for a few dictionary operations; no lock is
/// ever held across network I/O. Fetches run in one task at a time (`inflight`), which
/// every request that needs a fetch awaits instead of starting its own.
public final class JWKSCache: Service, Sendable {
    static let maxUnknownKids = 4096
    static let maxKidBytes = 256

    let configuration: ResourceAPIConfiguration
    let client: CurlClient
    let metrics: ResourceAPIMetrics
    let logger: Logger
    let policy = JWKSetPolicy()
    let state = Mutex(State())

    public init(configuration: ResourceAPIConfiguration, client: CurlClient, metrics: ResourceAPIMetrics, logger: Logger) {
        self.configuration = configuration
        self.client = client
        self.metrics = metrics
        self.logger = logger
    }

    private var now: Double { self.configuration.clock() }

    // MARK: Request path

    /// The validator for the expected issuer; nil until discovery succeeded.
    public var validator: JWTValidator? {
        self.state.withLock { $0.validator }
    }

    /// The key for `kid` if the cache holds it now, without any fetch.
    public func cachedKey(for kid: String) -> KeyLookup {
        let now = self.now
        let maxStale = self.configuration.jwksMaxStale.seconds
        return self.state.withLock { state in
            guard state.isUsable(now: now, maxStale: maxStale) else {
                return .unavailable(retryAfter: Self.retryAfter(state, now: now))
            }
            return state.keys[kid].map(KeyLookup.found) ?? .unknown
        }
    }

    /// The key for `kid`; an unknown `kid` triggers at most one fetch per `jwks-min-refresh`,
    /// shared by every request waiting on it.
    public func key(for kid: String) async -> KeyLookup {
        enum Step {
            case done(KeyLookup)
            case wait(Task<Void, Never>)
        }
        let now = self.now
        let maxStale = self.configuration.jwksMaxStale.seconds
        let minRefresh = self.configuration.jwksMinRefresh.seconds
        let step: Step = self.state.withLock { state in
            guard state.isUsable(now: now, maxStale: maxStale) else {
                return .done(.unavailable(retryAfter: Self.retryAfter(state, now: now)))
            }
            if let key = state.keys[kid] { return .done(.found(key)) }
            // Real kids are short (ours are 43-character thumbprints); a huge one is not
            // worth a fetch nor a place in the negative cache.
            if kid.utf8.count > Self.maxKidBytes { return .done(.unknown) }
            if let until = state.unknownKids[kid], until > now { return .done(.unknown) }
            if state.retired.contains(kid) { return .done(.unknown) }
            if let task = state.inflight { return .wait(task) }
            guard now - state.lastTriggeredFetch >= minRefresh else { return .done(.unknown) }
            state.lastTriggeredFetch = now
            return .wait(self.startFetch(&state))
        }
        switch step {
        case .done(let lookup):
            return lookup
        case .wait(let task):
            await task.value
        }

        let after = self.now
        let ttl = self.configuration.effectiveUnknownKidTTL.seconds
        return self.state.withLock { state in
            guard state.isUsable(now: after, maxStale: maxStale) else {
                return .unavailable(retryAfter: Self.retryAfter(state, now: after))
            }
            if let key = state.keys[kid] { return .found(key) }
            if state.unknownKids.count >= Self.maxUnknownKids { state.unknownKids.removeAll(keepingCapacity: true) }
            state.unknownKids[kid] = after + ttl
            return .unknown
        }
    }

    /// Drops keys announced in the revocation feed's `retired_kids`, at once.
    public func retire(_ kids: some Sequence<String>) {
        let dropped: [String] = self.state.withLock { state in
            var dropped: [String] = []
            for kid in kids where !state.retired.contains(kid) {
                state.retired.insert(kid)
                if state.keys.removeValue(forKey: kid) != nil { dropped.append(kid) }
            }
            return dropped
        }
        for kid in dropped {
            self.logger.warning("key retired by the issuer, dropped from the cache", metadata: ["kid": "\(kid)"])
        }
        if !dropped.isEmpty { self.updateGauges() }
    }

    // MARK: Status

    public struct Status: Sendable {
        public var ready: Bool
        public var kids: [String]
        /// Seconds since the last good fetch, nil before the first.
        public var age: Double?
        public var source: KeySource?
        /// Fetches attempted so far (every result).
        public var fetchCount: Int
    }

    public var status: Status {
        let now = self.now
        let maxStale = self.configuration.jwksMaxStale.seconds
        return self.state.withLock { state in
            Status(
                ready: state.isUsable(now: now, maxStale: maxStale),
                kids: state.keys.keys.sorted(),
                age: state.lastGood.map { max(0, now - $0) },
                source: state.source,
                fetchCount: state.fetchCount
            )
        }
    }

    func updateGauges() {
        let status = self.status
        self.metrics.keysKnown.set(Double(status.kids.count))
        if let age = status.age { self.metrics.jwksAgeSeconds.set(age) }
    }

    private static func retryAfter(_ state: State, now: Double) -> Int {
        max(1, min(300, Int((state.nextAttempt - now).rounded(.up))))
    }

    // MARK: Service

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await self.discoverUntilDone()
                try await self.refreshLoop()
            }
        } catch is CancellationError {
            // Graceful shutdown: stop a fetch in flight (curl aborts within about a second).
            let inflight = self.state.withLock { $0.inflight }
            inflight?.cancel()
            await inflight?.value
        }
    }

    private func discoverUntilDone() async throws {
        var attempt = 0
        while true {
            do {
                let source = try await Discovery(configuration: self.configuration, client: self.client).resolve()
                self.metrics.fetch("discovery", result: "ok")
                let validator = JWTValidator(
                    configuration: .init(
                        issuer: source.expectedIssuer,
                        audience: self.configuration.audience,
                        leeway: Int64(self.configuration.leeway.seconds)
                    ),
                    clock: self.configuration.clock
                )
                self.state.withLock {
                    $0.source = source
                    $0.validator = validator
                }
                self.logger.info(
                    "expecting issuer \(source.expectedIssuer), fetching its JWK Set from \(source.jwksURL)",
                    metadata: ["issuer": "\(source.expectedIssuer)", "jwks_url": "\(source.jwksURL)"]
                )
                return
            } catch {
                if Task.isCancelled { throw CancellationError() }
                self.metrics.fetch("discovery", result: "error")
                let delay = self.backoff(attempt: attempt)
                self.state.withLock { $0.nextAttempt = self.now + delay.seconds }
                self.logger.warning("discovery failed, retrying", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                attempt += 1
                try await Task.sleep(for: delay)
            }
        }
    }

    private func refreshLoop() async throws {
        while true {
            let task = self.state.withLock { state in state.inflight ?? self.startFetch(&state) }
            await task.value
            let delay = self.nextRefreshDelay()
            try await Task.sleep(for: delay)
        }
    }

    /// Before expiry when the last fetch worked (so a refresh never leaves a gap);
    /// jittered exponential backoff when it did not.
    private func nextRefreshDelay() -> Duration {
        let (failures, freshUntil) = self.state.withLock { ($0.consecutiveFailures, $0.freshUntil) }
        let delay: Duration
        if failures == 0 {
            let remaining = max(0, freshUntil - self.now)
            delay = .milliseconds(Int64(remaining * Double.random(in: 0.8...0.9) * 1000))
        } else {
            delay = self.backoff(attempt: failures - 1)
        }
        let bounded = max(delay, .milliseconds(50))
        self.state.withLock { $0.nextAttempt = self.now + bounded.seconds }
        return bounded
    }

    func backoff(attempt: Int) -> Duration {
        let base = self.configuration.retryMinimum.seconds * Double(1 << min(attempt, 20))
        let capped = min(base, self.configuration.retryMaximum.seconds)
        let jittered = capped * Double.random(in: 0.5...1.0)
        return .milliseconds(Int64(jittered * 1000))
    }

    // MARK: Fetching

    /// Starts the one fetch; the caller holds the lock and records the task.
    private func startFetch(_ state: inout State) -> Task<Void, Never> {
        let task = Task { await self.fetch() }
        state.inflight = task
        return task
    }

    private func fetch() async {
        let current: (source: KeySource, etag: String?)? = self.state.withLock { state in
            state.source.map { ($0, state.lastGood == nil ? nil : state.etag) }
        }
        guard let current else {
            self.state.withLock { $0.inflight = nil }
            return
        }
        let (source, etag) = current
        let result: Result<CurlResponse, CurlError>
        do {
            result = .success(
                try await self.client.get(
                    source.jwksURL,
                    headers: [("Accept", "application/jwk-set+json, application/json")],
                    ifNoneMatch: etag,
                    options: self.configuration.fetchOptions(maxBodyBytes: self.policy.maxBytes)
                )
            )
        } catch .cancelled {
            // Shutting down: nothing learned, nothing to count.
            self.state.withLock { $0.inflight = nil }
            return
        } catch {
            result = .failure(error)
        }
        let now = self.now
        let outcome = self.apply(result, source: source, now: now)
        self.metrics.fetch("jwks", result: outcome.metric)
        if let message = outcome.failure {
            self.logger.warning(
                "JWK Set fetch failed; keeping the last good set",
                metadata: ["error": "\(message)", "jwks_url": "\(source.jwksURL)"]
            )
        }
        self.updateGauges()
    }

    private struct FetchOutcome {
        var metric: String
        var failure: String?
    }

    private func apply(_ result: Result<CurlResponse, CurlError>, source: KeySource, now: Double) -> FetchOutcome {
        var parsed: ParsedJWKSet?
        var outcome: FetchOutcome
        var maxAge = self.configuration.jwksDefaultMaxAge.seconds
        var etag: String?
        switch result {
        case .failure(let error):
            outcome = .init(metric: error == .tooLarge(limit: self.policy.maxBytes) ? "refused" : "error", failure: "\(error)")
        case .success(let response):
            maxAge = Self.maxAge(response.headers["cache-control"]) ?? maxAge
            etag = response.headers["etag"]
            switch response.status {
            case 200:
                do {
                    let set = try self.policy.parse(response.body)
                    if set.keys.isEmpty {
                        outcome = .init(metric: "refused", failure: "the JWK Set has no usable key")
                    } else {
                        parsed = set
                        outcome = .init(metric: "ok")
                    }
                    self.reportSkipped(set.skipped)
                } catch {
                    outcome = .init(metric: "refused", failure: "\(error)")
                }
            case 304:
                outcome = .init(metric: "not_modified")
            default:
                outcome = .init(metric: "error", failure: "HTTP status \(response.status)")
            }
        }
        let freshFor = Self.refreshHorizon(
            maxAge: maxAge,
            minMaxAge: self.configuration.jwksMinMaxAge.seconds,
            maxMaxAge: self.configuration.jwksMaxMaxAge.seconds,
            maxStale: self.configuration.jwksMaxStale.seconds
        )
        self.state.withLock { state in
            state.fetchCount += 1
            state.inflight = nil
            if outcome.failure != nil || (outcome.metric == "not_modified" && state.lastGood == nil) {
                state.consecutiveFailures += 1
                return
            }
            if let parsed {
                state.keys = parsed.keys.filter { !state.retired.contains($0.key) }
                state.etag = etag
                state.unknownKids.removeAll()
            }
            state.lastGood = now
            state.freshUntil = now + freshFor
            state.consecutiveFailures = 0
        }
        return outcome
    }

    private func reportSkipped(_ skipped: [ParsedJWKSet.SkippedKey]) {
        guard !skipped.isEmpty else { return }
        self.metrics.keysSkipped.increment(by: Int64(skipped.count))
        let fresh = self.state.withLock { state in
            skipped.filter { state.loggedSkips.insert("\($0.kid ?? "-") \($0.reason)").inserted }
        }
        for key in fresh {
            self.logger.warning("skipping an unusable key in the JWK Set", metadata: ["kid": "\(key.kid ?? "-")", "reason": "\(key.reason)"])
        }
    }

    /// How long after a good fetch the set counts as fresh, which is what the next
    /// background refresh is scheduled from.
    ///
    /// The `max-age` the Issuer sent, clamped to `[minMaxAge, maxMaxAge]`, and never more than
    /// half of `jwks-max-stale`: the keys then never go stale while the Issuer answers, even
    /// when `max-stale` is shorter than `max-age` (or than the clamp's floor).
    static func refreshHorizon(maxAge: Double, minMaxAge: Double, maxMaxAge: Double, maxStale: Double) -> Double {
        let clamped = min(max(maxAge, minMaxAge), maxMaxAge)
        return min(clamped, maxStale / 2)
    }

    /// `text` without leading and trailing characters matching `removing`.
    static func trimmed(_ text: Substring, removing: (Character) -> Bool) -> Substring {
        let start = text.drop(while: removing)
        var end = start.endIndex
        while end > start.startIndex, removing(start[start.index(before: end)]) { end = start.index(before: end) }
        return start[..<end]
    }

    /// `max-age` of a Cache-Control value; `no-cache`/`no-store` mean "as short as allowed".
    static func maxAge(_ cacheControl: String?) -> Double? {
        guard let cacheControl else { return nil }
        for directive in cacheControl.split(separator: ",") {
            let trimmed = Self.trimmed(directive, removing: { $0 == " " || $0 == "\t" }).lowercased()
            if trimmed == "no-cache" || trimmed == "no-store" { return 0 }
            if trimmed.hasPrefix("max-age=") {
                let value = Self.trimmed(trimmed.dropFirst("max-age=".count), removing: { $0 == "\"" })
                if let seconds = Int(value), seconds >= 0 { return Double(seconds) }
            }
        }
        return nil
    }
}
