import Foundation
import Logging
import SharedJWT
import Synchronization

/// What the server signs and publishes with, rebuilt whenever keys/ changes.
struct KeySnapshot: Sendable {
    let lifecycle: KeyLifecycle
    let signer: JWTSigner
    let activeKID: String
    /// Public keys of every published key, by kid.
    let publicKeys: [String: RSAPublicKey]
    /// The JWK Set body and its strong ETag.
    let jwks: [UInt8]
    let etag: String
    let keysetData: Data

    init(loaded: LoadedKeys) throws {
        guard let active = loaded.lifecycle.active, let activeKey = loaded.privateKeys[active.kid] else {
            throw KeyDirectoryError("the key set has no usable active key")
        }
        self.lifecycle = loaded.lifecycle
        self.activeKID = active.kid
        self.signer = JWTSigner(key: activeKey, keyID: active.kid)
        // JWK Set order: active first, then next, then retiring (stable for the ETag).
        let order: [KeyState] = [.active, .next, .retiring]
        let published = loaded.lifecycle.published.sorted {
            (order.firstIndex(of: $0.state) ?? 3, $0.publishedAt) < (order.firstIndex(of: $1.state) ?? 3, $1.publishedAt)
        }
        var publicKeys: [String: RSAPublicKey] = [:]
        var ordered: [RSAPublicKey] = []
        for key in published {
            guard let privateKey = loaded.privateKeys[key.kid] else { continue }
            publicKeys[key.kid] = privateKey.publicKey
            ordered.append(privateKey.publicKey)
        }
        self.publicKeys = publicKeys
        self.jwks = JWKSet.encode(ordered)
        self.etag = "\"" + Base64URL.encode(Secrets.sha256(jwks).prefix(16)) + "\""
        self.keysetData = loaded.keysetData
    }
}

/// Holds the current key snapshot; reloads it from keys/ on demand (SIGHUP, timer,
/// after an admin rotation) and applies the time-driven lifecycle rules.
final class KeyRing: Sendable {
    let directory: KeyDirectory
    let policy: KeyLifecyclePolicy
    let clock: @Sendable () -> Double
    let logger: Logger
    private let state: Mutex<KeySnapshot?>
    private let readOnly = Mutex(false)
    /// When keys/ was last checked for changes, and the last reload error (logged once).
    private let lastCheck = Mutex<(at: ContinuousClock.Instant?, error: String?)>((nil, nil))
    /// How stale the in-memory key set may be on the request path: the CLI's
    /// `keys retire` must stop signing and reach the feed at once, not after 5 s.
    static let requestPathFreshness: Duration = .milliseconds(250)

    init(directory: KeyDirectory, policy: KeyLifecyclePolicy, clock: @escaping @Sendable () -> Double, logger: Logger) {
        self.directory = directory
        self.policy = policy
        self.clock = clock
        self.logger = logger
        self.state = Mutex(nil)
    }

    var snapshot: KeySnapshot? { state.withLock { $0 } }

    /// The snapshot, after re-reading keyset.json if it was not checked in the last
    /// 250 ms (a small file read; the key files are parsed only when it changed).
    func current() -> KeySnapshot? {
        let now = ContinuousClock.now
        let due = lastCheck.withLock { check in
            if let at = check.at, now - at < Self.requestPathFreshness { return false }
            check.at = now
            return true
        }
        if due { reloadLoggingErrors() }
        return snapshot
    }

    private func reloadLoggingErrors() {
        do {
            try reload()
            lastCheck.withLock { $0.error = nil }
        } catch {
            let message = "\(error)"
            let isNew = lastCheck.withLock { check in
                defer { check.error = message }
                return check.error != message
            }
            if isNew { logger.error("key reload failed; keeping the previous key set", metadata: ["error": .string(message)]) }
        }
    }

