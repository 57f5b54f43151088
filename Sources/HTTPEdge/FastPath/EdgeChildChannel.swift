import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Hummingbird's HTTP/1 child channel with the edge's `FastPathHandler` after its
/// connection state handler.
public struct EdgeChildChannel: ServerChildChannel {
    public typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let routes: (any FastRoutes)?
    let metrics: RequestMetrics
    let limits: EdgeLimits

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        self.http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
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
