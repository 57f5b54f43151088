import NIOHTTP1
import Testing

@testable import HTTPEdge

/// `RequestGuardState`, the decisions of the edge's connection rules, without a channel.
@Suite struct RequestGuardStateTests {
    private let second: UInt64 = 1_000_000_000

    private func head(_ headers: [(String, String)], version: HTTPVersion = .http1_1) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: .POST, uri: "/token", headers: HTTPHeaders(headers))
    }

    @Test func hostRuleByVersion() {
        var state = RequestGuardState(limits: .standard)
        let none = state.head(self.head([]), now: 0)
        #expect(none == .refuse(.hostRequired))
        state = RequestGuardState(limits: .standard)
        let two = state.head(self.head([("Host", "a"), ("host", "b")]), now: 0)
        #expect(two == .refuse(.hostRequired))
        state = RequestGuardState(limits: .standard)
        let old = state.head(self.head([], version: .http1_0), now: 0)
        #expect(old == .forward(continue100: false, markClose: true, arm: false))
        #expect(state.owed == 1)
    }

    @Test func http10KeepAliveIsNotMarked() {
        var state = RequestGuardState(limits: .standard)
        let kept = state.head(self.head([("Host", "a"), ("Connection", "Keep-Alive")], version: .http1_0), now: 0)
        #expect(kept == .forward(continue100: false, markClose: false, arm: false))
    }

    @Test func expectContinueOnlyInOrderAndWithinTheLimit() {
        var state = RequestGuardState(limits: EdgeLimits(maxBodyBytes: 100))
        let expecting = [("Host", "a"), ("Expect", "100-continue"), ("Content-Length", "10")]
        let first = state.head(self.head(expecting), now: 0)
        #expect(first == .forward(continue100: true, markClose: false, arm: true))
        _ = state.end()
        // The first answer is still owed: no interim answer may overtake it.
        let second = state.head(self.head(expecting), now: 0)
        #expect(second == .forward(continue100: false, markClose: false, arm: false))
        var over = RequestGuardState(limits: EdgeLimits(maxBodyBytes: 100))
        let big = [("Host", "a"), ("Expect", "100-continue"), ("Content-Length", "101")]
        guard case .refuse(let error) = over.head(self.head(big), now: 0) else {
            Issue.record("a declared body over the limit was not refused at once")
            return
        }
        #expect(error.status == .contentTooLarge)
        #expect(error.headers[.connection] == "close")
        let after = over.head(self.head([("Host", "a")]), now: 0)
        #expect(after == .close)
    }

    @Test func oneTimerPerConnectionReArmedForTheDeadlineThenCurrent() {
        var state = RequestGuardState(limits: .standard)  // 10 s
        // Idle between requests: the idle timeout's, not this deadline's.
        let idle = state.timerFired(now: 0)
        #expect(idle == .nothing)
        let armed = state.bytesArrived(now: 0)
        #expect(armed)
        let again = state.bytesArrived(now: 1)
        #expect(!again)
        // The head arrives in time; a second request's first bytes at 8 s need no new timer.
        _ = state.head(self.head([("Host", "a")]), now: 2 * self.second)
        _ = state.end()
        state.wroteEnd()
        let noNewTimer = state.bytesArrived(now: 8 * self.second)
        #expect(!noNewTimer)
        // The timer armed at 0 fires at 10 s: the deadline is now 18 s, so it re-arms for 8 s.
        let rearm = state.timerFired(now: 10 * self.second)
        #expect(rearm == .rearm(8 * self.second))
        let late = state.timerFired(now: 18 * self.second)
        #expect(late == .refuse(.requestTimeout(.standard)))
    }

    @Test func aStalledBodyIsRefusedOnlyInOrder() {
        var state = RequestGuardState(limits: .standard)
        let head = state.head(self.head([("Host", "a"), ("Content-Length", "5")]), now: 0)
        #expect(head == .forward(continue100: false, markClose: false, arm: true))
        let moved = state.body(now: 5 * self.second)
        #expect(!moved)
        let early = state.timerFired(now: 10 * self.second)
        #expect(early == .rearm(5 * self.second))
        let stalled = state.timerFired(now: 15 * self.second)
        #expect(stalled == .refuse(.requestTimeout(.standard)))

        // Behind an answer still owed: closed without an answer out of order.
        state = RequestGuardState(limits: .standard)
        _ = state.head(self.head([("Host", "a")]), now: 0)
        _ = state.end()
        _ = state.head(self.head([("Host", "a"), ("Content-Length", "5")]), now: 0)
        let behind = state.timerFired(now: 11 * self.second)
        #expect(behind == .close)
    }
}
