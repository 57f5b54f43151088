import Foundation
import HTTPEdge
import Hummingbird
import Logging
import Prometheus
import SharedJWT

/// The admin key endpoints and readiness.
extension IssuerRoutes {
    // MARK: /admin

    func requireAdmin(_ request: Request) async throws {
        let claims = try await bearerClaims(request)
        guard claims.roles.contains("admin") else {
            throw OAuthError(
                .forbidden,
                "insufficient_scope",
                "role admin required",
                headers: [.wwwAuthenticate: "Bearer realm=\"issuer\", error=\"insufficient_scope\""]
            )
        }
    }

    func adminKeys(_ request: Request) async throws -> Response {
        try await requireAdmin(request)
        guard let snapshot = keyRing.current() else { throw OAuthError(.serviceUnavailable, "temporarily_unavailable", "keys not loaded") }
        return JSONResponse.make(KeyListing(snapshot.lifecycle), headers: [.cacheControl: "no-store"])
    }

    func adminRotate(_ request: Request) async throws -> Response {
        try await requireAdmin(request)
        let forceText = request.uri.queryParameters.get("force")
        guard forceText == nil || forceText == "true" || forceText == "false" else {
            throw OAuthError.invalidRequest("force must be true or false")
        }
        do {
            let lifecycle = try keyRing.rotate(force: forceText == "true")
            return JSONResponse.make(KeyListing(lifecycle), headers: [.cacheControl: "no-store"])
        } catch let error as KeyLifecycleError {
            if case .rotationTooEarly(let wait) = error {
                let seconds = Int(wait.rounded(.up))
                throw OAuthError(.conflict, "rotation_too_early", error.description, headers: [.retryAfter: String(seconds)])
            }
            throw OAuthError(.conflict, "invalid_key_state", error.description)
        } catch let error as ReadOnlyKeysError {
            throw OAuthError(.conflict, "keys_read_only", error.description)
        }
    }

    // MARK: Health

    func readiness() async -> Response {
        guard let snapshot = keyRing.current() else {
            return JSONResponse.make(
                status: .serviceUnavailable,
                ["status": "not ready", "reason": "keys not loaded"],
                headers: [.cacheControl: "no-store"]
            )
        }
        do {
            try await store.ping()
        } catch {
            // The database's own words (a LogSafeError never quotes request data or secrets).
            let cause = (error as? any LogSafeError)?.logSafeMessage ?? "the store did not answer"
            self.refreshGrant.logger.warning("not ready: the store cannot be written", metadata: ErrorLogMetadata.of(error))
            return JSONResponse.make(
                status: .serviceUnavailable,
                ["status": "not ready", "reason": "store unavailable: \(cause)"],
                headers: [.cacheControl: "no-store"]
            )
        }
        return JSONResponse.make(["status": "ready", "active_kid": snapshot.activeKID], headers: [.cacheControl: "no-store"])
    }
}
