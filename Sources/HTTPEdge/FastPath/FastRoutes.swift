import HTTPTypes
import NIOCore

/// The routes a service answers on the event loop, where NIO decodes them, without
/// Hummingbird's router: what to take, and the answer from the service's decision core.
///
/// Rules live in the decision core, not here: the router's handlers call the same core, so
/// a request gets the same answer on either path (`FastPathHandler` sends it).
public protocol FastRoutes: Sendable {
    /// The claim on a request, from its head alone; nil leaves it to the router. Called
    /// only for requests the edge admits (see `FastPathPolicy`).
    func claim(_ head: HTTPRequest) -> FastClaim?

    /// The answer to a claimed request once its body (if any) is in.
    func respond(to head: HTTPRequest, claim: FastClaim, body: ByteBuffer?, eventLoop: any EventLoop) -> FastReply
}

/// What a fast route takes: its metrics label, and how much body it reads.
public struct FastClaim: Sendable, Equatable {
    /// The `route` label, the path as routed.
    public var route: String
    /// A small number unique per route of the service (keys a per-connection cache).
    public var routeIndex: Int
    /// The most body the route reads; a request declaring more goes to the router.
    public var maxBodyBytes: Int

    public init(route: String, routeIndex: Int, maxBodyBytes: Int = 0) {
        self.route = route
        self.routeIndex = routeIndex
        self.maxBodyBytes = maxBodyBytes
    }
}

/// A fast route's decision at the end of a request.
public enum FastReply {
    /// Answered now.
    case answer(EdgeResponse)
    /// Answered when the future completes (on the channel's event loop); what the client
    /// pipelines meanwhile waits.
    case later(EventLoopFuture<EdgeResponse>)
    /// The router's after all (it must wait for I/O, or it is unusual): passed on whole.
    case pass
}
