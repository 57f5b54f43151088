import HTTPTypes
import NIOCore
import NIOHTTP1
import ServiceSupport

/// The edge's connection rules where the HTTP version is still known: between NIO's HTTP/1
/// decoder and Hummingbird's codec, so both request paths pass it. The decisions are
/// `RequestGuardState`'s; this handler moves parts and keeps the one deadline timer.
///
/// - `Host`: an HTTP/1.1 request without one, or any request with two, gets 400 and a close.
/// - HTTP/1.0 without keep-alive: marked `Connection: close`, which HTTPTypes can carry, so
///   the path that answers closes after it.
/// - `Expect: 100-continue`: `100 Continue`, or 413 at once for a declared body over the limit.
/// - Deadlines: a head complete within `headerTimeout` of its first byte, a body that never
///   pauses longer; else 408 and a close.
final class RequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var state: RequestGuardState
    private var deadline: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(limits: EdgeLimits) {
        self.state = RequestGuardState(limits: limits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelDeadline()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancelDeadline()
        context.fireChannelInactive()
    }

    /// Raw bytes reached the decoder (`ByteWatch`, first in the pipeline).
    func bytesArrived() {
        if self.state.bytesArrived() { self.armDeadline() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(var head):
            self.cancelDeadline()
            switch self.state.head(head) {
            case .forward(let continue100, let timeBody):
                if !head.isKeepAlive, !head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" }) {
                    head.headers.replaceOrAdd(name: "connection", value: "close")
                }
                if continue100 {
                    context.writeAndFlush(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
                }
                if timeBody { self.armDeadline() }
                context.fireChannelRead(self.wrapInboundOut(.head(head)))
            case .refuse(let error):
                self.refuse(error, context: context)
            case .close:
                context.close(promise: nil)
            }
        case .body:
            if case .readingBody(timed: true) = self.state.phase {
                self.cancelDeadline()
                self.armDeadline()
            }
            if self.state.phase != .refused { context.fireChannelRead(data) }
        case .end:
            if self.state.end() { self.cancelDeadline() }
            if self.state.phase != .refused { context.fireChannelRead(data) }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) { self.state.wroteEnd() }
        context.write(data, promise: promise)
    }

    private func armDeadline() {
        guard let context = self.context else { return }
        let timeout = self.state.limits.headerTimeout
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        self.deadline = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .nanoseconds(nanoseconds)) {
            self.deadline = nil
            self.deadlinePassed()
        }
    }

    private func cancelDeadline() {
        self.deadline?.cancel()
        self.deadline = nil
    }

    private func deadlinePassed() {
        guard let context = self.context else { return }
        switch self.state.deadlinePassed() {
        case .refuse(let error): self.refuse(error, context: context)
        case .close: context.close(promise: nil)
        case .nothing: break
        }
    }

    /// The edge's JSON refusal, written here (nothing else is owed an answer), then a close.
    private func refuse(_ error: EdgeError, context: ChannelHandlerContext) {
        let response = EdgeResponse.error(error)
        var headers = HTTPHeaders()
        for field in response.headers { headers.add(name: field.name.rawName, value: field.value) }
        headers.add(name: "Date", value: HTTPDateHeader.now())
        let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: response.status.code), headers: headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// First in the pipeline: tells the `RequestGuard` when bytes arrive, so the header deadline
/// runs from a head's first byte (an idle keep-alive connection is the idle timeout's).
final class ByteWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let requestGuard: RequestGuard

    init(_ requestGuard: RequestGuard) {
        self.requestGuard = requestGuard
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.requestGuard.bytesArrived()
        context.fireChannelRead(data)
    }
}
