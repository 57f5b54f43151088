import Hummingbird
import Logging
import NIOCore
import ServiceSupport
import SharedJWT

/// Request context carrying the verified claims to handlers.
public struct ResourceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `BearerMiddleware` once the token is verified.
    public var claims: JWTClaims?
    let maxBodyBytes: Int

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.claims = nil
        self.maxBodyBytes = 65_536
    }

    public var maxUploadSize: Int { self.maxBodyBytes }
}

/// RFC 6750 bearer authentication: exactly one `Authorization: Bearer <token>` header,
/// the scheme matched case-insensitively; tokens in the query string are not accepted.
struct BearerMiddleware: RouterMiddleware {
    typealias Context = ResourceRequestContext

    let verifier: TokenVerifier
    let metrics: ResourceAPIMetrics
    let maxTokenBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let token: Substring
        do {
            token = try self.extractToken(request)
        } catch {
            self.metrics.verification(error.outcome)
            throw error
        }
        var context = context
        context.claims = try await self.verifier.verify(token)
        return try await next(request, context)
    }

    func extractToken(_ request: Request) throws(BearerError) -> Substring {
        let values = request.headers[values: .authorization]
        let queryToken = request.uri.queryParameters["access_token"] != nil
        guard let value = values.first else {
            // RFC 6750 §2.3 is optional and leaks tokens into logs; it is not supported.
            throw .missing
        }
        guard values.count == 1 else { throw .invalidRequest("more than one Authorization header") }
        if queryToken { throw .invalidRequest("a token must be sent in one way only, the Authorization header") }
        return try Self.parse(value, maxTokenBytes: self.maxTokenBytes)
    }

    /// `Bearer <b64token>` (RFC 6750 §2.1), mapped onto the contract's statuses.
    static func parse(_ value: String, maxTokenBytes: Int) throws(BearerError) -> Substring {
        do {
            return try BearerAuthorization.token(from: value, maxTokenBytes: maxTokenBytes)
        } catch {
            switch error {
            case .malformed(let description): throw .invalidRequest(description)
            case .tooLarge: throw .invalidToken(JWTError.tooLarge.description)
            }
        }
    }
}

/// Refuses request bodies over the limit with 413 before any handler runs.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > self.maxBytes {
            throw APIError.tooLarge(self.maxBytes)
        }
        var request = request
        if request.headers[.transferEncoding] != nil {
            // Unknown length: read it here, within the limit.
            do {
                _ = try await request.collectBody(upTo: self.maxBytes)
            } catch is NIOTooManyBytesError {
                // What `collectBody(upTo:)` throws past the limit.
                throw APIError.tooLarge(self.maxBytes)
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw APIError.tooLarge(self.maxBytes)
            }
        }
        return try await next(request, context)
    }
}

/// A JSON error body `{"error","error_description"}` for failures outside bearer auth.
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var description: String

    static func tooLarge(_ limit: Int) -> APIError {
        APIError(status: .contentTooLarge, code: "invalid_request", description: "the request body is over \(limit) bytes")
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let body = JSONValue.object([("error", .string(self.code)), ("error_description", .string(self.description))]).serialized()
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns Hummingbird's own errors (no route: 404, wrong method: 405, ...) and anything
/// unexpected into the contract's JSON error body; never a stack trace.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            var response = try APIError(status: error.status, code: Self.code(error.status), description: Self.description(error))
                .response(from: request, context: context)
            for field in error.headers where field.name != .contentType && field.name != .contentLength {
                response.headers.append(field)
            }
            return response
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            self.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            throw APIError(status: .internalServerError, code: "server_error", description: "internal error")
        }
    }

    static func code(_ status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: "invalid_request"
        case .badRequest: "invalid_request"
        default: status.code >= 500 ? "server_error" : "invalid_request"
        }
    }

    static func description(_ error: HTTPError) -> String {
        switch error.status {
        case .notFound: "no such resource"
        case .methodNotAllowed: "method not allowed on this resource"
        default: error.body.map { String($0.prefix(200)) } ?? error.status.reasonPhrase
        }
    }
}
