import Hummingbird
import HummingbirdCore
import NIOCore

/// The HTTP server both services run: Hummingbird's HTTP/1 server with the edge's limits on
/// the request head, its timeouts and connection cap, and the fast path when `routes` is
/// given; behind TLS when `tls` is.
public enum EdgeServer {
    /// The server builder for `Application(router:server:...)`.
    public static func http1(
        routes: (any FastRoutes)?,
        metrics: RequestMetrics,
        limits: EdgeLimits = .standard,
        tls: ServerTLSContext? = nil
    ) -> HTTPServerBuilder {
        let connections = ConnectionCounter(limit: limits.maxConnections)
        return HTTPServerBuilder { responder in
            var configuration = HTTP1Channel.Configuration(
                idleTimeout: TimeAmount.nanoseconds(
                    limits.idleTimeout.components.seconds * 1_000_000_000 + limits.idleTimeout.components.attoseconds / 1_000_000_000
                ),
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: limits.maxHeadBytes,
                    maxHeaderListSize: limits.maxHeadBytes,
                    maxHeaderFieldCount: limits.maxHeaderFields
                )
            )
            configuration.additionalChannelHandlers = { [] }
            let edge = EdgeChildChannel(
                http1: HTTP1Channel(responder: responder, configuration: configuration),
                routes: routes,
                metrics: metrics,
                limits: limits,
                connections: connections
            )
            // The same child channel over TLS: the same routes, the fast path included.
            guard let tls else { return edge }
            return TLSEdgeChildChannel(edge, tls: tls)
        }
    }
}
