import CurlClient
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Testing

/// Runs a Hummingbird app on 127.0.0.1 port 0 for the body of `test`, then stops it.
@discardableResult
func withTestServer<T: Sendable>(
    _ router: Router<BasicRequestContext>,
    _ test: @Sendable (_ baseURL: String) async throws -> T
) async throws -> T? {
    let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
    var logger = Logger(label: "curl-test-server")
    logger.logLevel = .critical
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        },
        logger: logger
    )
    // Stopped gracefully: cancelling a NIO server task while it accepts a connection
    // traps (swift-nio#2637).
    let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await services.run() }
        var iterator = portStream.makeAsyncIterator()
        let result: Result<T?, any Error>
        if let port = await iterator.next(), port > 0 {
            do {
                result = .success(try await test("http://127.0.0.1:\(port)"))
            } catch {
                result = .failure(error)
            }
        } else {
            Issue.record("test server did not start")
            result = .success(nil)
        }
        await services.triggerGracefulShutdown()
        try await group.waitForAll()
        return try result.get()
    }
}

func makeRouter() -> Router<BasicRequestContext> {
    let router = Router()
    router.get("/hello") { request, _ -> Response in
        let greeting = request.headers[.init("X-Greeting")!] ?? "hello"
        var headers = HTTPFields()
        headers[.contentType] = "text/plain"
        headers[.init("X-Custom-Header")!] = "Yes"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "\(greeting) world")))
    }
    router.get("/etag") { request, _ -> Response in
        var headers = HTTPFields()
        headers[.eTag] = "\"v1\""
        if request.headers[.ifNoneMatch] == "\"v1\"" {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "versioned")))
    }
    router.get("/fail") { _, _ -> Response in
        Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "boom")))
    }
    router.get("/slow") { _, _ -> Response in
        // Trickles one byte every 100 ms for 10 s; stops when the client goes away.
        Response(
            status: .ok,
            body: .init { writer in
                for _ in 0..<100 {
                    try await Task.sleep(for: .milliseconds(100))
                    try await writer.write(ByteBuffer(string: "x"))
                }
                try await writer.finish(nil)
            }
        )
    }
    router.get("/big") { _, _ -> Response in
        // Content-Length announced: curl refuses before reading.
        Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: UInt8(ascii: "x"), count: 200_000)))
    }
    router.get("/big-chunked") { _, _ -> Response in
        // No Content-Length: the write callback must stop it.
        Response(
            status: .ok,
            body: .init { writer in
                for _ in 0..<50 {
                    try await writer.write(ByteBuffer(repeating: UInt8(ascii: "y"), count: 4096))
                }
                try await writer.finish(nil)
            }
        )
    }
    router.post("/echo") { request, _ -> Response in
        let body = try await request.body.collect(upTo: 1 << 20)
        var headers = HTTPFields()
        headers[.contentType] = request.headers[.contentType] ?? "none"
        return Response(status: .created, headers: headers, body: .init(byteBuffer: body))
    }
    return router
}

/// Tests share two cores with CPU-heavy suites in the same process: no tight timeouts
/// except where a timeout is what is tested.
let relaxed = CurlRequestOptions(connectTimeout: .seconds(10), timeout: .seconds(30))

@Suite struct CurlClientTests {
    /// A pool of its own: other suites in the same process use `CurlClient.shared`, and
    /// a queued transfer would blur the timing checks here.
    static let ownClient = CurlClient.withOwnThreadPool(threads: 8)
    var client: CurlClient { Self.ownClient }

    @Test func sharedClientWorks() async throws {
        try await withTestServer(makeRouter()) { base in
            let response = try await CurlClient.shared.get("\(base)/hello", options: relaxed)
            #expect(response.status == 200)
        }
    }

