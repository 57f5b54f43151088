import NIOHTTP1

/// The connection rules of the edge that need the HTTP version or the raw bytes, without the
/// channel: the `Host` rule, HTTP/1.0 closes, `Expect: 100-continue`, and the read deadline
/// (a head complete within the header timeout of its first byte, a body that never pauses
/// longer). `RequestGuard` runs it on NIO's HTTP/1 parts, for both request paths.
///
/// The deadline is a time, not a timer per request: the one timer of a connection is armed
/// when a deadline starts and none is pending, and when it fires it either acts or re-arms
/// for the deadline then current. A busy keep-alive connection schedules nothing per request.
struct RequestGuardState {
    enum Phase: Equatable {
        /// Between requests (the idle timeout's time, until the next head's first bytes).
        case awaitingHead
        /// A head is in, its body (if any) is arriving.
        case readingBody
        /// A refusal was sent: everything else is dropped until the connection closes.
        case refused
    }

    /// What to do with a request head.
    enum HeadAction: Equatable {
        /// Pass it on; `continue100`: answer `100 Continue` first; `markClose`: add
        /// `Connection: close` (HTTP/1.0 without keep-alive); `arm`: the timer must be armed.
        case forward(continue100: Bool, markClose: Bool, arm: Bool)
        /// Answer this refusal and close (when no earlier answer is owed), else just close.
        case refuse(EdgeError)
        case close
    }

    /// What to do when the timer fires.
    enum TimerAction: Equatable {
        case refuse(EdgeError)
        case close
        /// Arm again, for this many nanoseconds from now.
        case rearm(UInt64)
        case nothing
    }

    private(set) var phase = Phase.awaitingHead
    /// Requests read whose response has not ended yet (both paths).
    private(set) var owed = 0
    /// When the head or body being read must have arrived (monotonic nanoseconds); nil: none.
    private(set) var deadline: UInt64?
    private(set) var timerPending = false
    let limits: EdgeLimits
    private let timeout: UInt64

    init(limits: EdgeLimits) {
        self.limits = limits
        let components = limits.headerTimeout.components
        self.timeout = UInt64(max(0, components.seconds)) * 1_000_000_000 + UInt64(max(0, components.attoseconds / 1_000_000_000))
    }

    /// Bytes came in; true: arm the timer (for `timeout`).
    mutating func bytesArrived(now: UInt64) -> Bool {
        guard self.phase == .awaitingHead, self.deadline == nil else { return false }
        self.deadline = now &+ self.timeout
        return self.armIfIdle()
    }

    /// A request head came in.
    mutating func head(_ head: HTTPRequestHead, now: UInt64) -> HeadAction {
        guard self.phase != .refused else { return .close }
        // One pass over the fields: this runs for every request.
        var hosts = 0
        var lengths = 0
        var declared: Int? = nil
        var chunked = false
        var expectsContinue = false
        var closeToken = false
        var keepAliveToken = false
        for (name, value) in head.headers {
            switch name.utf8.count {
            case 4 where name.lowercased() == "host":
                hosts += 1
            case 6 where name.lowercased() == "expect":
                expectsContinue = expectsContinue || value.lowercased() == "100-continue"
            case 10 where name.lowercased() == "connection":
                let tokens = value.lowercased()
                closeToken = closeToken || tokens.contains("close")
                keepAliveToken = keepAliveToken || tokens.contains("keep-alive")
            case 14 where name.lowercased() == "content-length":
                lengths += 1
                declared = Int(value)
            case 17 where name.lowercased() == "transfer-encoding":
                chunked = chunked || value.lowercased().contains("chunked")
            default:
                continue
            }
        }
        let http11 = (head.version.major, head.version.minor) >= (1, 1)
        if hosts > 1 || (hosts == 0 && http11) {
            return self.refuse(.hostRequired)
        }
        if lengths != 1 { declared = nil }
        let hasBody = chunked || (declared ?? 0) > 0
        var continue100 = false
        if expectsContinue {
            if let declared, declared > self.limits.maxBodyBytes {
                // An early final answer: the client never sends the body.
                return self.refuse(EdgeError.bodyTooLarge(limit: self.limits.maxBodyBytes).closing)
            }
            // Only when no earlier answer is owed: an interim answer must not overtake one.
            continue100 = self.owed == 0 && hasBody
        }
        self.owed += 1
        self.phase = .readingBody
        self.deadline = hasBody ? now &+ self.timeout : nil
        let markClose = !http11 && !keepAliveToken && !closeToken
        return .forward(continue100: continue100, markClose: markClose, arm: hasBody && self.armIfIdle())
    }

    /// A part of the body came in: the deadline moves on; true: arm the timer.
    mutating func body(now: UInt64) -> Bool {
        guard self.phase == .readingBody, self.deadline != nil else { return false }
        self.deadline = now &+ self.timeout
        return self.armIfIdle()
    }

    /// The request's end came in; false after a refusal (drop it).
    mutating func end() -> Bool {
        guard self.phase == .readingBody else { return self.phase != .refused }
        self.phase = .awaitingHead
        self.deadline = nil
        return true
    }

    /// A response's end went out.
    mutating func wroteEnd() {
        if self.owed > 0 { self.owed -= 1 }
    }

    /// The connection's timer fired.
    mutating func timerFired(now: UInt64) -> TimerAction {
        self.timerPending = false
        guard self.phase != .refused, let deadline = self.deadline else { return .nothing }
        if now < deadline {
            self.timerPending = true
            return .rearm(deadline - now)
        }
        switch self.phase {
        case .awaitingHead:
            return self.refuse(.requestTimeout(self.limits)).timer
        case .readingBody:
            // The request whose body stalled is owed its answer: a 408 is in order only if
            // nothing before it is still owed.
            guard self.owed == 1 else {
                self.phase = .refused
                return .close
            }
            self.owed = 0
            return self.refuse(.requestTimeout(self.limits)).timer
        case .refused:
            return .nothing
        }
    }

    private mutating func armIfIdle() -> Bool {
        guard !self.timerPending else { return false }
        self.timerPending = true
        return true
    }

    private mutating func refuse(_ error: EdgeError) -> HeadAction {
        let inOrder = self.owed == 0
        self.phase = .refused
        self.deadline = nil
        return inOrder ? .refuse(error) : .close
    }
}

extension RequestGuardState.HeadAction {
    fileprivate var timer: RequestGuardState.TimerAction {
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
