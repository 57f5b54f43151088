import HummingbirdCore
import Logging
import NIOCore
import NIOSSL

/// A child channel with TLS first in its pipeline, then `Base`'s own set-up: for the
/// edge, `EdgeChildChannel` unchanged (Hummingbird's HTTP/1 handlers and the fast path).
///
/// Hand-made rather than HummingbirdTLS's `TLSChannel`: that one builds its
/// `NIOSSLContext` once, in its initializer, and offers no way to swap it, while a renewed
/// certificate must reach new connections on `SIGHUP` without a restart. This is the same
/// twenty lines with the context read from `ServerTLSContext` per connection; everything
/// else (the handler, the versions, the verification) is swift-nio-ssl's, as in HummingbirdTLS.
public struct TLSEdgeChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Base.Value

    let base: Base
    let tls: ServerTLSContext

    /// `base` behind TLS with the context `tls` holds when a connection is accepted.
    public init(_ base: Base, tls: ServerTLSContext) {
        self.base = base
        self.tls = tls
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let context = self.tls.current
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        }.flatMap {
            self.base.setup(channel: channel, logger: logger)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        await self.base.handle(value: value, logger: logger)
    }
}
