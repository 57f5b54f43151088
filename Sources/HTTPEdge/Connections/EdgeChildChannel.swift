import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1 child channel with the edge's handlers: the `RequestGuard` (and its
/// `ByteWatch`) before Hummingbird's codec, the `FastPathHandler` after its connection state
/// handler; and the connection cap.
public struct EdgeChildChannel: ServerChildChannel {
    public typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let routes: (any FastRoutes)?
    let metrics: RequestMetrics
    let limits: EdgeLimits
    let connections: ConnectionCounter

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admitted = self.connections.acquire()
        if admitted {
            let connections = self.connections
            channel.closeFuture.whenComplete { _ in connections.release() }
        }
        return self.http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            guard admitted else {
                // Over the cap: closed at once; the connections open keep being served.
                logger.debug("connection refused: at --max-connections", metadata: ["max_connections": .stringConvertible(self.limits.maxConnections)])
                channel.close(promise: nil)
                return value
            }
            let operations = channel.pipeline.syncOperations
            let codec = try operations.handler(type: HTTP1ToHTTPServerCodec.self)
            let requestGuard = RequestGuard(limits: self.limits)
            try operations.addHandler(requestGuard, position: .before(codec))
            try operations.addHandler(ByteWatch(requestGuard), position: .first)
            let state = try operations.handler(type: HTTPConnectionStateHandler.self)
            let handler = FastPathHandler(routes: self.routes, metrics: self.metrics, limits: self.limits, logger: logger)
            try operations.addHandler(handler, position: .after(state))
            return value
        }
    }

    public func handle(value: Value, logger: Logger) async {
        await self.http1.handle(value: value, logger: logger)
    }
}
