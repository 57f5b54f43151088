import HTTPTypes
import Hummingbird
import SharedJWT

/// Every refusal of both services: a status, an RFC error code and description, and the
/// header fields the status needs (`Allow`, `WWW-Authenticate`, `Retry-After`).
///
/// Rendered once, by `EdgeResponse.error`, as `{"error","error_description"}` with
/// `Content-Type: application/json` and `Cache-Control: no-store`, on either HTTP path.
public struct EdgeError: Error, HTTPResponseError, Hashable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    /// The `error` member: an RFC 6749 / RFC 6750 code, or `not_found`, `method_not_allowed`.
    public var code: String
    /// The `error_description` member.
    public var description: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ code: String, _ description: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.description = description
        self.headers = headers
    }

    /// `{"error","error_description"}`.
    public var body: [UInt8] {
        JSONValue.object([("error", .string(self.code)), ("error_description", .string(self.description))]).serialized()
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        EdgeResponse.error(self).response
    }

    // MARK: The conventions' refusals

    /// 404 for a path no route serves.
    public static let notFound = EdgeError(.notFound, "not_found", "no such resource")

    /// 405 with `Allow` for a known path asked with a method it does not serve.
    public static func methodNotAllowed(path: String, allowed: [HTTPRequest.Method]) -> EdgeError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return EdgeError(.methodNotAllowed, "method_not_allowed", "\(path) accepts \(list) only", headers: [.allow: list])
    }

    /// 413 for a body over the limit.
    public static func bodyTooLarge(limit: Int) -> EdgeError {
        EdgeError(.contentTooLarge, "invalid_request", "the request body is over \(limit) bytes")
    }

    /// 431 for a request head over the limit; the connection is closed after it.
    public static func headTooLarge(_ limits: EdgeLimits) -> EdgeError {
        EdgeError(
            .requestHeaderFieldsTooLarge,
            "invalid_request",
            "the request head is over \(limits.maxHeadBytes) bytes or \(limits.maxHeaderFields) header fields",
            headers: [.connection: "close"]
        )
    }

    /// 400 for a request the HTTP parser refused; the connection is closed after it.
    public static let malformedRequest = EdgeError(.badRequest, "invalid_request", "malformed HTTP request", headers: [.connection: "close"])

    /// 408 for a head or body that stopped arriving; the connection is closed after it.
    public static func requestTimeout(_ limits: EdgeLimits) -> EdgeError {
        EdgeError(
            .requestTimeout,
            "invalid_request",
            "the request did not arrive within \(limits.headerTimeout.components.seconds) s",
            headers: [.connection: "close"]
        )
    }

    /// 400 for an HTTP/1.1 request without exactly one `Host` (RFC 9112 §3.2); closed after it.
    public static let hostRequired = EdgeError(
        .badRequest,
        "invalid_request",
        "a request needs exactly one Host header field",
        headers: [.connection: "close"]
    )

    /// 400 for a request whose peer hung up before it was complete (nobody reads the answer).
    public static let requestEndedEarly = EdgeError(
        .badRequest,
        "invalid_request",
        "the request ended before its body",
        headers: [.connection: "close"]
    )

    /// 400 `invalid_request`.
    public static func invalidRequest(_ description: String) -> EdgeError {
        EdgeError(.badRequest, "invalid_request", description)
    }

    /// 500, with nothing of the cause in the answer.
    public static let internalError = EdgeError(.internalServerError, "server_error", "internal error")
}
