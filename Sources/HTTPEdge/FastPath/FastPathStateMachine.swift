import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// The fast path's bookkeeping for one connection, without the channel: which request
/// parts go on to Hummingbird, which the fast path keeps, and when it may answer.
///
/// Responses must leave in request order (HTTP/1.1 pipelining). Hummingbird answers the
/// requests it gets one at a time, in order; so the fast path takes a request only while no
/// request passed on is still waiting for its response (counted by watching each response's
/// end go out), and while one of its own is being answered later, what follows waits here.
struct FastPathStateMachine {
    enum State {
        case idle
        /// Parts of the current request go on to Hummingbird.
        case passing
        /// The current request is claimed; decided at its end.
        case collecting(HTTPRequest, FastClaim, body: ByteBuffer?, startedAt: UInt64)
        /// A claimed request is waiting for its answer (`FastReply.later`).
        case answering
    }

    /// What the handler does with a part it read.
    enum ReadAction {
        /// Send it on to Hummingbird.
        case forward(HTTPRequestPart)
        /// Kept here (a claimed request's head or body, or a part waiting behind an answer).
        case keep
        /// A claimed request is complete: ask the routes.
        case decide(HTTPRequest, FastClaim, body: ByteBuffer?, startedAt: UInt64)
    }

    private(set) var state = State.idle
    private(set) var passedAwaitingResponse = 0
    private var waiting = CircularBuffer<HTTPRequestPart>()

    /// One part read from the connection; `claim` is asked for heads only, and only when
    /// the fast path may answer.
    mutating func read(_ part: HTTPRequestPart, now: UInt64, claim: (HTTPRequest) -> FastClaim?) -> ReadAction {
        if case .answering = self.state {
            self.waiting.append(part)
            return .keep
        }
        switch part {
        case .head(let head):
            if self.passedAwaitingResponse == 0, let claimed = claim(head),
                FastPathPolicy.admits(head, maxBodyBytes: claimed.maxBodyBytes)
            {
                self.state = .collecting(head, claimed, body: nil, startedAt: now)
                return .keep
            }
            self.state = .passing
            self.passedAwaitingResponse += 1
            return .forward(part)
        case .body(var chunk):
            switch self.state {
            case .collecting(let head, let claimed, let body, let startedAt):
                // Bounded: the decoder delivers no more than the Content-Length admitted.
                guard var body else {
                    self.state = .collecting(head, claimed, body: chunk, startedAt: startedAt)
                    return .keep
                }
                body.writeBuffer(&chunk)
                self.state = .collecting(head, claimed, body: body, startedAt: startedAt)
                return .keep
            case .passing:
                return .forward(part)
            case .idle, .answering:
                return .keep
            }
        case .end:
            switch self.state {
            case .passing:
                self.state = .idle
                return .forward(part)
            case .collecting(let head, let claimed, let body, let startedAt):
                self.state = .idle
                return .decide(head, claimed, body: body, startedAt: startedAt)
            case .idle, .answering:
                return .keep
            }
        }
    }

    /// The routes passed a claimed request back: Hummingbird now owes it a response.
    mutating func passedOn() {
        self.passedAwaitingResponse += 1
    }

    /// The routes answer a claimed request later; parts read meanwhile wait.
    mutating func answerLater() {
        self.state = .answering
    }

    /// The later answer is written: the parts that waited, to be read again in order.
    mutating func answered() -> [HTTPRequestPart] {
        self.state = .idle
        defer { self.waiting.removeAll() }
        return Array(self.waiting)
    }

    /// A response's end went out from Hummingbird.
    mutating func wroteRouterResponseEnd() {
        if self.passedAwaitingResponse > 0 { self.passedAwaitingResponse -= 1 }
    }

    /// Whether an answer of the edge's own (a parse error) would be in order now.
    var mayAnswerNow: Bool {
        guard self.passedAwaitingResponse == 0 else { return false }
        if case .answering = self.state { return false }
        return true
    }

    var isAnswering: Bool {
        if case .answering = self.state { return true }
        return false
    }
}
