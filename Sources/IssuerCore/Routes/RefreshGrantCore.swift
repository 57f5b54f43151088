import HTTPEdge
import HTTPTypes
import Logging
import NIOCore

/// The decision core of the refresh grant (RFC 6749 §6), on `/token` and `/refresh`, for
/// both HTTP paths: the form's `refresh_token`, the rotation through the committer, and
/// the answer (a token response, or `invalid_grant`).
struct RefreshGrantCore: Sendable {
    let tokens: TokenService
    let committer: any RefreshCommitter
    let metrics: IssuerMetrics
    let logger: Logger
    /// Where the router's refreshes are committed and answered (a connection's own loop is
    /// not always a real one: Hummingbird's test router runs on an embedded channel).
    let eventLoopGroup: any EventLoopGroup

    /// The answer to a refresh grant with these fields, on `eventLoop` (the fast path's
    /// connection loop; nil: one of the group's). `refusalStatus`: RFC 6749 §5.2 answers
    /// `invalid_grant` with 400 on `/token`; `/refresh` answers 401.
    func respond(
        _ fields: BodyFields,
        refusalStatus: HTTPResponse.Status,
        on given: (any EventLoop)? = nil
    ) -> EventLoopFuture<EdgeResponse> {
        let eventLoop = given ?? self.eventLoopGroup.any()
        let token: String
        do {
            token = try fields.required("refresh_token")
        } catch {
            return eventLoop.makeSucceededFuture(self.refusal(error, status: refusalStatus))
        }
        let prepared = self.tokens.prepareRefresh(token)
        return self.committer.commit(prepared.request, on: eventLoop).map { result in
            self.answer(prepared, .success(result), refusalStatus: refusalStatus)
        }.recover { error in
            self.answer(prepared, .failure(error), refusalStatus: refusalStatus)
        }
    }

    /// A refresh once its commit has returned: the token response, or the refusal.
    func answer(_ prepared: PreparedRefresh, _ result: Result<RefreshResult, any Error>, refusalStatus: HTTPResponse.Status) -> EdgeResponse {
        do {
            let response = try self.tokens.completeRefresh(prepared, result: try result.get())
            self.metrics.tokensIssued("refresh_token")
            return JSONResponse.token(response)
        } catch {
            return self.refusal(error, status: refusalStatus)
        }
    }

    private func refusal(_ error: any Error, status: HTTPResponse.Status) -> EdgeResponse {
        guard var refusal = error as? EdgeError else {
            self.logger.error("refresh failed", metadata: ErrorLogMetadata.of(error))
            return .error(.internalError)
        }
        if refusal.code == "invalid_grant" {
            if refusal.description == TokenService.reuseDescription {
                self.metrics.refreshReuse.increment()
                self.logger.warning("refresh token reuse detected; session revoked")
            }
            refusal.status = status
        }
        return .error(refusal)
    }
}
