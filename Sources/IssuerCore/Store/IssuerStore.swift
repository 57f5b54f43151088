/// A user who can log in through /login.
public struct UserRecord: Sendable, Equatable {
    public var name: String
    /// bcrypt hash of the password.
    public var passwordHash: String
    public var roles: [String]
    public var createdAt: Double

    public init(name: String, passwordHash: String, roles: [String], createdAt: Double) {
        self.name = name
        self.passwordHash = passwordHash
        self.roles = roles
        self.createdAt = createdAt
    }
}

/// An OAuth client for the client_credentials grant.
public struct ClientRecord: Sendable, Equatable {
    public var id: String
    /// bcrypt hash of the secret.
    public var secretHash: String
    public var scopes: [String]
    public var createdAt: Double

    public init(id: String, secretHash: String, scopes: [String], createdAt: Double) {
        self.id = id
        self.secretHash = secretHash
        self.scopes = scopes
        self.createdAt = createdAt
    }
}

/// What a refresh token stands for; copied to its successor on rotation.
public struct RefreshGrant: Sendable, Equatable {
    /// The session: every token rotated from the same login.
    public var family: String
    public var subject: String
    public var clientID: String
    public var scope: String
    public var roles: [String]

    public init(family: String, subject: String, clientID: String, scope: String, roles: [String]) {
        self.family = family
        self.subject = subject
        self.clientID = clientID
        self.scope = scope
        self.roles = roles
    }
}

/// Everything one refresh needs from the store (see `IssuerStore.refresh`).
public struct RefreshRequest: Sendable, Equatable {
    public var oldHash: String
    public var newHash: String
    public var newExpiresAt: Double
    public var now: Double
    /// The access token about to be signed for the rotated grant: recorded with its family.
    public var accessTokenID: String
    public var accessExpiresAt: Int64
    /// Sessions of this client take their roles from the user as it is now.
    public var currentRolesClientID: String

    public init(
        oldHash: String,
        newHash: String,
        newExpiresAt: Double,
        now: Double,
        accessTokenID: String,
        accessExpiresAt: Int64,
        currentRolesClientID: String
    ) {
        self.oldHash = oldHash
        self.newHash = newHash
        self.newExpiresAt = newExpiresAt
        self.now = now
        self.accessTokenID = accessTokenID
        self.accessExpiresAt = accessExpiresAt
        self.currentRolesClientID = currentRolesClientID
    }
}

public enum RefreshResult: Sendable, Equatable {
    /// Rotated; the grant carries the roles to sign, and the access token is recorded.
    case rotated(RefreshGrant)
    case invalid
    case reused(family: String)
    /// Rotated, but the session's user was deleted: the family is now revoked.
    case userGone
}

public struct RevocationEntry: Sendable, Equatable {
    public var jti: String
    public var exp: Int64
}

public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The Issuer's persistent state. Every method is one transaction: multi-row changes are
/// atomic. Implementations: SQLite (embedded, default); PostgreSQL can follow for replicas.
public protocol IssuerStore: Sendable {
    // Users
    /// Throws `StoreError` when the name exists.
    func addUser(_ user: UserRecord) async throws
    func user(named name: String) async throws -> UserRecord?
    func listUsers() async throws -> [UserRecord]
    /// Deletes the user and revokes their refresh tokens; false when there was none.
    func deleteUser(named name: String) async throws -> Bool

    // Clients
    func addClient(_ client: ClientRecord) async throws
    func client(id: String) async throws -> ClientRecord?

    // Refresh tokens (stored as SHA-256 hashes only)
    func storeRefreshToken(hash: String, grant: RefreshGrant, parent: String?, expiresAt: Double, now: Double) async throws
    /// Revokes the family of the token with this hash; returns the family, if any.
    func revokeFamily(ofTokenHash hash: String) async throws -> String?
    func revokeFamily(_ family: String) async throws
    /// THE refresh, in one transaction: the rotation rule (`RefreshRule`) applied to the
    /// stored row of `oldHash` (rotated: marked used, `newHash` stored as its successor),
    /// the user's current roles for sessions of `currentRolesClientID` (a deleted user's
    /// family is revoked: `.userGone`), and the record of the access token about to be
    /// signed. Of two concurrent calls with the same `oldHash`, exactly one gets `.rotated`.
    /// It may wait for the database (call it off the event loops; see `RefreshCommitter`).
    func refresh(_ request: RefreshRequest) async throws -> RefreshResult

    /// How the HTTP layer commits refreshes on this store. The default waits for `refresh`
    /// off the event loop (`WaitingRefreshCommitter`); SQLite commits on the event loop.
    func makeCommitter(metrics: RefreshCommitMetrics) -> any RefreshCommitter

    // Access tokens and the revocation feed
    /// Remembers which session an access token belongs to (for /logout).
    func recordAccessToken(jti: String, family: String, expiresAt: Int64) async throws
    func family(ofAccessToken jti: String) async throws -> String?
    /// Adds a jti to the feed (once) until `exp`.
    func revokeAccessToken(jti: String, expiresAt: Int64) async throws
    func isAccessTokenRevoked(jti: String) async throws -> Bool
    /// Live entries after `cursor`, and the newest cursor.
    func revocations(after cursor: Int64, now: Double) async throws -> (cursor: Int64, entries: [RevocationEntry])

    /// Removes expired refresh tokens, access-token records and revocations.
    func purgeExpired(now: Double) async throws
    /// A trivial query, for /readyz.
    func ping() async throws
}

extension IssuerStore {
    public func makeCommitter(metrics: RefreshCommitMetrics) -> any RefreshCommitter {
        WaitingRefreshCommitter(store: self, metrics: metrics)
    }
}
