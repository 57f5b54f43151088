import CoreMetrics
import Metrics
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import ServiceSupport
import SharedJWT
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// The hot routes (`GET /healthz` and the bearer-protected `GET /api/...`) answered by a
// channel handler in Hummingbird's HTTP/1 pipeline, on the event loop.
//
// Why: measured on one core (bench/RESULTS.md), Hummingbird's per-request path (a task
// per connection hopping to the async responder, the router, the middleware chain and a
// logger with request-id metadata) costs about 27 µs of CPU per request, more than the
// RSA verify itself (about 17 µs). Answering the requests that need no I/O where NIO
// decodes them removes that, the way Go's net/http handler runs on the reading
// goroutine. Everything else, and any hot-route request that must wait (a key fetch for
// an unknown `kid`), goes on to Hummingbird's router unchanged.

/// A finished response, independent of the HTTP path that sends it.
struct APIResponse {
    var status: HTTPResponse.Status
    var headerFields: [(name: HTTPField.Name, value: String)]
    var body: [UInt8]

    static func text(_ body: String) -> APIResponse {
        APIResponse(status: .ok, headerFields: [(.contentType, "text/plain; charset=utf-8")], body: Array(body.utf8))
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> APIResponse {
        APIResponse(status: status, headerFields: [(.contentType, "application/json"), (.cacheControl, "no-store")], body: value.serialized())
    }

    static func error(_ error: BearerError) -> APIResponse {
        APIResponse(status: error.status, headerFields: error.headerFields, body: error.body)
    }

    /// The header fields and Content-Length as NIO writes them (Date is added per write).
    var nioHeaders: HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(self.headerFields.count + 2)
        for (name, value) in self.headerFields { headers.add(name: name.rawName, value: value) }
        headers.add(name: "Content-Length", value: String(self.body.count))
        return headers
    }

    /// The same response for Hummingbird's router.
    var hummingbirdResponse: Response {
        var headers = HTTPFields()
        for (name, value) in self.headerFields { headers[name] = value }
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: self.body)))
    }
}

/// The routes the fast path may answer, with their Hummingbird route names (for metrics).
enum HotRoute {
    case healthz
    case greet
    case me
    case adminGreet

    var path: String {
        switch self {
        case .healthz: "/healthz"
        case .greet: "/api/greet"
        case .me: "/api/me"
        case .adminGreet: "/api/admin/greet"
        }
    }

    var needsToken: Bool { self != .healthz }

    /// The route for a request the fast path can answer alone: `GET` of an exact path,
    /// no query, no body, HTTP/1.1 keep-alive. Anything else is the router's.
    static func match(_ head: HTTPRequestHead) -> HotRoute? {
        guard head.method == .GET, head.version == .http1_1, head.isKeepAlive else { return nil }
        let route: HotRoute
        switch head.uri {
        case "/api/greet": route = .greet
        case "/healthz": route = .healthz
        case "/api/me": route = .me
        case "/api/admin/greet": route = .adminGreet
        default: return nil
        }
        // A body (even an empty chunked one) is the router's: it owns the body limits.
        if head.headers.contains(name: "transfer-encoding") { return nil }
        for length in head.headers["content-length"] where length != "0" { return nil }
        return route
    }
}

/// `hb_requests_total`, `hb_request_errors_total` and `http_server_request_duration_seconds`
/// for fast-path requests, under the same labels Hummingbird's `MetricsMiddleware` uses, so
/// `/metrics` counts every request whichever path answered it. The active-requests meter is
/// left out: a request answered synchronously on the event loop is never observed active.
final class HotRouteMetrics: Sendable {
    private struct Key: Hashable {
        var route: HotRoute
        var status: Int
    }

    private struct Recorders {
        var requests: Counter
        var errors: Counter
        var duration: Timer
    }

