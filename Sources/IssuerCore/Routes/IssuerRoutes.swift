import Foundation
import HTTPEdge
import Hummingbird
import Logging
import Prometheus
import SharedJWT

/// Every endpoint of the Issuer.
struct IssuerRoutes: Sendable {
    let configuration: IssuerConfiguration
    let store: any IssuerStore
    let keyRing: KeyRing
    let tokens: TokenService
    let hasher: PasswordHasher
    /// Failed logins per username, and (more leniently: NAT, shared hosts) per address.
    let userLimiter: LoginRateLimiter
    let addressLimiter: LoginRateLimiter
    let metrics: IssuerMetrics
    let refreshGrant: RefreshGrantCore
    let renderMetrics: @Sendable () -> String

    var clock: @Sendable () -> Double { configuration.clock }

    typealias Handler = @Sendable (Request, IssuerRequestContext) async throws -> Response

    /// Every route of the Issuer, method and path.
    var routes: [(path: String, method: HTTPRequest.Method, handler: Handler)] {
        [
            ("/login", .post, self.login),
            ("/token", .post, self.token),
            ("/refresh", .post, self.refresh),
            ("/logout", .post, self.logout),
            ("/revoke", .post, self.revoke),
            ("/admin/keys/rotate", .post, { request, _ in try await self.adminRotate(request) }),
            ("/.well-known/jwks.json", .get, { request, _ in self.jwks(request) }),
            ("/.well-known/openid-configuration", .get, { _, _ in self.discovery() }),
            ("/.well-known/oauth-authorization-server", .get, { _, _ in self.discovery() }),
            ("/revocations", .get, { request, _ in try await self.revocations(request) }),
            ("/admin/keys", .get, { request, _ in try await self.adminKeys(request) }),
            ("/healthz", .get, { _, _ in Self.healthzAnswer.response }),
            ("/readyz", .get, { _, _ in await self.readiness() }),
            (
                "/metrics", .get,
                { _, _ in
                    Response(
                        status: .ok,
                        headers: [.contentType: EdgeConventions.metricsContentType],
                        body: .init(byteBuffer: ByteBuffer(string: self.renderMetrics()))
                    )
                }
            ),
        ]
    }

    /// `/healthz`: the same answer as the ResourceAPI's.
    static let healthzAnswer = EdgeResponse.json(.ok, .object([("status", .string("ok"))]))

    /// The method policy, 404s and metrics labels of the edge, from the same list.
    var routeTable: EdgeRouteTable {
        EdgeRouteTable(self.routes.map { ($0.path, $0.method) })
    }

    func register(on router: Router<IssuerRequestContext>) {
        for route in self.routes {
            router.on(RouterPath(route.path), method: route.method, use: route.handler)
        }
    }

    /// The client address for the login limits and logs: the peer, or what a trusted proxy
    /// (`--trusted-proxy`) says in `Forwarded` / `X-Forwarded-For`.
    func clientAddress(_ request: Request, _ context: IssuerRequestContext) -> String {
        guard !self.configuration.trustedProxies.blocks.isEmpty else { return context.remoteAddress }
        return self.configuration.trustedProxies.clientAddress(
            peer: context.remoteAddress,
            forwarded: request.headers[values: .forwarded],
            xForwardedFor: request.headers[values: .xForwardedFor]
        )
    }

    // MARK: /login

    func login(_ request: Request, _ context: IssuerRequestContext) async throws -> Response {
        var request = request
        let fields = try await BodyReader.fields(&request, accept: [.json, .form])
        let username = try fields.required("username")
        let password = try fields.required("password")
        let address = self.clientAddress(request, context)
        let now = clock()
        let wait = try await [userLimiter.retryAfter(key: username, now: now), addressLimiter.retryAfter(key: address, now: now)]
            .compactMap { $0 }.max()
        if let wait {
            metrics.rateLimited.increment()
            throw OAuthError(
                .tooManyRequests,
                "too_many_requests",
                "too many failed logins; retry in \(wait)s",
                headers: [.retryAfter: String(wait)]
            )
        }
        let user = try await store.user(named: username)
        guard try await hasher.verify(password, hash: user?.passwordHash), let user else {
            try await userLimiter.recordFailure(key: username, now: now)
            try await addressLimiter.recordFailure(key: address, now: now)
            metrics.loginFailures.increment()
            context.logger.info("login failed", metadata: ["address": .string(address)])
            throw OAuthError(.unauthorized, "invalid_grant", "invalid username or password")
        }
        try await userLimiter.recordSuccess(key: username)
        let response = try await tokens.startSession(
            subject: user.name,
            clientID: TokenService.loginClientID,
            scope: TokenService.loginScope,
            roles: user.roles
        )
        metrics.tokensIssued("login")
        context.logger.info("login", metadata: ["sub": .string(user.name)])
        return tokenResponse(response)
    }

