import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import ServiceSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The fast path of both services: a channel handler after Hummingbird's connection state
/// handler, so idle timeouts, graceful shutdown and closes see every exchange, answering
/// the requests its `FastRoutes` claim and passing every other one, whole, to Hummingbird.
///
/// It also answers what the HTTP parser refuses, as the conventions say: 431 with the JSON
/// error body for a head over the limit, 400 for anything else, then closes.
public final class FastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let routes: (any FastRoutes)?
    private let metrics: RequestMetrics
    private let limits: EdgeLimits
    private let logger: Logger
    private var machine = FastPathStateMachine()
    private var series: [Int: RequestMetrics.Series] = [:]
    private var dateSecond = -1
    private var dateField = HTTPField(name: .date, value: "")
    private var needsFlush = false
    private var readHeld = false
    private var removed = false

    /// `routes` nil: the fast path is switched off; every request goes to the router.
    public init(routes: (any FastRoutes)?, metrics: RequestMetrics, limits: EdgeLimits, logger: Logger) {
        self.routes = routes
        self.metrics = metrics
        self.limits = limits
        self.logger = logger
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.removed = true
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.read(self.unwrapInboundIn(data), context: context)
    }

    private func read(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        let routes = self.routes
        // The clock is read once per request, at its head.
        let now: UInt64
        if case .head = part { now = EdgeClock.nanoseconds() } else { now = 0 }
        let action = self.machine.read(part, now: now) { head in routes?.claim(head) }
        switch action {
        case .forward(let part):
            context.fireChannelRead(self.wrapInboundOut(part))
        case .keep:
            break
        case .decide(let head, let claim, let body, let startedAt):
            self.decide(head, claim: claim, body: body, startedAt: startedAt, context: context)
        }
    }

    private func decide(_ head: HTTPRequest, claim: FastClaim, body: ByteBuffer?, startedAt: UInt64, context: ChannelHandlerContext) {
        guard let routes = self.routes else { return }
        switch routes.respond(to: head, claim: claim, body: body, eventLoop: context.eventLoop) {
        case .answer(let response):
            self.write(response, for: head, claim: claim, startedAt: startedAt, context: context)
        case .later(let future):
            self.machine.answerLater()
            future.assumeIsolated().whenComplete { result in
                let response: EdgeResponse
                switch result {
                case .success(let answer): response = answer
                case .failure(let error):
                    self.logger.error("fast path answer failed", metadata: ["error.type": .string(String(reflecting: type(of: error)))])
                    response = .error(.internalError)
                }
                guard !self.removed else { return }
                self.write(response, for: head, claim: claim, startedAt: startedAt, context: context)
                context.flush()
                self.needsFlush = false
                self.resume(context: context)
            }
        case .pass:
            self.machine.passedOn()
            context.fireChannelRead(self.wrapInboundOut(.head(head)))
            if let body { context.fireChannelRead(self.wrapInboundOut(.body(body))) }
            context.fireChannelRead(self.wrapInboundOut(.end(nil)))
        }
    }

    /// After a later answer: the parts that waited, then reading again.
    private func resume(context: ChannelHandlerContext) {
        let waiting = self.machine.answered()
        if !waiting.isEmpty {
            for (index, part) in waiting.enumerated() {
                self.read(part, context: context)
                if self.machine.isAnswering {
                    // Another later answer: what is left waits again, in order.
                    for rest in waiting[(index + 1)...] { _ = self.machine.read(rest, now: 0) { _ in nil } }
                    break
                }
            }
            // What went on to Hummingbird is delivered at a read-complete, as after a read.
            context.fireChannelReadComplete()
            if self.needsFlush {
                self.needsFlush = false
                context.flush()
            }
            if self.machine.isAnswering { return }
        }
        if self.readHeld, context.channel.isWritable {
            self.readHeld = false
            context.read()
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if self.needsFlush {
            self.needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// Reads are held while a later answer is pending (what follows would only wait) and
    /// while the channel is not writable: a client that pipelines requests but does not read
    /// the responses stops being read once its outbound buffer is full.
    public func read(context: ChannelHandlerContext) {
        if context.channel.isWritable, !self.machine.isAnswering {
            context.read()
        } else {
            self.readHeld = true
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if self.readHeld, context.channel.isWritable, !self.machine.isAnswering {
            self.readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) { self.machine.wroteRouterResponseEnd() }
        context.write(data, promise: promise)
    }

    /// A parse error from NIO's decoder: answered here when nothing else is owed an answer.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let refusal: EdgeError
        switch error {
        case HTTPParserError.invalidEOFState:
            // The peer hung up mid-request: nobody to answer, nothing to count here (the
            // router's request, if it has one, learns it from its body stream).
            guard self.machine.mayAnswerNow else {
                context.fireErrorCaught(error)
                return
            }
            context.close(promise: nil)
            return
        case HTTPParserError.headerOverflow:
            refusal = .headTooLarge(self.limits)
        case is HTTPParserError:
            refusal = .malformedRequest
        default:
            context.fireErrorCaught(error)
            return
        }
        guard self.machine.mayAnswerNow else {
            context.fireErrorCaught(error)
            return
        }
        let response = EdgeResponse.error(refusal)
        let head = self.head(of: response)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(response.body)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        let series = self.metrics.series(method: .get, route: RequestMetrics.unknownRoute, status: response.status)
        series.record(nanoseconds: 0)
    }

    /// The response head with its `Date` (an `EdgeResponse` never carries one).
    private func head(of response: EdgeResponse) -> HTTPResponse {
        let now = time(nil)
        if now != self.dateSecond {
            self.dateSecond = now
            self.dateField = HTTPField(name: .date, value: HTTPDateHeader.format(now))
        }
        var fields = response.headers
        fields.append(self.dateField)
        return HTTPResponse(status: response.status, headerFields: fields)
    }

    private func write(_ response: EdgeResponse, for request: HTTPRequest, claim: FastClaim, startedAt: UInt64, context: ChannelHandlerContext) {
        let head = self.head(of: response)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .head {
            context.write(self.wrapOutboundOut(.body(response.body)), promise: nil)
        }
        context.write(self.wrapOutboundOut(.end(nil)), promise: nil)
        self.needsFlush = true
        let elapsed = EdgeClock.nanoseconds() &- startedAt
        self.series(request.method, claim, response.status).record(nanoseconds: elapsed)
        RequestLog.emit(
            self.logger,
            requestID: nil,
            method: request.method,
            path: request.path,
            route: claim.route,
            status: response.status,
            nanoseconds: elapsed
        )
    }

    /// The metrics series, looked up once per connection for each route, method and status.
    private func series(_ method: HTTPRequest.Method, _ claim: FastClaim, _ status: HTTPResponse.Status) -> RequestMetrics.Series {
        let methodIndex: Int
        switch method {
        case .get: methodIndex = 0
        case .head: methodIndex = 1
        case .post: methodIndex = 2
        default: methodIndex = 3
        }
        let key = (claim.routeIndex << 12) | (status.code << 2) | methodIndex
        if let found = self.series[key] { return found }
        let made = self.metrics.series(method: method, route: claim.route, status: status)
        self.series[key] = made
        return made
    }
}