    private let recorders = Mutex<[Key: Recorders]>([:])
    private let factory: any MetricsFactory

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func record(route: HotRoute, status: HTTPResponse.Status, startedAt: UInt64) {
        let recorders = self.recorders.withLock { table in
            let key = Key(route: route, status: status.code)
            if let found = table[key] { return found }
            let made = self.make(route: route.path, status: String(status.code))
            table[key] = made
            return made
        }
        recorders.requests.increment()
        if status.code >= 400 {
            // MetricsMiddleware counts a thrown error, and times only successful responses.
            recorders.errors.increment()
        } else {
            recorders.duration.recordNanoseconds(Int64(clamping: Self.nanoseconds() &- startedAt))
        }
    }

    static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    private func make(route: String, status: String) -> Recorders {
        let dimensions = [("http.route", route), ("http.request.method", "GET"), ("http.response.status_code", status)]
        let errorDimensions = [("http.route", route), ("http.request.method", "GET"), ("error.type", status)]
        return Recorders(
            requests: Counter(label: "hb.requests", dimensions: dimensions, factory: self.factory),
            errors: Counter(label: "hb.request.errors", dimensions: errorDimensions, factory: self.factory),
            duration: Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds, factory: self.factory)
        )
    }
}

/// Sits between NIO's HTTP/1 decoder and Hummingbird's codec. Answers hot-route requests
/// itself; passes every other request, whole, to Hummingbird.
///
/// Responses must leave in request order (HTTP/1.1 pipelining). Hummingbird answers the
/// requests it gets one at a time, in order; so this handler answers a request itself
/// only while no passed-on request is still waiting for its response (it counts them,
/// watching each response's `.end` go out), and passes on everything behind one that is.
final class HotRouteHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// Parts of the current request go on to Hummingbird.
        case passing
        /// The current request is ours; answered at its `.end`.
        case answering(HotRoute, HTTPRequestHead, startedAt: UInt64)
    }

    private let responder: HotRouteResponder
    private var state = State.idle
    private var passedAwaitingResponse = 0
    private var needsFlush = false
    private var readHeld = false
    private var date = HTTPDateHeader()

    init(responder: HotRouteResponder) {
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            if self.passedAwaitingResponse == 0, let route = HotRoute.match(head) {
                self.state = .answering(route, head, startedAt: HotRouteMetrics.nanoseconds())
            } else {
                self.state = .passing
                self.passedAwaitingResponse += 1
                context.fireChannelRead(data)
            }
        case .body:
            // Hot routes take no body (see `HotRoute.match`), so a body is never ours.
            if case .passing = self.state { context.fireChannelRead(data) }
        case .end:
            switch self.state {
            case .idle:
                break
            case .passing:
                self.state = .idle
                context.fireChannelRead(data)
            case .answering(let route, let head, let startedAt):
                self.state = .idle
                if let response = self.responder.respond(route, head: head) {
                    self.write(response, for: head, context: context)
                    self.responder.metrics.record(route: route, status: response.status, startedAt: startedAt)
                } else {
                    // It has to wait (a key fetch): Hummingbird's path does that.
                    self.passedAwaitingResponse += 1
                    context.fireChannelRead(self.wrapInboundOut(.head(head)))
                    context.fireChannelRead(data)
                }
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.needsFlush {
            self.needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// Back-pressure for our own answers: a client that pipelines requests but does not
    /// read the responses stops being read once its outbound buffer is full, as it would on
    /// Hummingbird's path, instead of making this handler buffer without bound.
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            self.readHeld = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if self.readHeld, context.channel.isWritable {
            self.readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data), self.passedAwaitingResponse > 0 {
            self.passedAwaitingResponse -= 1
        }
        context.write(data, promise: promise)
    }

    private func write(_ response: FastAnswer, for request: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = response.headers
        headers.add(name: "Date", value: self.date.value())
        let head = HTTPResponseHead(version: request.version, status: .init(statusCode: response.status.code), headers: headers)
        var body = context.channel.allocator.buffer(capacity: response.body.count)
        body.writeBytes(response.body)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.write(self.wrapOutboundOut(.end(nil)), promise: nil)
        self.needsFlush = true
    }
}

/// Refusals are mostly the same few (a bad signature, an expired token, no header), and
/// building each one's JSON body and challenge again cost about as much as the RSA work
/// they replace, so the fast path keeps them. Bounded: descriptions can quote request
/// data (an unknown `kid`), so past `capacity` entries new ones are built and not kept.
final class RefusalMemo: Sendable {
    private let refusals = Mutex<[BearerError: FastAnswer]>([:])
    private let capacity: Int

    init(capacity: Int = 64) {
        self.capacity = capacity
    }

    var count: Int { self.refusals.withLock { $0.count } }

    func answer(_ error: BearerError) -> FastAnswer {
        if let known = self.refusals.withLock({ $0[error] }) { return known }
        let answer = FastAnswer(APIResponse.error(error))
        self.refusals.withLock { table in
            if table.count < self.capacity { table[error] = answer }
        }
        return answer
    }
}

/// A response as the fast path writes it: NIO header fields with Content-Length.
struct FastAnswer {
    var status: HTTPResponse.Status
    var headers: HTTPHeaders
    var body: [UInt8]

    init(_ response: APIResponse) {
        self.status = response.status
        self.headers = response.nioHeaders
        self.body = response.body
    }
}

/// What the hot routes answer; shared by the fast path and Hummingbird's router so both
/// give the same response to the same request.
struct HotRouteResponder: Sendable {
    let verifier: TokenVerifier
    let metrics: HotRouteMetrics
    let apiMetrics: ResourceAPIMetrics
    let maxTokenBytes: Int
    let refusals = RefusalMemo()

    /// nil: the answer needs a key fetch; pass the request on to the router.
    func respond(_ route: HotRoute, head: HTTPRequestHead) -> FastAnswer? {
        guard route.needsToken else { return Self.healthzAnswer }
        let claims: JWTClaims
        do {
            let token = try self.token(from: head)
            guard let verified = try self.verifier.verifyWithoutWaiting(token) else { return nil }
            claims = verified
        } catch {
            return self.refusals.answer(error)
        }
        do {
            return FastAnswer(try self.respond(route, claims: claims))
        } catch {
            return self.refusals.answer(error)
        }
    }

    /// The token of `Authorization: Bearer`, with the same rules as `BearerMiddleware`.
    private func token(from head: HTTPRequestHead) throws(BearerError) -> Substring {
        let values = head.headers["authorization"]
        guard let value = values.first else {
            self.apiMetrics.verification("missing")
            throw .missing
        }
        guard values.count == 1 else {
            self.apiMetrics.verification("invalid_request")
            throw .invalidRequest("more than one Authorization header")
        }
        do {
            return try BearerMiddleware.parse(value, maxTokenBytes: self.maxTokenBytes)
        } catch {
            self.apiMetrics.verification(error.outcome)
            throw error
        }
    }

    static let healthzAnswer = FastAnswer(healthz())

    static func healthz() -> APIResponse {
        .json(.ok, .object([("status", .string("ok"))]))
    }

    /// A bearer route once its token is verified.
    func respond(_ route: HotRoute, claims: JWTClaims) throws(BearerError) -> APIResponse {
        switch route {
        case .healthz:
            return Self.healthz()
        case .greet:
            return .text("hi \(claims.subject ?? "")!")
        case .me:
            return .json(.ok, claims.jsonObject())
        case .adminGreet:
            guard claims.roles.contains("admin") else {
                self.apiMetrics.verification("insufficient_scope")
                throw .insufficientScope("admin")
            }
            return .text("hi admin \(claims.subject ?? "")!")
        }
    }
}

/// Hummingbird's HTTP/1 child channel with `HotRouteHandler` after NIO's request decoder.
struct ResourceAPIChildChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let responder: HotRouteResponder

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        self.http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try operations.addHandler(HotRouteHandler(responder: self.responder), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await self.http1.handle(value: value, logger: logger)
    }
}
