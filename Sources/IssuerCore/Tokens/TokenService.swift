import SharedJWT

/// The RFC 6749 §5.1 token response.
struct TokenResponse: Encodable {
    var accessToken: String
    var tokenType = "Bearer"
    var expiresIn: Int64
    var refreshToken: String?
    var scope: String

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case refreshToken = "refresh_token"
        case scope
    }

    /// The body `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` writes,
    /// byte for byte, built without it (it is on every token request). Nil when a
    /// string would need escaping; the caller then uses `JSONEncoder`.
    func sortedJSON() -> [UInt8]? {
        guard Self.needsNoEscaping(accessToken), Self.needsNoEscaping(tokenType), Self.needsNoEscaping(scope),
            refreshToken.map(Self.needsNoEscaping) ?? true
        else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(accessToken.utf8.count + (refreshToken?.utf8.count ?? 0) + scope.utf8.count + 110)
        out.append(contentsOf: #"{"access_token":""#.utf8)
        out.append(contentsOf: accessToken.utf8)
        out.append(contentsOf: #"","expires_in":"#.utf8)
        out.append(contentsOf: String(expiresIn).utf8)
        if let refreshToken {
            out.append(contentsOf: #","refresh_token":""#.utf8)
            out.append(contentsOf: refreshToken.utf8)
            out.append(UInt8(ascii: "\""))
        }
        out.append(contentsOf: #","scope":""#.utf8)
        out.append(contentsOf: scope.utf8)
        out.append(contentsOf: #"","token_type":""#.utf8)
        out.append(contentsOf: tokenType.utf8)
        out.append(contentsOf: #""}"#.utf8)
        return out
    }

    /// Printable ASCII other than `"` and `\`: written as is by any JSON encoder.
    static func needsNoEscaping(_ text: String) -> Bool {
        let plain = { (byte: UInt8) in byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") }
        // Over the contiguous bytes (native strings): a byte loop, not the generic UTF-8 view.
        return text.utf8.withContiguousStorageIfAvailable { $0.allSatisfy(plain) } ?? text.utf8.allSatisfy(plain)
    }
}

/// A refresh between `TokenService.prepareRefresh` and `completeRefresh`.
struct PreparedRefresh: Sendable {
    var request: RefreshRequest
    /// The new refresh token, returned once to the client; only its hash is stored.
    var successor: String
    var issuedAt: Int64
}

/// Mints access tokens (RFC 9068 profile) and refresh tokens.
struct TokenService: Sendable {
    /// `client_id` of tokens issued by /login.
    static let loginClientID = "login"
    /// Scope of tokens issued by /login (scope is never empty).
    static let loginScope = "api"

    let configuration: IssuerConfiguration
    let keyRing: KeyRing
    let store: any IssuerStore

    var clock: @Sendable () -> Double { configuration.clock }

    /// Signs an access token with the active key. Returns the token, its jti and exp.
    /// `jti` and `issuedAt` may be chosen by the caller (the refresh path records the jti
    /// before signing).
    func accessToken(
        subject: String,
        clientID: String,
        scope: String,
        roles: [String],
        jti: String = Secrets.tokenID(),
        issuedAt: Int64? = nil
    ) throws -> (token: String, jti: String, exp: Int64) {
        guard let snapshot = keyRing.current() else { throw OAuthError(.serviceUnavailable, "temporarily_unavailable", "no signing key loaded") }
        let now = issuedAt ?? Int64(clock().rounded(.down))
        let exp = now + configuration.accessTTL
        let claims = JWTClaims(
            issuer: configuration.issuerURL,
            subject: subject,
            audience: [configuration.audience],
            expiresAt: exp,
            issuedAt: now,
            notBefore: now,
            jwtID: jti,
            clientID: clientID,
            scope: scope.isEmpty ? Self.loginScope : scope,
            roles: roles
        )
        return (try snapshot.signer.sign(claims), jti, exp)
    }

    /// A new session: access token plus the first refresh token of a new family.
    func startSession(subject: String, clientID: String, scope: String, roles: [String]) async throws -> TokenResponse {
        let family = Secrets.tokenID()
        let refresh = Secrets.refreshToken()
        let now = clock()
        let grant = RefreshGrant(family: family, subject: subject, clientID: clientID, scope: scope, roles: roles)
        try await store.storeRefreshToken(
            hash: Secrets.tokenHash(refresh),
            grant: grant,
            parent: nil,
            expiresAt: now + Double(configuration.refreshTTL),
            now: now
        )
        return try await respond(grant: grant, refreshToken: refresh)
    }

    /// A refresh (rotation: of all the callers with one token, exactly one gets new tokens)
    /// before its store call: the successor token, the access token's jti and
    /// times, and the request for `IssuerStore.refresh`. The store call is one transaction
    /// (in SQLite): rotation, the user's current roles (login sessions; a deleted user's
    /// session ends), and the access token's record.
    func prepareRefresh(_ token: String) -> PreparedRefresh {
        let successor = Secrets.refreshToken()
        let now = clock()
        let issuedAt = Int64(now.rounded(.down))
        let jti = Secrets.tokenID()
        let request = RefreshRequest(
            oldHash: Secrets.tokenHash(token),
            newHash: Secrets.tokenHash(successor),
            newExpiresAt: now + Double(configuration.refreshTTL),
            now: now,
            accessTokenID: jti,
            accessExpiresAt: issuedAt + configuration.accessTTL,
            currentRolesClientID: Self.loginClientID
        )
        return PreparedRefresh(request: request, successor: successor, issuedAt: issuedAt)
    }

    /// Signs the access token of a rotated grant; any other store result is `invalid_grant`.
    func completeRefresh(_ prepared: PreparedRefresh, result: RefreshResult) throws -> TokenResponse {
        switch result {
        case .rotated(let grant):
            let access = try accessToken(
                subject: grant.subject,
                clientID: grant.clientID,
                scope: grant.scope,
                roles: grant.roles,
                jti: prepared.request.accessTokenID,
                issuedAt: prepared.issuedAt
            )
            return TokenResponse(
                accessToken: access.token,
                expiresIn: configuration.accessTTL,
                refreshToken: prepared.successor,
                scope: grant.scope
            )
        case .userGone:
            throw OAuthError.invalidGrant("the user no longer exists")
        case .invalid:
            throw OAuthError.invalidGrant("refresh token is invalid, expired or revoked")
        case .reused:
            throw OAuthError.invalidGrant(Self.reuseDescription)
        }
    }

    static let reuseDescription = "refresh token was already used; the session has been revoked"

    /// client_credentials: an access token only.
    func clientToken(clientID: String, scope: String) throws -> TokenResponse {
        let access = try accessToken(subject: clientID, clientID: clientID, scope: scope, roles: [])
        return TokenResponse(accessToken: access.token, expiresIn: configuration.accessTTL, refreshToken: nil, scope: scope)
    }

    private func respond(grant: RefreshGrant, refreshToken: String) async throws -> TokenResponse {
        let access = try accessToken(subject: grant.subject, clientID: grant.clientID, scope: grant.scope, roles: grant.roles)
        try await store.recordAccessToken(jti: access.jti, family: grant.family, expiresAt: access.exp)
        return TokenResponse(accessToken: access.token, expiresIn: configuration.accessTTL, refreshToken: refreshToken, scope: grant.scope)
    }
}
