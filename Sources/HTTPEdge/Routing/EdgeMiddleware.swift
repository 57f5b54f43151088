import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// The router path's edge, first in each service's middleware chain: the body limit, the
/// method policy, every error as the one JSON error body, the request metrics and the
/// request log line. The fast path applies the same rules (`FastPathHandler`).
public struct EdgeMiddleware<Context: RequestContext>: RouterMiddleware {
    let table: EdgeRouteTable
    let metrics: RequestMetrics
    let limits: EdgeLimits

    public init(table: EdgeRouteTable, metrics: RequestMetrics, limits: EdgeLimits = .standard) {
        self.table = table
        self.metrics = metrics
        self.limits = limits
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = EdgeClock.nanoseconds()
        var response: Response
        do {
            response = try await next(try await self.limited(request), context)
        } catch {
            response = EdgeResponse.error(self.refusal(for: error, request: request, logger: context.logger)).response
        }
        if request.method == .head {
            // RFC 9110 §9.3.2: the GET answer's status and header fields, no content.
            response = response.createHeadResponse()
        }
        let route = self.table.routeLabel(request.uri.path)
        let elapsed = EdgeClock.nanoseconds() &- start
        self.metrics.record(method: request.method, route: route, status: response.status, nanoseconds: elapsed)
        RequestLog.emit(
            context.logger,
            requestID: nil,
            method: request.method,
            path: request.uri.string,
            route: route,
            status: response.status,
            nanoseconds: elapsed
        )
        return response
    }

    /// The request with its body held to the limit: a declared length over it is refused
    /// before any handler runs; a body of unknown length is read here, within the limit.
    func limited(_ request: Request) async throws -> Request {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > self.limits.maxBodyBytes {
            throw EdgeError.bodyTooLarge(limit: self.limits.maxBodyBytes)
        }
        guard request.headers[.transferEncoding] != nil else { return request }
        var request = request
        _ = try await request.collectBody(upTo: self.limits.maxBodyBytes)
        return request
    }

    /// Any error as the edge's answer; an unexpected one is logged by type only (its text
    /// may quote request data) and answered 500.
    func refusal(for error: any Error, request: Request, logger: Logger) -> EdgeError {
        switch error {
        case let error as EdgeError:
            return error
        case let error as any EdgeErrorConvertible:
            return error.edgeError
        case is NIOTooManyBytesError:
            return .bodyTooLarge(limit: self.limits.maxBodyBytes)
        case let error as HTTPError:
            return self.refusal(for: error, path: request.uri.path)
        case let error as HTTPParserError:
            // The body as the parser read it: a peer that hung up mid-request, or framing it
            // refused (a chunk size over the limit). The client's doing, not a server error.
            logger.debug("request body refused by the HTTP parser", metadata: ["error": .string("\(error)")])
            return error == .invalidEOFState ? .requestEndedEarly : .malformedRequest
        case is ChannelError:
            logger.debug("connection gone mid-request", metadata: ["error.type": .string(String(reflecting: type(of: error)))])
            return .requestEndedEarly
        default:
            logger.error("unexpected error", metadata: ErrorLogMetadata.of(error))
            return .internalError
        }
    }

    func refusal(for error: HTTPError, path: String) -> EdgeError {
        switch error.status {
        case .notFound:
            // What Hummingbird's router throws for an unknown path and for a known one
            // asked with a method it does not serve.
            return self.table.refusal(path: path)
        case .contentTooLarge:
            return .bodyTooLarge(limit: self.limits.maxBodyBytes)
        default:
            var headers = HTTPFields()
            for field in error.headers where field.name != .contentType && field.name != .contentLength {
                headers.append(field)
            }
            let code = error.status.code >= 500 ? "server_error" : "invalid_request"
            let description = error.body.map { String($0.prefix(200)) } ?? error.status.reasonPhrase
            return EdgeError(error.status, code, description, headers: headers)
        }
    }
}