    // MARK: /token (RFC 6749)

    func token(_ request: Request, _ context: IssuerRequestContext) async throws -> Response {
        var request = request
        let body = try await BodyReader.collect(&request)
        guard BodyReader.mediaType(request) == "application/x-www-form-urlencoded" else {
            throw OAuthError.invalidRequest("Content-Type must be application/x-www-form-urlencoded")
        }
        let fields = try BodyReader.parseForm(Array(body.readableBytesView))
        guard let grantType = try fields.optional("grant_type") else { throw OAuthError.invalidRequest("missing grant_type") }
        switch grantType {
        case "refresh_token":
            // RFC 6749 §5.2: on /token, invalid_grant is a 400 (only /refresh answers 401).
            return try await self.refreshGrant.respond(fields, refusalStatus: .badRequest).get().response
        case "client_credentials":
            let client = try await authenticateClient(request, fields: fields, address: self.clientAddress(request, context))
            let scope = try grantedScope(requested: try fields.optional("scope"), allowed: client.scopes)
            let response = try tokens.clientToken(clientID: client.id, scope: scope)
            metrics.tokensIssued("client_credentials")
            context.logger.info("client token", metadata: ["client_id": .string(client.id)])
            return tokenResponse(response)
        default:
            throw OAuthError(.badRequest, "unsupported_grant_type", "grant_type \(grantType) is not supported")
        }
    }

