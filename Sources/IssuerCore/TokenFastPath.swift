import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import ServiceSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// The refresh grant of `POST /token` answered by a channel handler in Hummingbird's HTTP/1
// pipeline, on the event loop, with the SQLite commit shared by every refresh that
// arrived in the same event-loop tick.
//
// Why: on one core a refresh through Hummingbird's router cost about 390 µs of CPU, of
// which the RSA signature is about 220 and the HTTP path (a task per connection, the
// hops between the event loop and the concurrency pool, the router and its middleware)
// about 90. Issue 8 asks for 3× the Go seed's /login, about 300 µs a token here. What
// runs on the event loop is CPU work only: form parsing, SHA-256, one SQLite transaction
// in WAL mode without fsync (`ImmediateRefreshWriter`, which never waits for a lock) and
// the signature. Anything else goes on to the router unchanged: other grants, client
// authentication, malformed bodies (the router writes those errors). A refresh that
// finds the database busy waits for it off the event loop and is answered when done.

/// Which `POST /token` requests the fast path takes, and their refresh token.
enum TokenRoute {
    /// A refresh form is under 200 bytes; anything much longer is not one of ours.
    static let maxBodyBytes = 4096

    /// `POST /token` of HTTP/1.1 keep-alive, with a form body of declared length and no
    /// client authentication (the router checks credentials and owns the body limits).
    static func matches(_ head: HTTPRequestHead) -> Bool {
        guard head.method == .POST, head.uri == "/token", head.version == .http1_1, head.isKeepAlive else { return false }
        let headers = head.headers
        guard !headers.contains(name: "authorization"), !headers.contains(name: "transfer-encoding"),
            !headers.contains(name: "expect")
        else { return false }
        let lengths = headers["content-length"]
        guard lengths.count == 1, let length = lengths.first.flatMap({ Int($0) }), length > 0, length <= maxBodyBytes else {
            return false
        }
        let types = headers["content-type"]
        return types.count == 1 && BodyReader.mediaType(of: types.first) == "application/x-www-form-urlencoded"
    }

    /// The refresh token of a well-formed `grant_type=refresh_token` form; nil for anything
    /// else, which the router then answers (with the same parser, so the same error).
    static func refreshToken(inForm body: ByteBuffer) -> String? {
        guard let fields = try? BodyReader.parseForm(Array(body.readableBytesView)),
            (try? fields.optional("grant_type")) == "refresh_token"
        else { return nil }
        return try? fields.required("refresh_token")
    }
}

/// What the fast path shares with the router: the routes' refresh logic and metrics.
struct TokenFastPath: Sendable {
    let routes: IssuerRoutes
    let responseMetrics: ResponseMetricsCache
    let logger: Logger

    /// The response to a refresh whose store call has returned; exactly what the router's
    /// `/token` gives (see `IssuerRoutes.token` and `JSONErrorMiddleware`).
    func respond(_ prepared: PreparedRefresh, _ result: Result<RefreshResult, any Error>) -> PlainResponse {
        do {
            return .token(try routes.answerRefresh(prepared, result, refusalStatus: .badRequest, logger: logger))
        } catch let error as OAuthError {
            return .error(error)
        } catch {
            return JSONErrorMiddleware<IssuerRequestContext>.unhandled(error, logger: logger)
        }
    }

    /// `ResponseMetricsMiddleware`'s metrics and `RequestLogMiddleware`'s line, for a
    /// request answered here.
    func record(status: HTTPResponse.Status, startedAt: UInt64) {
        let elapsed = FastClock.nanoseconds() &- startedAt
        let metrics = responseMetrics.endpoint(.init(endpoint: "/token", method: .post, status: status))
        metrics.counter.increment()
        metrics.timer.recordNanoseconds(Int64(clamping: elapsed))
        if logger.logLevel <= .debug {
            logger.debug(
                "request",
                metadata: [
                    "method": "POST", "path": "/token", "status": .stringConvertible(status.code),
                    "ms": .string(String(format: "%.1f", Double(elapsed) / 1e6)),
                ]
            )
        }
    }
}

enum FastClock {
    static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}

