import NIOHTTP1

/// The connection rules of the edge that need the HTTP version or the raw bytes, without the
/// channel: the `Host` rule, HTTP/1.0 closes, `Expect: 100-continue`, and the read deadlines
/// (a head complete within the header timeout of its first byte, a body that never pauses
/// longer). `RequestGuard` runs it on NIO's HTTP/1 parts, for both request paths.
struct RequestGuardState {
    enum Phase: Equatable {
        /// Between requests; `timing` once the next head's first bytes are in.
        case awaitingHead(timing: Bool)
        /// A head is in, its body (if any) is arriving.
        case readingBody(timed: Bool)
        /// A refusal was sent: everything else is dropped until the connection closes.
        case refused
    }

    /// What to do with a request head.
    enum HeadAction: Equatable {
        /// Pass it on; `continue100`: answer `100 Continue` first; `timeBody`: arm the deadline.
        case forward(continue100: Bool, timeBody: Bool)
        /// Answer this refusal and close (when no earlier answer is owed), else just close.
        case refuse(EdgeError)
        case close
    }

    /// What to do when the deadline passes.
    enum DeadlineAction: Equatable {
        case refuse(EdgeError)
        case close
        case nothing
    }

    private(set) var phase = Phase.awaitingHead(timing: false)
    /// Requests read whose response has not ended yet (both paths).
    private(set) var owed = 0
    let limits: EdgeLimits

    init(limits: EdgeLimits) {
        self.limits = limits
    }

    /// Bytes came in; true: start the header deadline.
    mutating func bytesArrived() -> Bool {
        guard case .awaitingHead(timing: false) = self.phase else { return false }
        self.phase = .awaitingHead(timing: true)
        return true
    }

    /// A request head came in (the deadline, if any, is cancelled by the caller).
    mutating func head(_ head: HTTPRequestHead) -> HeadAction {
        guard self.phase != .refused else { return .close }
        let hosts = head.headers["host"].count
        let hostMissing = hosts == 0 && (head.version.major, head.version.minor) >= (1, 1)
        if hosts > 1 || hostMissing {
            return self.refuse(.hostRequired)
        }
        let lengths = head.headers["content-length"]
        let declared = lengths.count == 1 ? Int(lengths[0]) : nil
        let chunked = head.headers["transfer-encoding"].contains { $0.lowercased().contains("chunked") }
        let hasBody = chunked || (declared ?? 0) > 0
        var continue100 = false
        if head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) {
            if let declared, declared > self.limits.maxBodyBytes {
                // An early final answer: the client never sends the body.
                return self.refuse(EdgeError.bodyTooLarge(limit: self.limits.maxBodyBytes).closing)
            }
            // Only when no earlier answer is owed: an interim answer must not overtake one.
            continue100 = self.owed == 0 && hasBody
        }
        self.owed += 1
        self.phase = .readingBody(timed: hasBody)
        return .forward(continue100: continue100, timeBody: hasBody)
    }

    /// The request's end came in; true: cancel the deadline.
    mutating func end() -> Bool {
        guard case .readingBody = self.phase else { return self.phase != .refused }
        self.phase = .awaitingHead(timing: false)
        return true
    }

    /// A response's end went out.
    mutating func wroteEnd() {
        if self.owed > 0 { self.owed -= 1 }
    }

    /// The deadline armed at the first bytes of a head, or at a head or body part, passed.
    mutating func deadlinePassed() -> DeadlineAction {
        switch self.phase {
        case .awaitingHead(timing: true):
            return self.refuse(.requestTimeout(self.limits)).deadline
        case .readingBody(timed: true):
            // The request whose body stalled is owed its answer: a 408 is in order only if
            // nothing before it is still owed.
            guard self.owed == 1 else {
                self.phase = .refused
                return .close
            }
            self.owed = 0
            return self.refuse(.requestTimeout(self.limits)).deadline
        case .awaitingHead(timing: false), .readingBody(timed: false), .refused:
            return .nothing
        }
    }

    private mutating func refuse(_ error: EdgeError) -> HeadAction {
        let inOrder = self.owed == 0
        self.phase = .refused
        return inOrder ? .refuse(error) : .close
    }
}

extension RequestGuardState.HeadAction {
    fileprivate var deadline: RequestGuardState.DeadlineAction {
        switch self {
        case .refuse(let error): .refuse(error)
        case .close, .forward: .close
        }
    }
}

extension EdgeError {
    /// The same refusal, announcing that the connection closes after it.
    var closing: EdgeError {
        var error = self
        error.headers[.connection] = "close"
        return error
    }
}
