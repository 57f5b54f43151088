import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import ServiceSupport
import SharedJWT
import Synchronization

/// Request context: Hummingbird's core storage plus the client address for rate limits.
public struct IssuerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Bodies over 64 KiB get 413.
    public var maxUploadSize: Int { IssuerLimits.maxBodyBytes }
}

enum IssuerLimits {
    static let maxBodyBytes = 64 * 1024
    /// Longest username, password, client id, token... we look at.
    static let maxFieldBytes = 8 * 1024
}

/// An error answered as `{"error","error_description"}` with a status and extra headers.
struct OAuthError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var error: String
    var errorDescription: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ error: String, _ description: String, headers: HTTPFields = [:]) {
        self.status = status
        self.error = error
        self.errorDescription = description
        self.headers = headers
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        PlainResponse.error(self).hummingbirdResponse
    }

    static func invalidRequest(_ description: String) -> OAuthError { .init(.badRequest, "invalid_request", description) }
    static func invalidGrant(_ description: String) -> OAuthError { .init(.unauthorized, "invalid_grant", description) }
    static func invalidClient(_ description: String) -> OAuthError {
        .init(.unauthorized, "invalid_client", description, headers: [.wwwAuthenticate: "Basic realm=\"issuer\""])
    }
    static func invalidToken(_ description: String) -> OAuthError {
        let escaped = description.replacingOccurrences(of: "\"", with: "'")
        return .init(
            .unauthorized, "invalid_token", description,
            headers: [.wwwAuthenticate: "Bearer realm=\"issuer\", error=\"invalid_token\", error_description=\"\(escaped)\""]
        )
    }
}

enum JSONResponse {
    static func make(status: HTTPResponse.Status = .ok, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        PlainResponse.json(status: status, value, headers: headers).hummingbirdResponse
    }

    static func make(status: HTTPResponse.Status = .ok, bytes: some Collection<UInt8>, headers: HTTPFields = [:]) -> Response {
        PlainResponse.json(status: status, bytes: Array(bytes), headers: headers).hummingbirdResponse
    }

    static func error(status: HTTPResponse.Status, error: String, description: String, headers: HTTPFields = [:]) -> Response {
        PlainResponse.error(status: status, error: error, description: description, headers: headers).hummingbirdResponse
    }
}

/// A whole response as bytes, independent of the HTTP path that sends it: Hummingbird's
/// router, or the /token fast path (`TokenRouteHandler`). Both build their answers here,
/// so the same request gets the same answer whichever path takes it.
struct PlainResponse {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: [UInt8]

    static func json(status: HTTPResponse.Status = .ok, bytes: [UInt8], headers: HTTPFields = [:]) -> PlainResponse {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return PlainResponse(status: status, headers: fields, body: bytes)
    }

    static func json(status: HTTPResponse.Status = .ok, _ value: some Encodable, headers: HTTPFields = [:]) -> PlainResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return json(status: status, bytes: Array(data), headers: headers)
    }

    /// The contract's error body, `{"error","error_description"}`, never cached.
    static func error(status: HTTPResponse.Status, error: String, description: String, headers: HTTPFields = [:]) -> PlainResponse {
        var fields = headers
        fields[.cacheControl] = "no-store"
        return json(status: status, ["error": error, "error_description": description], headers: fields)
    }

    static func error(_ error: OAuthError) -> PlainResponse {
        .error(status: error.status, error: error.error, description: error.errorDescription, headers: error.headers)
    }

    /// RFC 6749 §5.1: a token response is never cached.
    static func token(_ response: TokenResponse) -> PlainResponse {
        let headers: HTTPFields = [.cacheControl: "no-store", .pragma: "no-cache"]
        if let body = response.sortedJSON() { return json(bytes: body, headers: headers) }
        return json(response, headers: headers)
    }

    var hummingbirdResponse: Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns every error into the contract's JSON body, so nothing answers with a bare