/// Sits between NIO's HTTP/1 decoder and Hummingbird's codec. Answers refresh-grant
/// `POST /token` requests itself; passes every other request, whole, to Hummingbird.
///
/// Responses leave in request order (HTTP/1.1 pipelining): a request is answered here only
/// while no passed-on request awaits its response (counted by watching each response's
/// `.end` go out), and while one of ours is being answered, the parts that follow wait
/// here (reads are held meanwhile) and are handled once it is written.
final class TokenRouteHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// Parts of the current request go on to Hummingbird.
        case passing
        /// The current request may be ours; decided at its `.end`.
        case collecting(HTTPRequestHead, body: ByteBuffer?, startedAt: UInt64)
        /// Ours, waiting for its commit; whatever arrives meanwhile waits in `waiting`.
        case answering
    }

    private let fastPath: TokenFastPath
    private var state = State.idle
    private var passedAwaitingResponse = 0
    private var waiting = CircularBuffer<HTTPServerRequestPart>()
    private var readHeld = false
    private var removed = false
    /// A graceful shutdown's `ChannelShouldQuiesceEvent`, held while a request of ours is
    /// under way (see `userInboundEventTriggered`).
    private var quiesceHeld = false
    private var date = HTTPDateHeader()

    init(fastPath: TokenFastPath) {
        self.fastPath = fastPath
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .answering = state {
            waiting.append(part)
        } else {
            handle(part, context: context)
        }
    }

    /// Hummingbird closes an idle connection when the server shuts down gracefully, and a
    /// request answered here is invisible to it: closing then would lose an answer whose
    /// rotation is already committed (the client, left with its old token, would next
    /// replay it and end its session). So the event waits until ours is written.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, isOurs {
            quiesceHeld = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// A request of ours is being received or answered.
    private var isOurs: Bool {
        switch state {
        case .collecting, .answering: true
        case .idle, .passing: false
        }
    }

    private func forwardHeldQuiesce(context: ChannelHandlerContext) {
        guard quiesceHeld, !isOurs else { return }
        quiesceHeld = false
        context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            if passedAwaitingResponse == 0, TokenRoute.matches(head) {
                state = .collecting(head, body: nil, startedAt: FastClock.nanoseconds())
            } else {
                state = .passing
                passedAwaitingResponse += 1
                context.fireChannelRead(wrapInboundOut(part))
            }
        case .body(var chunk):
            switch state {
            case .collecting(let head, let body, let startedAt):
                // Bounded: the decoder delivers no more than the Content-Length `matches` checked.
                guard var body else {
                    state = .collecting(head, body: chunk, startedAt: startedAt)
                    return
                }
                body.writeBuffer(&chunk)
                state = .collecting(head, body: body, startedAt: startedAt)
            case .passing:
                context.fireChannelRead(wrapInboundOut(part))
            case .idle, .answering:
                break
            }
        case .end:
            switch state {
            case .passing:
                state = .idle
                context.fireChannelRead(wrapInboundOut(part))
            case .collecting(let head, let body, let startedAt):
                if let body, let token = TokenRoute.refreshToken(inForm: body) {
                    answer(head, refreshToken: token, startedAt: startedAt, context: context)
                } else {
                    state = .idle
                    passedAwaitingResponse += 1
                    context.fireChannelRead(wrapInboundOut(.head(head)))
                    if let body { context.fireChannelRead(wrapInboundOut(.body(body))) }
                    context.fireChannelRead(wrapInboundOut(part))
                    // Hummingbird now has the request: it closes after answering it.
                    forwardHeldQuiesce(context: context)
                }
            case .idle, .answering:
                break
            }
        }
    }

    private func answer(_ head: HTTPRequestHead, refreshToken: String, startedAt: UInt64, context: ChannelHandlerContext) {
        state = .answering
        let prepared = fastPath.routes.tokens.prepareRefresh(refreshToken)
        let active = fastPath.responseMetrics.activeRequests(.post)
        active.increment()
        fastPath.routes.committer.commit(prepared.request, on: context.eventLoop).assumeIsolated().whenComplete { result in
            active.decrement()
            let response = self.fastPath.respond(prepared, result)
            self.write(response, version: head.version, context: context)
            self.fastPath.record(status: response.status, startedAt: startedAt)
            self.resume(context: context)
        }
    }

    /// After an answer: the parts that waited, then reading again.
    private func resume(context: ChannelHandlerContext) {
        state = .idle
        guard !removed else {
            waiting.removeAll()  // the connection is gone, and what it sent with it
            return
        }
        if quiesceHeld {
            // Shutting down: the answer is out; Hummingbird closes the idle connection, and
            // requests pipelined behind it go unanswered, as behind one of its own.
            waiting.removeAll()
            forwardHeldQuiesce(context: context)
            return
        }
        if !waiting.isEmpty {
            while let part = waiting.popFirst() {
                handle(part, context: context)
                if case .answering = state { break }
            }
            // What went on to Hummingbird is delivered at a read-complete, as after a read.
            context.fireChannelReadComplete()
            if case .answering = state { return }
        }
        if readHeld, context.channel.isWritable {
            readHeld = false
            context.read()
        }
    }

    /// Held while one of ours is being answered (its successors would only wait in
    /// `waiting`) and while the channel is not writable (a client that pipelines but does
    /// not read stops being read, as on Hummingbird's path).
    func read(context: ChannelHandlerContext) {
        if case .answering = state {
            readHeld = true
        } else if context.channel.isWritable {
            context.read()
        } else {
            readHeld = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if readHeld, context.channel.isWritable, !isAnswering {
            readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    private var isAnswering: Bool {
        if case .answering = state { return true }
        return false
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), passedAwaitingResponse > 0 {
            passedAwaitingResponse -= 1
        }
        context.write(data, promise: promise)
    }

    private func write(_ response: PlainResponse, version: HTTPVersion, context: ChannelHandlerContext) {
        guard !removed else { return }  // the connection closed while its commit ran
        var headers = HTTPHeaders()
        headers.reserveCapacity(response.headers.count + 2)
        for field in response.headers { headers.add(name: field.name.rawName, value: field.value) }
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Date", value: date.value())
        let head = HTTPResponseHead(version: version, status: .init(statusCode: response.status.code), headers: headers)
        var body = context.channel.allocator.buffer(capacity: response.body.count)
        body.writeBytes(response.body)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// Hummingbird's HTTP/1 child channel, with `TokenRouteHandler` after NIO's request
/// decoder (refreshes committed by the store's `RefreshCommitter`).
struct IssuerChildChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let fastPath: TokenFastPath?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            if let fastPath {
                let operations = channel.pipeline.syncOperations
                let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
                try operations.addHandler(TokenRouteHandler(fastPath: fastPath), position: .after(decoder))
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}
