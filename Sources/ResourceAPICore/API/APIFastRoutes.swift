import HTTPEdge
import HTTPTypes
import NIOCore

/// The ResourceAPI's fast path: `GET`/`HEAD` of the API routes and `/healthz`, with an exact
/// path (a query goes to the router), answered by `APICore` unless it must wait for keys.
struct APIFastRoutes: FastRoutes {
    let core: APICore

    func claim(_ head: HTTPRequest) -> FastClaim? {
        Self.claimOf(head)
    }

    /// The claim on a request head: `GET` or `HEAD` of a route's exact path.
    static func claimOf(_ head: HTTPRequest) -> FastClaim? {
        guard head.method == .get || head.method == .head, let path = head.path, let route = APIRoute(path: path) else {
            return nil
        }
        return FastClaim(route: route.path, routeIndex: route.rawValue)
    }

    func respond(to head: HTTPRequest, claim: FastClaim, body: ByteBuffer?, eventLoop: any EventLoop) -> FastReply {
        guard let route = APIRoute(rawValue: claim.routeIndex), let answer = self.core.answerWithoutWaiting(route, head: head) else {
            return .pass
        }
        return .answer(answer)
    }
}
