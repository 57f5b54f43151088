import HTTPEdge
import HTTPTypes
import Hummingbird
import SharedJWT
import Synchronization

/// Why a request's token was not accepted, as the RFC 6750 response to send.
public struct BearerError: HTTPResponseError, EdgeErrorConvertible, Sendable, Hashable {
    public var status: HTTPResponse.Status
    /// RFC 6750 error code; nil for a request without credentials.
    public var code: String?
    public var description: String
    /// For `insufficient_scope`: what the resource requires.
    public var scope: String?
    /// For 503: seconds to wait.
    public var retryAfter: Int?

    public static let realm = "resource-api"

    static let revoked = BearerError.invalidToken("the token has been revoked")

    static let missing = BearerError(status: .unauthorized, code: nil, description: "a bearer token is required")

    static func invalidRequest(_ description: String) -> BearerError {
        BearerError(status: .badRequest, code: "invalid_request", description: description)
    }

    static func invalidToken(_ description: String) -> BearerError {
        BearerError(status: .unauthorized, code: "invalid_token", description: description)
    }

    static func insufficientScope(_ scope: String) -> BearerError {
        BearerError(status: .forbidden, code: "insufficient_scope", description: "the token lacks the \(scope) role", scope: scope)
    }

    static func unavailable(retryAfter: Int) -> BearerError {
        BearerError(
            status: .serviceUnavailable,
            code: "temporarily_unavailable",
            description: "no usable signing keys; try again later",
            retryAfter: retryAfter
        )
    }

    /// `Bearer realm="resource-api", error="...", error_description="..."`; none for 503,
    /// where the token may be fine and only the server cannot judge it.
    public var wwwAuthenticate: String? {
        guard self.status != .serviceUnavailable else { return nil }
        guard let code else { return Challenge.bearer(realm: Self.realm) }
        return Challenge.bearer(realm: Self.realm, error: code, description: self.description, scope: self.scope)
    }

    /// The answer, with the challenge and `Retry-After` it needs.
    public var edgeError: EdgeError {
        var headers = HTTPFields()
        if let challenge = self.wwwAuthenticate { headers[.wwwAuthenticate] = challenge }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return EdgeError(self.status, self.code ?? "unauthorized", self.description, headers: headers)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        EdgeResponse.error(self.edgeError).response
    }

    /// The `resource_api_verifications_total` outcome of a refused Authorization header.
    var outcome: String {
        if self.status == .badRequest { return "invalid_request" }
        return self.code == nil ? "missing" : "invalid_token"
    }
}

/// SHA-256 of a token, the key of the verified-token cache (the token itself is not kept).
struct TokenDigest: Hashable, Sendable {
    var words: (UInt64, UInt64, UInt64, UInt64)

    init(_ token: some StringProtocol) {
        // Hash the UTF-8 in place when it is contiguous (it is for tokens from headers).
        let hash = token.utf8.withContiguousStorageIfAvailable { SHA256Digest.hash($0) } ?? SHA256Digest.hash(Array(token.utf8))
        func word(_ index: Int) -> UInt64 {
            var value: UInt64 = 0
            for byte in hash[(index * 8)..<(index * 8 + 8)] { value = value << 8 | UInt64(byte) }
            return value
        }
        self.words = (word(0), word(1), word(2), word(3))
    }

    static func == (lhs: TokenDigest, rhs: TokenDigest) -> Bool {
        lhs.words == rhs.words
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(self.words.0)
        hasher.combine(self.words.1)
        hasher.combine(self.words.2)
        hasher.combine(self.words.3)
    }
}

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

/// The whole decision for one bearer token: cheap checks first, then the key, then RSA,
/// then revocation. Expired or wrong-audience tokens never reach the RSA step.
public final class TokenVerifier: Sendable {
    let keys: JWKSCache
    let revocations: RevocationList
    let verified: VerifiedTokenCache?
    let metrics: ResourceAPIMetrics

    init(keys: JWKSCache, revocations: RevocationList, verifiedCacheSize: Int, metrics: ResourceAPIMetrics) {
        self.keys = keys
        self.revocations = revocations
        self.verified = verifiedCacheSize > 0 ? VerifiedTokenCache(capacity: verifiedCacheSize) : nil
        self.metrics = metrics
    }

    public func verify(_ token: Substring) async throws(BearerError) -> JWTClaims {
        do {
            switch try self.decide(token) {
            case .accepted(let claims):
                return claims
            case .needsKey(let pending):
                return try await self.finish(pending)
            }
        } catch {
            self.record(error)
            throw error
        }
    }

