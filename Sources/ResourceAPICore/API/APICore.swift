import HTTPEdge
import HTTPTypes
import NIOCore
import ServiceSupport
import SharedJWT
import Synchronization

/// The ResourceAPI's decision core: the RFC 6750 header rules, verification and the answer
/// of each route, for a request head. Both HTTP paths call it: the router through
/// `answer(_:head:)`, which may wait for a key fetch, and the fast path through
/// `answerWithoutWaiting(_:head:)`, which passes what must wait to the router.
struct APICore: Sendable {
    let verifier: TokenVerifier
    let metrics: ResourceAPIMetrics
    let limits: EdgeLimits
    let refusals = RefusalMemo()

    /// The answer, waiting for a key fetch when the token names a key not yet cached.
    func answer(_ route: APIRoute, head: HTTPRequest) async -> EdgeResponse {
        guard route.needsToken else { return Self.healthzAnswer }
        do {
            let token = try self.token(from: head)
            return try self.answer(route, claims: try await self.verifier.verify(token))
        } catch {
            return self.refusals.answer(error)
        }
    }

    /// The same answer without waiting; nil when it needs a key fetch.
    func answerWithoutWaiting(_ route: APIRoute, head: HTTPRequest) -> EdgeResponse? {
        guard route.needsToken else { return Self.healthzAnswer }
        do {
            let token = try self.token(from: head)
            guard let claims = try self.verifier.verifyWithoutWaiting(token) else { return nil }
            return try self.answer(route, claims: claims)
        } catch {
            return self.refusals.answer(error)
        }
    }

    /// The token of the request's one `Authorization: Bearer` header (RFC 6750 §2.1); the
    /// query form (§2.3) is refused: it leaks tokens into logs.
    func token(from head: HTTPRequest) throws(BearerError) -> Substring {
        // One pass over the fields, no array: this runs for every API request.
        var found: String? = nil
        var count = 0
        for field in head.headerFields where field.name == .authorization {
            count += 1
            if found == nil { found = field.value }
        }
        guard let value = found else {
            self.metrics.verification("missing")
            throw .missing
        }
        do throws(BearerError) {
            guard count == 1 else { throw BearerError.invalidRequest("more than one Authorization header") }
            if let path = head.path, Self.hasQueryToken(path) {
                throw BearerError.invalidRequest("a token must be sent in one way only, the Authorization header")
            }
            return try Self.parse(value, maxTokenBytes: self.limits.maxTokenBytes)
        } catch {
            self.metrics.verification(error.outcome)
            throw error
        }
    }

    /// `Bearer <b64token>`, mapped onto the contract's statuses.
    static func parse(_ value: String, maxTokenBytes: Int) throws(BearerError) -> Substring {
        do {
            return try BearerAuthorization.token(from: value, maxTokenBytes: maxTokenBytes)
        } catch {
            switch error {
            case .malformed(let description): throw .invalidRequest(description)
            case .tooLarge: throw .invalidToken(JWTError.tooLarge.description)
            }
        }
    }

    /// Whether the query names `access_token`.
    static func hasQueryToken(_ path: String) -> Bool {
        guard let mark = path.utf8.firstIndex(of: UInt8(ascii: "?")) else { return false }
        return path[path.utf8.index(after: mark)...].split(separator: "&").contains { pair in
            pair == "access_token" || pair.hasPrefix("access_token=")
        }
    }

    static let healthzAnswer = EdgeResponse.json(.ok, .object([("status", .string("ok"))]))

    /// A bearer route once its token is verified.
    func answer(_ route: APIRoute, claims: JWTClaims) throws(BearerError) -> EdgeResponse {
        switch route {
        case .healthz:
            return Self.healthzAnswer
        case .greet:
            return .text("hi \(claims.subject ?? "")!")
        case .me:
            return .json(.ok, claims.jsonObject())
        case .adminGreet:
            guard claims.roles.contains("admin") else {
                self.metrics.verification("insufficient_scope")
                throw .insufficientScope("admin")
            }
            return .text("hi admin \(claims.subject ?? "")!")
        }
    }
}
