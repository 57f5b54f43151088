import HTTPEdge
import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import Prometheus
import Testing

/// `FastPathHandler` on an `EmbeddedChannel`: what it answers, what it passes on, and the
/// order of answers, without sockets or Hummingbird.
@Suite struct FastPathHandlerTests {
    /// Claims `/fast` (answered now), `/later` (answered when the test completes the
    /// promise) and `/pass` (passed back to the router at its end).
    final class Routes: FastRoutes, @unchecked Sendable {
        var pending: [EventLoopPromise<EdgeResponse>] = []

        func claim(_ head: HTTPRequest) -> FastClaim? {
            switch head.path {
            case "/fast": FastClaim(route: "/fast", routeIndex: 0)
            case "/later": FastClaim(route: "/later", routeIndex: 1, maxBodyBytes: 64)
            case "/pass": FastClaim(route: "/pass", routeIndex: 2)
            default: nil
            }
        }

        func respond(to head: HTTPRequest, claim: FastClaim, body: ByteBuffer?, eventLoop: any EventLoop) -> FastReply {
            switch claim.routeIndex {
            case 0: return .answer(.text("fast"))
            case 1:
                let promise = eventLoop.makePromise(of: EdgeResponse.self)
                self.pending.append(promise)
                return .later(promise.futureResult)
            default: return .pass
            }
        }
    }

    struct Fixture {
        let channel: EmbeddedChannel
        let routes: Routes
        let registry: PrometheusCollectorRegistry

        init(fastPath: Bool = true) throws {
            self.routes = Routes()
            self.registry = PrometheusCollectorRegistry()
            let handler = FastPathHandler(
                routes: fastPath ? self.routes : nil,
                metrics: RequestMetrics(registry: self.registry),
                limits: .standard,
                logger: Logger(label: "test")
            )
            self.channel = EmbeddedChannel(handler: handler)
        }

