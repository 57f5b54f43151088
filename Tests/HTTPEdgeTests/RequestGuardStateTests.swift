import NIOHTTP1
import Testing

@testable import HTTPEdge

/// `RequestGuardState`, the decisions of the edge's connection rules, without a channel.
@Suite struct RequestGuardStateTests {
    private func head(_ headers: [(String, String)], version: HTTPVersion = .http1_1) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: .POST, uri: "/token", headers: HTTPHeaders(headers))
    }

    @Test func hostRuleByVersion() {
        var state = RequestGuardState(limits: .standard)
        let result1 = state.head(self.head([]))
        #expect(result1 == .refuse(.hostRequired))
        state = RequestGuardState(limits: .standard)
        let result2 = state.head(self.head([("Host", "a"), ("host", "b")]))
        #expect(result2 == .refuse(.hostRequired))
        state = RequestGuardState(limits: .standard)
        let result3 = state.head(self.head([], version: .http1_0))
        #expect(result3 == .forward(continue100: false, timeBody: false))
        #expect(state.owed == 1)
    }

    @Test func expectContinueOnlyInOrderAndWithinTheLimit() {
        var state = RequestGuardState(limits: EdgeLimits(maxBodyBytes: 100))
        let expecting = [("Host", "a"), ("Expect", "100-continue"), ("Content-Length", "10")]
        let result4 = state.head(self.head(expecting))
        #expect(result4 == .forward(continue100: true, timeBody: true))
        _ = state.end()
        // The first answer is still owed: no interim answer may overtake it.
        let result5 = state.head(self.head(expecting))
        #expect(result5 == .forward(continue100: false, timeBody: true))
        var over = RequestGuardState(limits: EdgeLimits(maxBodyBytes: 100))
        let big = [("Host", "a"), ("Expect", "100-continue"), ("Content-Length", "101")]
        guard case .refuse(let error) = over.head(self.head(big)) else {
            Issue.record("a declared body over the limit was not refused at once")
            return
        }
        #expect(error.status == .contentTooLarge)
        #expect(error.headers[.connection] == "close")
        let result6 = over.head(self.head([("Host", "a")]))
        #expect(result6 == .close)
    }

    @Test func deadlines() {
        var state = RequestGuardState(limits: .standard)
        // Idle between requests: the idle timeout's, not this deadline's.
        let result7 = state.deadlinePassed()
        #expect(result7 == .nothing)
        let result8 = state.bytesArrived()
        #expect(result8)
        let result9 = state.bytesArrived()
        #expect(!result9)
        let result10 = state.deadlinePassed()
        #expect(result10 == .refuse(.requestTimeout(.standard)))

        state = RequestGuardState(limits: .standard)
        _ = state.bytesArrived()
        let result11 = state.head(self.head([("Host", "a"), ("Content-Length", "5")]))
        #expect(result11 == .forward(continue100: false, timeBody: true))
        let result12 = state.deadlinePassed()
        #expect(result12 == .refuse(.requestTimeout(.standard)))

        // A stalled body behind an answer still owed: closed without an answer out of order.
        state = RequestGuardState(limits: .standard)
        _ = state.head(self.head([("Host", "a")]))
        _ = state.end()
        _ = state.head(self.head([("Host", "a"), ("Content-Length", "5")]))
        let result13 = state.deadlinePassed()
        #expect(result13 == .close)
    }
}
