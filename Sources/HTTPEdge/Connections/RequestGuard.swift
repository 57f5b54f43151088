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
    private var context: ChannelHandlerContext?

    init(limits: EdgeLimits) {
        self.state = RequestGuardState(limits: limits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Raw bytes reached the decoder (`ByteWatch`, first in the pipeline).
    func bytesArrived() {
        if self.state.bytesArrived(now: Self.now()) { self.arm(in: self.state.limits.headerTimeout) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(var head):
            switch self.state.head(head, now: Self.now()) {
            case .forward(let continue100, let markClose, let arm):
                if continue100 {
                    context.writeAndFlush(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
                }
                if arm { self.arm(in: self.state.limits.headerTimeout) }
                if markClose {
                    // HTTPTypes has no version: the close is said the way it can carry.
                    head.headers.replaceOrAdd(name: "connection", value: "close")
                    context.fireChannelRead(self.wrapInboundOut(.head(head)))
                } else {
                    context.fireChannelRead(data)
                }
            case .refuse(let error):
                self.refuse(error, context: context)
            case .close:
                context.close(promise: nil)
            }
        case .body:
            if self.state.body(now: Self.now()) { self.arm(in: self.state.limits.headerTimeout) }
            if self.state.phase != .refused { context.fireChannelRead(data) }
        case .end:
            if self.state.end() { context.fireChannelRead(data) }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) { self.state.wroteEnd() }
        context.write(data, promise: promise)
    }

    private static func now() -> UInt64 {
        NIODeadline.now().uptimeNanoseconds
    }

    /// The connection's one timer; what it does when it fires is the state's to say.
    private func arm(in delay: Duration) {
        let components = delay.components
        self.arm(nanoseconds: components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }

    private func arm(nanoseconds: Int64) {
        guard let context = self.context else { return }
        context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .nanoseconds(nanoseconds)) {
            self.timerFired()
        }
    }

    private func timerFired() {
        guard let context = self.context, context.channel.isActive else { return }
        switch self.state.timerFired(now: Self.now()) {
        case .refuse(let error): self.refuse(error, context: context)
        case .close: context.close(promise: nil)
        case .rearm(let nanoseconds): self.arm(nanoseconds: Int64(clamping: nanoseconds))
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