/// status, an HTML page or a stack trace.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as OAuthError {
            return try error.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            let (name, description) = Self.describe(error.status)
            var headers: HTTPFields = [:]
            if let httpError = error as? HTTPError {
                for field in httpError.headers where field.name != .contentType && field.name != .contentLength {
                    headers.append(field)
                }
            }
            return JSONResponse.error(status: error.status, error: name, description: description, headers: headers)
        } catch {
            return Self.unhandled(error, logger: context.logger).hummingbirdResponse
        }
    }

    /// Any other error: logged by type only (it may quote request data), answered 500.
    static func unhandled(_ error: any Error, logger: Logger) -> PlainResponse {
        logger.error("unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
        return .error(status: .internalServerError, error: "server_error", description: "internal error")
    }

    static func describe(_ status: HTTPResponse.Status) -> (String, String) {
        switch status.code {
        case 404: return ("not_found", "no such endpoint")
        case 405: return ("method_not_allowed", "method not allowed on this endpoint")
        case 413: return ("request_too_large", "request body over \(IssuerLimits.maxBodyBytes) bytes")
        case 400: return ("invalid_request", "malformed request")
        default: return (status.code >= 500 ? "server_error" : "invalid_request", status.reasonPhrase)
        }
    }
}

/// A parsed request body: JSON object members or form fields, all strings.
struct BodyFields {
    var values: [String: String]

    subscript(name: String) -> String? { values[name] }

    /// A required, non-empty field of bounded length.
    func required(_ name: String, error: (String) -> OAuthError = OAuthError.invalidRequest) throws -> String {
        guard let value = values[name], !value.isEmpty else { throw error("missing \(name)") }
        guard value.utf8.count <= IssuerLimits.maxFieldBytes else { throw error("\(name) is too long") }
        return value
    }

    func optional(_ name: String) throws -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        guard value.utf8.count <= IssuerLimits.maxFieldBytes else { throw OAuthError.invalidRequest("\(name) is too long") }
        return value
    }
}

enum BodyKind {
    case json, form
}

/// Reads and parses bodies with the 64 KiB cap.
enum BodyReader {
    static func collect(_ request: inout Request) async throws -> ByteBuffer {
        do {
            return try await request.collectBody(upTo: IssuerLimits.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw OAuthError(.contentTooLarge, "invalid_request", "request body over \(IssuerLimits.maxBodyBytes) bytes")
        }
    }

    static func mediaType(_ request: Request) -> String? {
        mediaType(of: request.headers[.contentType])
    }

    /// The media type of a Content-Type value, lowercased, without parameters.
    static func mediaType(of value: String?) -> String? {
        guard let value else { return nil }
        // ASCII (every real Content-Type): the same answer without Foundation's
        // CharacterSet trimming and Unicode lowercasing, which cost more than the rest
        // of the form parsing.
        if value.utf8.allSatisfy({ $0 < 0x80 }) {
            guard let first = value.utf8.split(separator: UInt8(ascii: ";")).first else { return nil }
            let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            var bytes = first.drop(while: isBlank)
            while let last = bytes.last, isBlank(last) { bytes = bytes.dropLast() }
            return String(decoding: bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }, as: UTF8.self)
        }
        return value.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
    }

    /// Accepts the listed kinds; any other Content-Type is a malformed request
    /// (400 invalid_request, the contract's status for a bad body).
    static func fields(_ request: inout Request, accept kinds: Set<BodyKind>) async throws -> BodyFields {
        let body = try await collect(&request)
        let type = mediaType(request)
        let bytes = Array(body.readableBytesView)
        if type == "application/json" && kinds.contains(.json) {
            return try parseJSON(bytes)
        }
        if type == "application/x-www-form-urlencoded" && kinds.contains(.form) {
            return try parseForm(bytes)
        }
        let expected = kinds.sorted { $0 == .json && $1 == .form }.map {
            $0 == .json ? "application/json" : "application/x-www-form-urlencoded"
        }.joined(separator: " or ")
        throw OAuthError.invalidRequest("Content-Type must be \(expected)")
    }