    /// HTTP Basic client authentication (RFC 6749 §2.3.1: form-encoded id and secret).
    /// Failed client authentications count against the same limits as failed logins.
    func authenticateClient(_ request: Request, fields: BodyFields, address: String) async throws -> ClientRecord {
        guard let header = request.headers[.authorization] else {
            throw OAuthError.invalidClient("client authentication required (HTTP Basic)")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8),
            let colon = text.firstIndex(of: ":"),
            let id = String(text[..<colon]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
            let secret = String(text[text.index(after: colon)...]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
            !id.isEmpty, id.utf8.count <= 256, secret.utf8.count <= 1024
        else {
            throw OAuthError.invalidClient("malformed HTTP Basic credentials")
        }
        if let bodyID = fields["client_id"], bodyID != id {
            throw OAuthError.invalidRequest("client_id does not match the authenticated client")
        }
        let now = clock()
        let limitKey = "\u{0}client:" + id  // cannot collide with a user name (no control characters)
        let wait = try await [userLimiter.retryAfter(key: limitKey, now: now), addressLimiter.retryAfter(key: address, now: now)].compactMap { $0 }
            .max()
        if let wait {
            metrics.rateLimited.increment()
            throw OAuthError(
                .tooManyRequests,
                "too_many_requests",
                "too many failed client authentications; retry in \(wait)s",
                headers: [.retryAfter: String(wait)]
            )
        }
        let client = try await store.client(id: id)
        guard try await hasher.verify(secret, hash: client?.secretHash), let client else {
            try await userLimiter.recordFailure(key: limitKey, now: now)
            try await addressLimiter.recordFailure(key: address, now: now)
            throw OAuthError.invalidClient("client authentication failed")
        }
        return client
    }

    func grantedScope(requested: String?, allowed: [String]) throws -> String {
        let allowedScopes = allowed.isEmpty ? [TokenService.loginScope] : allowed
        guard let requested else { return allowedScopes.joined(separator: " ") }
        let asked = requested.split(separator: " ").map(String.init)
        guard !asked.isEmpty else { return allowedScopes.joined(separator: " ") }
        for scope in asked where !allowedScopes.contains(scope) {
            throw OAuthError(.badRequest, "invalid_scope", "scope \(scope) is not allowed for this client")
        }
        return asked.joined(separator: " ")
    }

    // MARK: /refresh

    func refresh(_ request: Request, _ context: IssuerRequestContext) async throws -> Response {
        var request = request
        let fields = try await BodyReader.fields(&request, accept: [.json])
        return try await self.refreshGrant.respond(fields, refusalStatus: .unauthorized).get().response
    }

    // MARK: /logout

    func logout(_ request: Request, _ context: IssuerRequestContext) async throws -> Response {
        var request = request
        let claims = try await bearerClaims(request)
        let body = try await BodyReader.collect(&request)
        var refreshToken: String?
        if body.readableBytes > 0 {
            guard BodyReader.mediaType(request) == "application/json" else {
                throw OAuthError.invalidRequest("Content-Type must be application/json")
            }
            refreshToken = try BodyReader.parseJSON(Array(body.readableBytesView)).optional("refresh_token")
        }
        guard let jti = claims.jwtID, let exp = claims.expiresAt else { throw OAuthError.invalidToken("token lacks jti or exp") }
        try await store.revokeAccessToken(jti: jti, expiresAt: exp)
        if let family = try await store.family(ofAccessToken: jti) {
            try await store.revokeFamily(family)
        }
        if let refreshToken {
            _ = try await store.revokeFamily(ofTokenHash: Secrets.tokenHash(refreshToken))
        }
        context.logger.info("logout", metadata: ["jti": .string(jti)])
        return Response(status: .noContent, headers: [.cacheControl: "no-store"])
    }

    /// Validates `Authorization: Bearer` with our own published keys; revoked tokens fail.
    func bearerClaims(_ request: Request) async throws -> JWTClaims {
        let values = request.headers[values: .authorization]
        guard values.count == 1, let header = values.first else {
            throw OAuthError(
                .unauthorized,
                "invalid_token",
                values.isEmpty ? "missing bearer token" : "more than one Authorization header",
                headers: [.wwwAuthenticate: "Bearer realm=\"issuer\""]
            )
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw OAuthError.invalidToken("expected a Bearer token") }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard let snapshot = keyRing.current() else { throw OAuthError(.serviceUnavailable, "temporarily_unavailable", "keys not loaded") }
        let validator = JWTValidator(
            configuration: .init(issuer: configuration.issuerURL, audience: configuration.audience, leeway: 0),
            clock: clock
        )
        let claims: JWTClaims
        do {
            claims = try validator.validate(token) { snapshot.publicKeys[$0] }
        } catch let error as JWTError {
            throw OAuthError.invalidToken(error.description)
        } catch {
            throw OAuthError.invalidToken("invalid token")
        }
        if let jti = claims.jwtID, try await store.isAccessTokenRevoked(jti: jti) {
            throw OAuthError.invalidToken("token has been revoked")
        }
        return claims
    }

    // MARK: /revoke (RFC 7009)

    func revoke(_ request: Request, _ context: IssuerRequestContext) async throws -> Response {
        var request = request
        let body = try await BodyReader.collect(&request)
        guard BodyReader.mediaType(request) == "application/x-www-form-urlencoded" else {
            throw OAuthError.invalidRequest("Content-Type must be application/x-www-form-urlencoded")
        }
        let fields = try BodyReader.parseForm(Array(body.readableBytesView))
        let token = try fields.required("token")
        // token_type_hint is optional and only a hint (an unknown value is ignored,
        // RFC 7009 §2.1): refresh tokens are opaque, access tokens are JWTs; try both.
        _ = try fields.optional("token_type_hint")
        if try await store.revokeFamily(ofTokenHash: Secrets.tokenHash(token)) != nil {
            context.logger.info("refresh token revoked")
        } else if let snapshot = keyRing.current(), let jws = try? JWS.parse(token),
            let kid = jws.header.kid, let key = snapshot.publicKeys[kid],
            key.verifyRS256(signature: jws.signature, message: jws.signingInput),
            jws.claims.issuer == configuration.issuerURL,
            let jti = jws.claims.jwtID, let exp = jws.claims.expiresAt, Double(exp) > clock()
        {
            try await store.revokeAccessToken(jti: jti, expiresAt: exp)
            context.logger.info("access token revoked", metadata: ["jti": .string(jti)])
        }
        return Response(status: .ok, headers: [.cacheControl: "no-store"])
    }

    func tokenResponse(_ response: TokenResponse) -> Response {
        JSONResponse.token(response).response
    }
}
