import Foundation
import HTTPEdge
import HTTPPipelining
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The "Connections" limits of both services, on both request paths (`make test` runs this
/// suite again with `EDGE_FAST_PATH=off`): idle, header and body timeouts, the connection
/// cap, HTTP/1.0 closes, the `Host` rule, `Expect: 100-continue`, a peer hanging up, and a
/// bounded slowloris. Short timeouts keep it to seconds; one test at a time, since each
/// measures time against a timeout.
@Suite(.serialized) struct ConnectionLimitTests {
    typealias Service = EdgeConventionTests.Service

    static let short = EdgeLimits(idleTimeout: .seconds(2), headerTimeout: .seconds(1), maxConnections: 400)

    @Test("a head that stalls gets 408 with the JSON body and a close; the service goes on")
    func stalledHead() async throws {
        try await AttackStack.run(limits: Self.short) { stack in
            for service in Service.allCases {
                let port = service.port(stack)
                let started = Date()
                let seen = try await HeldConnection.exchange(port: port, sending: "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", wait: 5)
                let elapsed = Date().timeIntervalSince(started)
                #expect(seen.closed, "\(service): still open after \(elapsed) s")
                #expect(elapsed < 4, "\(service): closed after \(elapsed) s")
                let answer = try #require(seen.answers.first, "\(service): \(seen.text)")
                EdgeConventionTests.checkError(answer, status: 408, code: "invalid_request", "\(service) stalled head")
                try await Self.expectServing(port)
            }
        }
    }

    @Test("a body that stops arriving gets 408 and a close, on a fast-path and a router route")
    func stalledBody() async throws {
        try await AttackStack.run(limits: Self.short) { stack in
            let cases: [(Int, String)] = [
                (stack.issuerPort, "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type="),
                (stack.issuerPort, "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user"),
                (stack.apiPort, "GET /api/greet HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n"),
            ]
            for (port, text) in cases {
                let seen = try await HeldConnection.exchange(port: port, sending: text, wait: 5)
                #expect(seen.closed, "\(text.prefix(30)): still open")
                let answer = try #require(seen.answers.first, "\(text.prefix(30)): \(seen.text)")
                EdgeConventionTests.checkError(answer, status: 408, code: "invalid_request", String(text.prefix(30)))
                try await Self.expectServing(port)
            }
        }
    }

    @Test("an idle keep-alive connection is closed after the idle timeout, a busy one is not")
    func idleTimeout() async throws {
        try await AttackStack.run(limits: Self.short) { stack in
            for service in Service.allCases {
                let port = service.port(stack)
                let request = EdgeConventionTests.request("GET", "/healthz", close: false)
                // Busy: a request every 0.5 s for 3 s (longer than the 2 s idle timeout).
                let connection = try HeldConnection(port: port)
                defer { connection.close() }
                for _ in 0..<6 {
                    try connection.send(request)
                    let answers = try connection.read(answers: 1, wait: 5)
                    #expect(answers.first?.status == 200, "\(service): a busy connection was cut")
                    try await Task.sleep(for: .milliseconds(500))
                }
                // Idle: closed within the timeout (plus the timer's slack).
                let started = Date()
                #expect(connection.waitForClose(wait: 5), "\(service): idle connection still open")
                #expect(Date().timeIntervalSince(started) >= 1.0)
            }
        }
    }

    @Test("beyond the connection cap new connections are closed at once; the open ones keep being served")
    func connectionCap() async throws {
        let limits = EdgeLimits(idleTimeout: .seconds(30), headerTimeout: .seconds(10), maxConnections: 4)
        try await AttackStack.run(limits: limits) { stack in
            for service in Service.allCases {
                let port = service.port(stack)
                let request = EdgeConventionTests.request("GET", "/healthz", close: false)
                // Let the readiness probes and logins of the stack's start close first.
                try await Task.sleep(for: .milliseconds(300))
                var open: [HeldConnection] = []
                for _ in 0..<4 {
                    let connection = try HeldConnection(port: port)
                    try connection.send(request)
                    #expect(try connection.read(answers: 1, wait: 5).first?.status == 200, "\(service): under the cap")
                    open.append(connection)
                }
                let refused = try HeldConnection(port: port)
                try? refused.send(request)
                #expect(try refused.read(answers: 1, wait: 3).isEmpty, "\(service): a fifth connection was served")
                #expect(refused.closed, "\(service): the fifth connection was left open")
                refused.close()
                for connection in open {
                    try connection.send(request)
                    #expect(try connection.read(answers: 1, wait: 5).first?.status == 200, "\(service): an open connection stopped")
                    connection.close()
                }
                try await Task.sleep(for: .milliseconds(300))
                try await Self.expectServing(port)
            }
        }
    }

    @Test("HTTP/1.0 without keep-alive is answered and closed; with keep-alive it stays open")
    func http10() async throws {
        try await AttackStack.run(limits: Self.short) { stack in
            for service in Service.allCases {
                let port = service.port(stack)
                let plain = try await HeldConnection.exchange(port: port, sending: "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", wait: 1.5)
                #expect(plain.answers.first?.status == 200, "\(service): \(plain.text)")
                #expect(plain.closed, "\(service): HTTP/1.0 left open")
                let kept = try await HeldConnection.exchange(
                    port: port,
                    sending: "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
                    wait: 1
                )
                #expect(kept.answers.first?.status == 200, "\(service): \(kept.text)")
                #expect(!kept.closed, "\(service): HTTP/1.0 keep-alive closed")
            }
        }
    }

    @Test("a request without Host, or with two, gets 400 with the JSON body and a close")
    func hostRule() async throws {
        try await AttackStack.run(limits: Self.short) { stack in
            for service in Service.allCases {
                let port = service.port(stack)
                for text in ["GET /healthz HTTP/1.1\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"] {
                    let seen = try await HeldConnection.exchange(port: port, sending: text, wait: 3)
                    let answer = try #require(seen.answers.first, "\(service): \(seen.text)")
                    EdgeConventionTests.checkError(answer, status: 400, code: "invalid_request", "\(service) \(text.debugDescription)")
                    #expect(seen.closed)
                }
                let plain = try await HeldConnection.exchange(port: port, sending: "GET /healthz HTTP/1.0\r\n\r\n", wait: 1.5)
                #expect(plain.answers.first?.status == 200, "\(service): HTTP/1.0 without Host: \(plain.text)")
                try await Self.expectServing(port)
            }
        }
    }

    @Test("Expect: 100-continue gets 100 Continue, or 413 at once for a body over the limit")
    func expectContinue() async throws {
        try await AttackStack.run(limits: Self.short) { stack in
            let head = "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            let body = "{\"username\":\"\(AttackStack.username)\",\"password\":\"\(AttackStack.password)\"}"
            let connection = try HeldConnection(port: stack.issuerPort)
            defer { connection.close() }
            try connection.send(head + "Content-Length: \(body.utf8.count)\r\n\r\n")
            let interim = try connection.read(answers: 1, wait: 3)
            #expect(interim.first?.status == 100, "\(interim.map(\.status))")
            try connection.send(body)
            let final = try connection.read(answers: 1, wait: 5)
            #expect(final.first?.status == 200, "\(final.map(\.status))")

            let big = try await HeldConnection.exchange(port: stack.issuerPort, sending: head + "Content-Length: 10000000\r\n\r\n", wait: 3)
            let answer = try #require(big.answers.first, "\(big.text)")
            EdgeConventionTests.checkError(answer, status: 413, code: "invalid_request", "expect over the limit")
            #expect(big.closed)
        }
    }

    @Test("a peer that hangs up mid-request is not a server error; an oversized chunk size is a 400")
    func peerHangUp() async throws {
        try await AttackStack.run(limits: Self.short) { stack in
            for text in [
                "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant",
                "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"use",
            ] {
                let connection = try HeldConnection(port: stack.issuerPort)
                try connection.send(text)
                try await Task.sleep(for: .milliseconds(200))
                connection.close()
            }
            let chunk = try await HeldConnection.exchange(
                port: stack.issuerPort,
                sending: "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",
                wait: 3
            )
            let answer = try #require(chunk.answers.first, "\(chunk.text)")
            EdgeConventionTests.checkError(answer, status: 400, code: "invalid_request", "oversized chunk size")
            try await Task.sleep(for: .milliseconds(300))
            let metrics = try await stack.client.get(stack.issuerURL + "/metrics")
            let text = String(decoding: metrics.body, as: UTF8.self)
            let serverErrors = text.split(separator: "\n").filter { $0.hasPrefix("http_server_requests_total") && $0.contains("status=\"5") }
            #expect(serverErrors.isEmpty, "\(serverErrors)")
            try await Self.expectServing(stack.issuerPort)
        }
    }

    @Test("a bounded slowloris: 200 sockets trickling heads are closed by the header timeout while requests are served")
    func slowloris() async throws {
        try await AttackStack.run(limits: Self.short) { stack in
            for service in Service.allCases {
                let port = service.port(stack)
                var attackers: [HeldConnection] = []
                for index in 0..<200 {
                    let connection = try HeldConnection(port: port)
                    try connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-\(index): ")
                    attackers.append(connection)
                }
                // Normal requests are served meanwhile, on new connections.
                for _ in 0..<5 {
                    try await Self.expectServing(port)
                    // The attackers keep trickling: one byte each, every 200 ms.
                    for connection in attackers where !connection.closed { try? connection.send("a") }
                    try await Task.sleep(for: .milliseconds(200))
                }
                // By now (1 s timeout, 1+ s elapsed) the header deadline has closed them.
                try await Task.sleep(for: .milliseconds(800))
                var stillOpen = 0
                for connection in attackers {
                    if !connection.waitForClose(wait: 0.5) { stillOpen += 1 }
                    connection.close()
                }
                #expect(stillOpen == 0, "\(service): \(stillOpen) of 200 slow sockets still open")
                try await Self.expectServing(port)
            }
        }
    }

    /// A keep-alive `/healthz` on a new connection answers 200.
    static func expectServing(_ port: Int) async throws {
        let answers = try await HTTPPipelining.RawHTTP.exchange(
            port: port,
            sending: EdgeConventionTests.request("GET", "/healthz", close: false),
            expecting: 1
        )
        #expect(answers.first?.status == 200, "port \(port) stopped serving")
    }
}

/// A blocking client socket held open across steps: what a slow or idle client does.
final class HeldConnection: @unchecked Sendable {
    struct Seen {
        var answers: [HTTPPipelining.RawHTTP.Answer]
        var closed: Bool
        var text: String
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    /// Answers already returned by `read`.
    private var consumed = 0
    private(set) var closed = false

    init(port: Int) throws {
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard self.fd >= 0 else { throw HeldConnectionError("socket: errno \(errno)") }
        var address = RawHTTP.loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(self.fd)
            throw HeldConnectionError("connect: errno \(errno)")
        }
    }

    deinit { self.close() }

    private var isOpen = true

    func close() {
        guard self.isOpen else { return }
        self.isOpen = false
        Glibc.close(self.fd)
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw HeldConnectionError("send: errno \(errno)") }
            sent += count
        }
    }

    /// Reads until `answers` complete responses are in, the peer closes, or `wait` seconds pass.
    func read(answers count: Int, wait: Double) throws -> [HTTPPipelining.RawHTTP.Answer] {
        let deadline = Date().addingTimeInterval(wait)
        while true {
            let parsed = HTTPPipelining.RawHTTP.parseAnswers(self.buffer).dropFirst(self.consumed)
            let left = deadline.timeIntervalSinceNow
            if parsed.count >= count || self.closed || left <= 0 {
                let taken = Array(parsed.prefix(count))
                self.consumed += taken.count
                return taken
            }
            self.receive(timeout: left)
        }
    }

    /// Whether the peer closes within `wait` seconds (bytes read meanwhile are kept).
    func waitForClose(wait: Double) -> Bool {
        let deadline = Date().addingTimeInterval(wait)
        while !self.closed {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            self.receive(timeout: left)
        }
        return true
    }

    private func receive(timeout: Double) {
        var descriptor = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(max(1, timeout * 1000)))
        guard ready > 0 else { return }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            self.buffer += chunk[0..<count]
        } else {
            self.closed = true
        }
    }

    /// Sends `text` on a new connection and reads until the peer closes or `wait` seconds pass.
    static func exchange(port: Int, sending text: String, wait: Double) async throws -> Seen {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    let connection = try HeldConnection(port: port)
                    defer { connection.close() }
                    try connection.send(text)
                    _ = connection.waitForClose(wait: wait)
                    let answers = HTTPPipelining.RawHTTP.parseAnswers(connection.buffer)
                    continuation.resume(
                        returning: Seen(answers: answers, closed: connection.closed, text: String(decoding: connection.buffer, as: UTF8.self))
                    )
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }
}

struct HeldConnectionError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