    static func parseJSON(_ bytes: [UInt8]) throws -> BodyFields {
        do {
            return BodyFields(values: try BodyFieldsParser.parseJSONObject(bytes))
        } catch {
            throw OAuthError.invalidRequest(error.description)
        }
    }

    static func parseForm(_ bytes: [UInt8]) throws -> BodyFields {
        do {
            return BodyFields(values: try BodyFieldsParser.parseForm(bytes))
        } catch {
            throw OAuthError.invalidRequest(error.description)
        }
    }
}

extension HTTPField.Name {
    static let retryAfter = Self("Retry-After")!
    static let pragma = Self("Pragma")!
}

/// One debug line per request: method, path without the query (a misused query string
/// could carry a token), status and duration.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        context.logger.debug(
            "request",
            metadata: [
                "method": .string(request.method.rawValue),
                "path": .string(request.uri.path),
                "status": .stringConvertible(response.status.code),
                "ms": .string(String(format: "%.1f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)),
            ]
        )
        return response
    }
}

/// Hummingbird's `MetricsMiddleware` with the same metrics (names, labels, values), except
/// that a response is counted and timed when the handler returns it rather than after its
/// body is written. Hummingbird's version wraps every body in a closure to do the latter,
/// which takes the response off the server's single-write path: head, body and end then
/// go to the channel as three writes, each a hop to the event loop (on /token that was
/// about a tenth of the request's CPU). Every Issuer response body is one buffer, so the
/// two points in time are microseconds apart.
struct ResponseMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let cache: ResponseMetricsCache

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let startTime = DispatchTime.now().uptimeNanoseconds
        let active = cache.activeRequests(request.method)
        active.increment()
        defer { active.decrement() }
        do {
            let response = try await next(request, context)
            let metrics = cache.endpoint(.init(endpoint: context.endpointPath ?? "Unknown", method: request.method, status: response.status))
            metrics.counter.increment()
            metrics.timer.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - startTime)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            let metrics = cache.endpoint(.init(endpoint: context.endpointPath ?? "NotFound", method: request.method, status: status))
            metrics.counter.increment()
            metrics.errorCounter.increment()
            throw error
        }
    }
}

/// The metric objects per method and per (route, method, status), made once each.
final class ResponseMetricsCache: Sendable {
    struct EndpointID: Hashable {
        let endpoint: String
        let method: HTTPRequest.Method
        let status: HTTPResponse.Status
    }

    struct EndpointMetrics: Sendable {
        let counter: Counter
        let timer: Metrics.Timer
        let errorCounter: Counter

        init(_ id: EndpointID) {
            let route = ("http.route", id.endpoint)
            let method = ("http.request.method", id.method.description)
            let status = id.status.code.description
            counter = Counter(label: "hb.requests", dimensions: [route, method, ("http.response.status_code", status)])
            timer = Metrics.Timer(
                label: "http.server.request.duration", dimensions: [route, method, ("http.response.status_code", status)],
                preferredDisplayUnit: .seconds
            )
            errorCounter = Counter(label: "hb.request.errors", dimensions: [route, method, ("error.type", status)])
        }
    }

    private let methods = Mutex<[HTTPRequest.Method: Meter]>([:])
    private let endpoints = Mutex<[EndpointID: EndpointMetrics]>([:])

    func activeRequests(_ method: HTTPRequest.Method) -> Meter {
        methods.withLock { map in
            if let meter = map[method] { return meter }
            let meter = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.description)])
            map[method] = meter
            return meter
        }
    }

    func endpoint(_ id: EndpointID) -> EndpointMetrics {
        endpoints.withLock { map in
            if let metrics = map[id] { return metrics }
            let metrics = EndpointMetrics(id)
            map[id] = metrics
            return metrics
        }
    }
}