    /// First load: creates keys on first start, refuses bad key files, and records the
    /// policy it serves with beside the keys (for the CLI's `keys rotate` / `keys retire`).
    ///
    /// A directory this process cannot write (a mounted secret) is served read-only: its keys
    /// sign and are published, changes to it are reloaded, and nothing rotates or retires.
    func start() throws {
        try directory.initializeIfNeeded(now: clock())
        if directory.isReadOnly {
            self.readOnly.withLock { $0 = true }
            logger.warning(
                "keys directory \(directory.path) is read-only: serving its keys as they are; rotation and automatic retirement are off",
                metadata: ["keys_dir": .string(directory.path)]
            )
        } else {
            try directory.recordPolicy(ServingKeyPolicy(policy: policy, keyBits: directory.keyBits, recordedAt: clock()))
            try applyTimers()
        }
        try reload(force: true)
    }

    /// True when keys/ was read-only at start (see `start`).
    var isReadOnly: Bool { self.readOnly.withLock { $0 } }

    /// Re-reads keys/ when keyset.json changed (or always, when forced).
    @discardableResult
    func reload(force: Bool = false) throws -> Bool {
        if !force, let current = snapshot,
            let data = try? Data(contentsOf: URL(fileURLWithPath: directory.keysetPath)), data == current.keysetData
        {
            return false
        }
        let loaded = try directory.load()
        let fresh = try KeySnapshot(loaded: loaded)
        let previous = state.withLock { current -> KeySnapshot? in
            let previous = current
            current = fresh
            return previous
        }
        if previous?.keysetData != fresh.keysetData {
            logger.info(
                "key set loaded",
                metadata: [
                    "active_kid": .string(fresh.activeKID),
                    "published_kids": .array(fresh.publicKeys.keys.sorted().map { .string($0) }),
                ]
            )
        }
        return true
    }

    /// Auto-retire and scheduled rotation; writes keys/ only when something is due.
    func applyTimers() throws {
        guard !self.isReadOnly else { return }
        let now = clock()
        if let current = snapshot?.lifecycle {
            var probe = current
            // Cheap check without the lock or a key generation.
            guard probe.tick(now: now, policy: policy, makeKID: { "probe" }) else { return }
        }
        let changed = try directory.update { lifecycle, makeKey in
            try lifecycle.tick(now: now, policy: policy, makeKID: makeKey)
        }
        if changed { logger.info("key lifecycle advanced by the clock") }
    }

    /// The periodic job: timers, then a reload if anything changed on disk.
    func refresh() {
        do {
            try applyTimers()
        } catch {
            logger.error("key lifecycle update failed", metadata: ["error": "\(error)"])
        }
        reloadLoggingErrors()
    }

    /// Planned or forced rotation (`POST /admin/keys/rotate` and `issuer keys rotate`, the
    /// latter with the serving Issuer's recorded policy: see `ServingKeyPolicy`).
    func rotate(force: Bool) throws -> KeyLifecycle {
        guard !self.isReadOnly else { throw ReadOnlyKeysError(path: directory.path) }
        let now = clock()
        let result = try directory.update { lifecycle, makeKey in
            let wait = lifecycle.rotationWait(now: now, policy: policy)
            if wait > 0 && !force { throw KeyLifecycleError.rotationTooEarly(waitSeconds: wait) }
            try lifecycle.rotate(newNextKID: try makeKey(), now: now, policy: policy, force: force)
            return lifecycle
        }
        try reload(force: true)
        return result
    }

    /// Emergency retire (`issuer keys retire`): see `KeyLifecycle.retire`. A fresh next
    /// key, when one is needed, has this ring's key-bits.
    func retire(kid: String) throws -> KeyLifecycle {
        guard !self.isReadOnly else { throw ReadOnlyKeysError(path: directory.path) }
        let now = clock()
        let result = try directory.update { lifecycle, makeKey in
            try lifecycle.retire(kid: kid, freshNextKID: try makeKey(), now: now)
            return lifecycle
        }
        try reload(force: true)
        return result
    }
}