    @Test func getReturnsStatusHeadersAndBody() async throws {
        try await withTestServer(makeRouter()) { base in
            let response = try await client.get("\(base)/hello", headers: [("X-Greeting", "bonjour")], options: relaxed)
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self) == "bonjour world")
            #expect(response.headers["x-custom-header"] == "Yes")
            #expect(response.headers["X-CUSTOM-HEADER"] == "Yes")
            #expect(response.headers["content-type"] == "text/plain")
        }
    }

    @Test func conditionalGetGets304WithETag() async throws {
        try await withTestServer(makeRouter()) { base in
            let first = try await client.get("\(base)/etag", options: relaxed)
            #expect(first.status == 200)
            let etag = try #require(first.headers["etag"])
            #expect(etag == "\"v1\"")
            let second = try await client.get("\(base)/etag", ifNoneMatch: etag, options: relaxed)
            #expect(second.status == 304)
            #expect(second.body.isEmpty)
            #expect(second.headers["ETag"] == "\"v1\"")
            let other = try await client.get("\(base)/etag", ifNoneMatch: "\"v0\"", options: relaxed)
            #expect(other.status == 200)
        }
    }

    @Test func serverErrorIsAResponseNotAnError() async throws {
        try await withTestServer(makeRouter()) { base in
            let response = try await client.get("\(base)/fail", options: relaxed)
            #expect(response.status == 500)
            #expect(String(decoding: response.body, as: UTF8.self) == "boom")
        }
    }

    @Test func totalTimeoutIsReported() async throws {
        try await withTestServer(makeRouter()) { base in
            let start = ContinuousClock.now
            await #expect(throws: CurlError.timeout) {
                _ = try await client.get("\(base)/slow", options: .init(timeout: .milliseconds(300)))
            }
            // Without the timeout the 10 s body would arrive whole (200): the error is the
            // proof. The clock is only logged: on a loaded machine it says little.
            print("timeout reported after \(ContinuousClock.now - start)")
        }
    }

    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        try await withTestServer(makeRouter()) { base in
            let transfer = Task { try await client.get("\(base)/slow", options: .init(timeout: .seconds(30))) }
            try await Task.sleep(for: .milliseconds(300))
            let cancelledAt = ContinuousClock.now
            transfer.cancel()
            await #expect(throws: CurlError.cancelled) { _ = try await transfer.value }
            // Without cancellation the 10 s body would arrive whole (200): the error is the
            // proof. curl checks the flag at least once a second.
            print("cancelled after \(ContinuousClock.now - cancelledAt)")
        }
    }

    @Test func overSizeBodyWithContentLengthIsRefused() async throws {
        try await withTestServer(makeRouter()) { base in
            await #expect(throws: CurlError.tooLarge(limit: 65_536)) {
                _ = try await client.get("\(base)/big", options: .init(timeout: .seconds(30), maxBodyBytes: 65_536))
            }
            // The same body fits under a larger cap.
            let response = try await client.get("\(base)/big", options: .init(timeout: .seconds(30), maxBodyBytes: 300_000))
            #expect(response.body.count == 200_000)
        }
    }

    @Test func overSizeStreamedBodyIsAborted() async throws {
        try await withTestServer(makeRouter()) { base in
            await #expect(throws: CurlError.tooLarge(limit: 65_536)) {
                _ = try await client.get("\(base)/big-chunked", options: .init(timeout: .seconds(30), maxBodyBytes: 65_536))
            }
        }
    }

    @Test func connectionRefusedIsConnectFailure() async throws {
        // Bind and close a server to learn a port that is now (very likely) free.
        let port =
            try await withTestServer(makeRouter()) { base in
                Int(base.split(separator: ":").last ?? "0") ?? 0
            } ?? 0
        await #expect {
            _ = try await client.get("http://127.0.0.1:\(port)/hello")
        } throws: { error in
            guard case .connectFailed = error as? CurlError else { return false }
            return true
        }
    }

    @Test func onlyHTTPSchemesAreAllowed() async throws {
        await #expect {
            _ = try await client.get("file:///etc/passwd")
        } throws: { error in
            guard case .invalidURL = error as? CurlError else { return false }
            return true
        }
    }

    @Test func postSendsBodyAndHeaders() async throws {
        try await withTestServer(makeRouter()) { base in
            let body = Array("grant_type=client_credentials".utf8)
            let response = try await client.post(
                "\(base)/echo",
                headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: body,
                options: relaxed
            )
            #expect(response.status == 201)
            #expect(response.body == body)
            #expect(response.headers["content-type"] == "application/x-www-form-urlencoded")
        }
    }

    @Test func manyConcurrentRequests() async throws {
        try await withTestServer(makeRouter()) { base in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<40 {
                    group.addTask { try await client.get("\(base)/hello", options: relaxed).status }
                }
                for try await status in group {
                    #expect(status == 200)
                }
            }
        }
    }
}