    /// For the event-loop fast path: the same decision as `verify`, or nil when it needs a
    /// key the cache does not hold yet (a fetch to wait for, which only `verify` does).
    func verifyWithoutWaiting(_ token: Substring) throws(BearerError) -> JWTClaims? {
        do {
            switch try self.decide(token) {
            case .accepted(let claims): return claims
            case .needsKey: return nil
            }
        } catch {
            self.record(error)
            throw error
        }
    }

    private func record(_ error: BearerError) {
        switch error.status {
        case .serviceUnavailable: self.metrics.verification("unavailable")
        case _ where error == .revoked: self.metrics.verification("revoked")
        default: self.metrics.verification("invalid_token")
        }
    }

    /// A token that passed every check that needs no key, waiting for its key.
    struct PendingVerification {
        var jws: JWS
        var kid: String
        var validator: JWTValidator
        var digest: TokenDigest?
    }

    enum Decision {
        case accepted(JWTClaims)
        case needsKey(PendingVerification)
    }

    /// Everything that can be decided without waiting: the verified-token cache, parsing,
    /// the claims, and the signature when the key is already cached.
    private func decide(_ token: Substring) throws(BearerError) -> Decision {
        guard let validator = self.keys.validator else {
            // Before discovery the issuer is unknown, but a token that does not even parse
            // is bad whatever the keys.
            do {
                _ = try JWS.parse(token)
            } catch {
                throw .invalidToken((error as? JWTError)?.description ?? "the token is malformed")
            }
            throw .unavailable(retryAfter: self.retryAfter())
        }
        let digest = self.verified.map { _ in TokenDigest(token) }

        // A token verified before: time, key still present, revocation. No RSA.
        if let verified, let digest, let entry = verified.get(digest) {
            switch self.keys.cachedKey(for: entry.kid) {
            case .found(let key) where key === entry.key:
                do {
                    try validator.checkTime(entry.claims)
                } catch {
                    verified.remove(digest)
                    throw .invalidToken((error as? JWTError)?.description ?? "the token expired")
                }
                try self.checkRevocation(entry.claims)
                self.metrics.verification("cached")
                return .accepted(entry.claims)
            case .unavailable(let retryAfter):
                throw .unavailable(retryAfter: retryAfter)
            case .found, .unknown:
                // The key went away or changed: verify from scratch (and fail if it is gone).
                verified.remove(digest)
            }
        }

        let jws: JWS
        do {
            jws = try validator.decode(token)
        } catch let error as JWTError {
            throw .invalidToken(error.description)
        } catch {
            throw .invalidToken("the token is malformed")
        }
        let pending = PendingVerification(jws: jws, kid: jws.header.kid ?? "", validator: validator, digest: digest)
        switch self.keys.cachedKey(for: pending.kid) {
        case .found(let key): return .accepted(try self.accept(pending, key: key))
        case .unavailable(let retryAfter): throw .unavailable(retryAfter: retryAfter)
        case .unknown: return .needsKey(pending)
        }
    }

    /// The rest of `decide` once the key cache has answered (after a fetch if it took one).
    private func finish(_ pending: PendingVerification) async throws(BearerError) -> JWTClaims {
        switch await self.keys.key(for: pending.kid) {
        case .found(let key): return try self.accept(pending, key: key)
        case .unknown: throw .invalidToken(JWTError.unknownKeyID(pending.kid).description)
        case .unavailable(let retryAfter): throw .unavailable(retryAfter: retryAfter)
        }
    }

    private func accept(_ pending: PendingVerification, key: RSAPublicKey) throws(BearerError) -> JWTClaims {
        do {
            try pending.validator.verifySignature(pending.jws, with: key)
        } catch let error as JWTError {
            throw .invalidToken(error.description)
        } catch {
            throw .invalidToken("the signature is invalid")
        }
        let claims = pending.jws.claims
        try self.checkRevocation(claims)
        if let verified, let digest = pending.digest {
            verified.insert(.init(claims: claims, kid: pending.kid, key: key), for: digest)
        }
        self.metrics.verification("valid")
        return claims
    }

    private func checkRevocation(_ claims: JWTClaims) throws(BearerError) {
        if let jti = claims.jwtID, self.revocations.isRevoked(jti) {
            throw .revoked
        }
    }

    private func retryAfter() -> Int {
        if case .unavailable(let seconds) = self.keys.cachedKey(for: "") { return seconds }
        return 1
    }
}
