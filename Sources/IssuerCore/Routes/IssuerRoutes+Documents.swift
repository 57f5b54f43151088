import Foundation
import HTTPEdge
import Hummingbird
import Logging
import Prometheus
import SharedJWT

/// The Issuer's published documents: the JWK Set, discovery, the revocation feed.
extension IssuerRoutes {
    // MARK: JWKS and discovery

    func jwks(_ request: Request) -> Response {
        guard let snapshot = keyRing.current() else {
            return EdgeResponse.error(EdgeError(.serviceUnavailable, "temporarily_unavailable", "keys not loaded")).response
        }
        var headers: HTTPFields = [
            .cacheControl: "public, max-age=\(configuration.jwksMaxAge)",
            .eTag: snapshot.etag,
        ]
        if let match = request.headers[.ifNoneMatch], Self.etagMatches(match, snapshot.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/jwk-set+json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: snapshot.jwks)))
    }

    static func etagMatches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            let trimmed = candidate.trimmingCharacters(in: .whitespaces)
            return trimmed == "*" || trimmed == etag || trimmed == "W/" + etag
        }
    }

    func discovery() -> Response {
        struct Metadata: Encodable {
            var issuer: String
            var jwks_uri: String
            var token_endpoint: String
            var revocation_endpoint: String
            var grant_types_supported = ["refresh_token", "client_credentials"]
            var token_endpoint_auth_methods_supported = ["client_secret_basic"]
            var revocation_endpoint_auth_methods_supported = ["none"]
            /// RFC 8414 makes this member REQUIRED and non-empty. There is no authorization
            /// endpoint (no `code` or `token` response type), so the only honest value is
            /// `none` (OAuth 2.0 Multiple Response Type Encoding Practices §4).
            var response_types_supported = ["none"]
            var scopes_supported = [TokenService.loginScope]
            var subject_types_supported = ["public"]
            var id_token_signing_alg_values_supported = ["RS256"]
        }
        let base = configuration.issuerURL
        let metadata = Metadata(
            issuer: base,
            jwks_uri: base + "/.well-known/jwks.json",
            token_endpoint: base + "/token",
            revocation_endpoint: base + "/revoke"
        )
        return JSONResponse.make(metadata, headers: [.cacheControl: "public, max-age=\(configuration.jwksMaxAge)"])
    }

    // MARK: /revocations

    func revocations(_ request: Request) async throws -> Response {
        struct Feed: Encodable {
            struct Entry: Encodable {
                var jti: String
                var exp: Int64
            }
            var cursor: Int64
            var revoked: [Entry]
            var retired_kids: [String]
        }
        var after: Int64 = 0
        if let text = request.uri.queryParameters.get("after") {
            guard !text.isEmpty, text.count <= 18, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(text) else {
                throw OAuthError.invalidRequest("after must be a non-negative integer cursor")
            }
            after = value
        }
        let now = clock()
        let (cursor, entries) = try await store.revocations(after: after, now: now)
        let retired = keyRing.current()?.lifecycle.emergencyRetiredKIDs(now: now, policy: configuration.lifecyclePolicy) ?? []
        let feed = Feed(cursor: cursor, revoked: entries.map { .init(jti: $0.jti, exp: $0.exp) }, retired_kids: retired)
        return JSONResponse.make(feed, headers: [.cacheControl: "no-cache"])
    }
}
