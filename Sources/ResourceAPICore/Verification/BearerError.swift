import HTTPEdge
import HTTPTypes
import Hummingbird

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