        func send(_ path: String, method: HTTPRequest.Method = .get, body: String? = nil) throws {
            var fields = HTTPFields()
            if let body { fields[.contentLength] = String(body.utf8.count) }
            try self.channel.writeInbound(
                HTTPRequestPart.head(HTTPRequest(method: method, scheme: nil, authority: "x", path: path, headerFields: fields))
            )
            if let body { try self.channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: body))) }
            try self.channel.writeInbound(HTTPRequestPart.end(nil))
        }

        /// Paths of the requests that reached the router, in order.
        func passedOn() throws -> [String] {
            var paths: [String] = []
            while let part = try self.channel.readInbound(as: HTTPRequestPart.self) {
                if case .head(let head) = part { paths.append(head.path ?? "") }
            }
            return paths
        }

        /// The answers the handler wrote: status and body text each.
        func answers() throws -> [(status: Int, body: String, headers: HTTPFields)] {
            var answers: [(Int, String, HTTPFields)] = []
            var current: (Int, String, HTTPFields)?
            while let part = try self.channel.readOutbound(as: HTTPResponsePart.self) {
                switch part {
                case .head(let head): current = (head.status.code, "", head.headerFields)
                case .body(let buffer): current?.1 += String(buffer: buffer)
                case .end:
                    if let done = current { answers.append(done) }
                    current = nil
                }
            }
            return answers
        }

        /// The router's answer to a passed-on request.
        func routerAnswers(_ text: String) throws {
            try self.channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try self.channel.writeOutbound(HTTPResponsePart.body(ByteBuffer(string: text)))
            try self.channel.writeOutbound(HTTPResponsePart.end(nil))
        }
    }

    @Test func claimedRequestsAreAnsweredAndOthersPassedOn() throws {
        let fixture = try Fixture()
        try fixture.send("/fast")
        #expect(try fixture.passedOn().isEmpty)
        let answers = try fixture.answers()
        #expect(answers.map(\.body) == ["fast"])
        #expect(answers.first?.headers[.date] != nil)
        #expect(answers.first?.headers[.contentLength] == "4")
        try fixture.send("/other")
        #expect(try fixture.passedOn() == ["/other"])
        #expect(try fixture.answers().isEmpty)
    }

    @Test func switchedOffEverythingIsPassedOn() throws {
        let fixture = try Fixture(fastPath: false)
        try fixture.send("/fast")
        try fixture.send("/later")
        #expect(try fixture.passedOn() == ["/fast", "/later"])
        #expect(try fixture.answers().isEmpty)
    }

    /// Behind a request the router still owes an answer, a claimed one goes to the router
    /// too (answers leave in request order); once that answer is out, the fast path takes
    /// requests again.
    @Test func pipelinedRequestsKeepTheirOrder() throws {
        let fixture = try Fixture()
        try fixture.send("/other")
        try fixture.send("/fast")
        #expect(try fixture.passedOn() == ["/other", "/fast"])
        try fixture.routerAnswers("one")
        try fixture.routerAnswers("two")
        #expect(try fixture.answers().map(\.body) == ["one", "two"])
        try fixture.send("/fast")
        #expect(try fixture.passedOn().isEmpty)
        #expect(try fixture.answers().map(\.body) == ["fast"])
    }

    @Test func aPassedBackRequestReachesTheRouterWhole() throws {
        let fixture = try Fixture()
        try fixture.send("/pass")
        #expect(try fixture.passedOn() == ["/pass"])
        try fixture.send("/fast")
        // The router owes /pass its answer: /fast waits its turn there.
        #expect(try fixture.passedOn() == ["/fast"])
    }

    /// While a later answer is pending, what follows waits in the handler, and is handled
    /// in order once the answer is written.
    @Test func laterAnswersHoldWhatFollows() throws {
        let fixture = try Fixture()
        try fixture.send("/later", method: .post, body: "a=1")
        try fixture.send("/fast")
        try fixture.send("/other")
        #expect(try fixture.answers().isEmpty)
        #expect(try fixture.passedOn().isEmpty)
        let promise = try #require(fixture.routes.pending.first)
        promise.succeed(.text("later"))
        fixture.channel.embeddedEventLoop.run()
        #expect(try fixture.answers().map(\.body) == ["later", "fast"])
        #expect(try fixture.passedOn() == ["/other"])
    }

    @Test func headAnswersHaveNoBody() throws {
        let fixture = try Fixture()
        try fixture.send("/fast", method: .head)
        let answers = try fixture.answers()
        #expect(answers.count == 1)
        #expect(answers.first?.body == "")
        #expect(answers.first?.headers[.contentLength] == "4")
    }

    @Test func aBodyOverTheClaimGoesToTheRouter() throws {
        let fixture = try Fixture()
        try fixture.send("/later", method: .post, body: String(repeating: "x", count: 65))
        #expect(try fixture.passedOn() == ["/later"])
        #expect(fixture.routes.pending.isEmpty)
    }

    @Test func aHeadOverTheLimitIs431WithTheJSONBodyThenClose() throws {
        let fixture = try Fixture()
        fixture.channel.pipeline.fireErrorCaught(HTTPParserError.headerOverflow)
        let answers = try fixture.answers()
        #expect(answers.map(\.status) == [431])
        #expect(answers.first?.headers[.contentType] == "application/json")
        #expect(answers.first?.body.contains("\"error\":\"invalid_request\"") == true)
        fixture.channel.embeddedEventLoop.run()
        #expect(!fixture.channel.isActive)
    }

    @Test func answersAreCountedInTheRequestMetrics() throws {
        let fixture = try Fixture()
        for _ in 0..<3 { try fixture.send("/fast") }
        _ = try fixture.answers()
        let text = fixture.registry.emitToString()
        #expect(text.contains(#"http_server_requests_total{method="GET",route="/fast",status="200"} 3"#), "\(text)")
        #expect(text.contains(#"http_server_request_duration_seconds_count{method="GET",route="/fast",status="200"} 3"#), "\(text)")
    }
}
