import HTTPEdge
import HTTPTypes
import NIOCore
import ServiceSupport

/// The Issuer's fast path: `POST /token` with a form body of at most 4 KiB and no client
/// authentication, answered by `RefreshGrantCore` when it is a refresh grant. Anything
/// else (other grants, client authentication, a malformed form) goes to the router, which
/// parses the same form with the same parser and so gives the same answer.
struct TokenFastRoutes: FastRoutes {
    /// A refresh form is under 200 bytes; anything much longer is not one of ours.
    static let maxBodyBytes = 4096
    static let claim = FastClaim(route: "/token", routeIndex: 0, maxBodyBytes: Self.maxBodyBytes)

    let core: RefreshGrantCore

    func claim(_ head: HTTPRequest) -> FastClaim? {
        Self.claimOf(head)
    }

    /// The claim on a request head: `POST /token` exactly, a form, no client authentication.
    static func claimOf(_ head: HTTPRequest) -> FastClaim? {
        guard head.method == .post, head.path == "/token" else { return nil }
        let fields = head.headerFields
        // Client authentication is the router's (it checks credentials and limits).
        guard fields[.authorization] == nil else { return nil }
        let types = fields[values: .contentType]
        guard types.count == 1, BodyReader.mediaType(of: types.first) == "application/x-www-form-urlencoded" else { return nil }
        return Self.claim
    }

    func respond(to head: HTTPRequest, claim: FastClaim, body: ByteBuffer?, eventLoop: any EventLoop) -> FastReply {
        guard let body, let fields = try? BodyReader.parseForm(Array(body.readableBytesView)),
            (try? fields.optional("grant_type")) == "refresh_token"
        else { return .pass }
        return .later(self.core.respond(fields, refusalStatus: .badRequest, on: eventLoop))
    }
}
