import HTTPEdge
import HTTPTypes

/// The Issuer's refusals are the edge's one error type, with OAuth's names.
typealias OAuthError = EdgeError

extension EdgeError {
    /// The RFC 6749 `error` code.
    var error: String { self.code }
    /// The `error_description`.
    var errorDescription: String { self.description }

    static func invalidGrant(_ description: String) -> EdgeError { .init(.unauthorized, "invalid_grant", description) }
    static func invalidClient(_ description: String) -> EdgeError {
        .init(.unauthorized, "invalid_client", description, headers: [.wwwAuthenticate: Challenge.basic(realm: "issuer")])
    }
    static func invalidToken(_ description: String) -> EdgeError {
        .init(
            .unauthorized,
            "invalid_token",
            description,
            headers: [.wwwAuthenticate: Challenge.bearer(realm: "issuer", error: "invalid_token", description: description)]
        )
    }
}
