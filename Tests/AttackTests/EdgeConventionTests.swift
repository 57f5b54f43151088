import Foundation
import HTTPPipelining
import Testing

/// The HTTP conventions both services promise, on every route and both request paths: a
/// keep-alive request of a hot route is the fast path's (when it is on), the same request
/// with `Connection: close` is the router's. `make test` runs this suite a second time
/// with `EDGE_FAST_PATH=off`, where every request is the router's.
@Suite struct EdgeConventionTests {
    enum Service: String, CaseIterable, CustomStringConvertible {
        case issuer, api
        var description: String { self.rawValue }
        func port(_ stack: AttackStack) -> Int { self == .issuer ? stack.issuerPort : stack.apiPort }
    }

    /// One request as text; `close` sends `Connection: close` (the router's path).
    static func request(_ method: String, _ path: String, headers: [String] = [], body: String = "", close: Bool) -> String {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1"] + headers
        if !body.isEmpty || method == "POST" { lines.append("Content-Length: \(body.utf8.count)") }
        if close { lines.append("Connection: close") }
        return lines.joined(separator: "\r\n") + "\r\n\r\n" + body
    }

    /// One exchange; then a keep-alive `/healthz` on a new connection, to show the service still serves.
    static func exchange(_ port: Int, _ text: String) async throws -> HTTPPipelining.RawHTTP.Answer {
        let answers = try await HTTPPipelining.RawHTTP.exchange(port: port, sending: text, expecting: 1)
        let answer = try #require(answers.first)
        let next = try await HTTPPipelining.RawHTTP.exchange(port: port, sending: Self.request("GET", "/healthz", close: false), expecting: 1)
        #expect(next.first?.status == 200, "the service stopped serving after \(text.prefix(40))")
        return answer
    }

    /// The JSON error body, `no-store`, `application/json`.
    static func checkError(_ answer: HTTPPipelining.RawHTTP.Answer, status: Int, code: String, _ label: String) {
        #expect(answer.status == status, "\(label): HTTP \(answer.status) \(answer.body)")
        #expect(answer.headers["content-type"] == "application/json", "\(label): \(answer.headers)")
        #expect(answer.headers["cache-control"] == "no-store", "\(label): \(answer.headers)")
        let object = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [String: Any]
        #expect(object?["error"] as? String == code, "\(label): \(answer.body)")
        #expect((object?["error_description"] as? String)?.isEmpty == false, "\(label): \(answer.body)")
    }

    @Test("a known path with a method it does not serve: 405 with Allow and the JSON body")
    func wrongMethod() async throws {
        try await AttackStack.run { stack in
            let cases: [(Service, String, String, String)] = [
                (.issuer, "DELETE", "/token", "POST"), (.issuer, "POST", "/healthz", "GET, HEAD"),
                (.issuer, "PUT", "/.well-known/jwks.json", "GET, HEAD"),
                (.api, "POST", "/api/greet", "GET, HEAD"), (.api, "DELETE", "/healthz", "GET, HEAD"),
                (.api, "PATCH", "/metrics", "GET, HEAD"),
            ]
            for (service, method, path, allow) in cases {
                for close in [false, true] {
                    let label = "\(service) \(method) \(path) close=\(close)"
                    let answer = try await Self.exchange(service.port(stack), Self.request(method, path, close: close))
                    Self.checkError(answer, status: 405, code: "method_not_allowed", label)
                    #expect(answer.headers["allow"] == allow, "\(label): \(answer.headers)")
                }
            }
        }
    }

    @Test("an unknown path: 404 not_found with the JSON body", arguments: Service.allCases)
    func unknownPath(service: Service) async throws {
        try await AttackStack.run { stack in
            for (method, path) in [("GET", "/nope"), ("POST", "/api/nope"), ("GET", "/api/greet/x"), ("HEAD", "/nope")] {
                for close in [false, true] {
                    let label = "\(service) \(method) \(path) close=\(close)"
                    if method == "HEAD" {
                        let text = try await HTTPPipelining.RawHTTP.everything(
                            port: service.port(stack),
                            sending: Self.request(method, path, close: true)
                        )
                        #expect(text.hasPrefix("HTTP/1.1 404"), "\(label): \(text)")
                        #expect(text.hasSuffix("\r\n\r\n"), "\(label): a HEAD answer has no body: \(text)")
                        continue
                    }
                    let answer = try await Self.exchange(service.port(stack), Self.request(method, path, close: close))
                    Self.checkError(answer, status: 404, code: "not_found", label)
                }
            }
        }
    }

    /// RFC 9110 §9.3.2: the GET answer's status and header fields, without the body. The
    /// keep-alive HEAD is followed by a GET on the same connection: nothing may sit between.
    @Test("HEAD wherever GET is served: the GET answer without its body", arguments: Service.allCases)
    func head(service: Service) async throws {
        try await AttackStack.run { stack in
            let port = service.port(stack)
            let paths = service == .issuer ? ["/healthz", "/.well-known/jwks.json"] : ["/healthz", "/api/greet"]
            for path in paths {
                let auth = path == "/api/greet" ? ["Authorization: Bearer \(stack.validToken)"] : []
                let get = try #require(
                    try await HTTPPipelining.RawHTTP.exchange(
                        port: port,
                        sending: Self.request("GET", path, headers: auth, close: false),
                        expecting: 1
                    ).first
                )
                #expect(get.status == 200, "\(service) GET \(path)")
                for close in [false, true] {
                    let text = Self.request("HEAD", path, headers: auth, close: close) + (close ? "" : Self.request("GET", "/healthz", close: true))
                    let raw = try await HTTPPipelining.RawHTTP.everything(port: port, sending: text)
                    let label = "\(service) HEAD \(path) close=\(close)"
                    let parts = raw.components(separatedBy: "\r\n\r\n")
                    let headLines = parts[0].components(separatedBy: "\r\n")
                    #expect(headLines.first?.hasPrefix("HTTP/1.1 200") == true, "\(label): \(raw)")
                    var fields: [String: String] = [:]
                    for line in headLines.dropFirst() {
                        guard let colon = line.firstIndex(of: ":") else { continue }
                        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    }
                    for name in ["content-type", "content-length", "cache-control"] {
                        #expect(
                            fields[name] == get.headers[name],
                            "\(label): \(name) \(fields[name] ?? "none") vs GET's \(get.headers[name] ?? "none")"
                        )
                    }
                    if close {
                        #expect(parts.count == 2 && parts[1].isEmpty, "\(label): a body after the head: \(raw)")
                    } else {
                        #expect(
                            parts.count > 1 && parts[1].hasPrefix("HTTP/1.1 200"),
                            "\(label): the next answer must follow the head at once: \(raw)"
                        )
                    }
                }
            }
        }
    }

    @Test("a request head over the limit: 431 with the JSON body, then the connection closes", arguments: Service.allCases)
    func headOverLimit(service: Service) async throws {
        try await AttackStack.run { stack in
            let port = service.port(stack)
            let big = ["X-Filler: " + String(repeating: "a", count: 40_000)]
            let many = (0..<101).map { "X-Field-\($0): v" }
            for (name, headers) in [("40 KiB", big), ("101 fields", many)] {
                for close in [false, true] {
                    let label = "\(service) \(name) close=\(close)"
                    let answers = try await HTTPPipelining.RawHTTP.exchange(
                        port: port,
                        sending: Self.request("GET", "/healthz", headers: headers, close: close),
                        expecting: 1,
                        untilClosed: true
                    )
                    let answer = try #require(answers.first, "\(label)")
                    Self.checkError(answer, status: 431, code: "invalid_request", label)
                    let next = try await HTTPPipelining.RawHTTP.exchange(
                        port: port,
                        sending: Self.request("GET", "/healthz", close: false),
                        expecting: 1
                    )
                    #expect(next.first?.status == 200, "\(label): the service stopped serving")
                }
            }
            // Just under the limit is served.
            let fine = try await HTTPPipelining.RawHTTP.exchange(
                port: port,
                sending: Self.request("GET", "/healthz", headers: ["X-Filler: " + String(repeating: "a", count: 30_000)], close: false),
                expecting: 1
            )
            #expect(fine.first?.status == 200, "\(service): a 30 KiB head")
        }
    }

    @Test("a body over 64 KiB: 413 with the JSON body")
    func bodyOverLimit() async throws {
        try await AttackStack.run { stack in
            let body = String(repeating: "x", count: 70_000)
            let cases: [(Service, String, String, [String])] = [
                (.issuer, "POST", "/token", ["Content-Type: application/x-www-form-urlencoded"]),
                (.issuer, "POST", "/login", ["Content-Type: application/json"]),
                (.api, "GET", "/api/greet", ["Authorization: Bearer \(stack.validToken)"]),
                (.api, "GET", "/healthz", []),
            ]
            for (service, method, path, headers) in cases {
                for close in [false, true] {
                    let label = "\(service) \(method) \(path) close=\(close)"
                    var text = Self.request(method, path, headers: headers + ["Content-Length: \(body.utf8.count)"], close: close) + body
                    if method == "POST" {
                        // `request` adds its own Content-Length for POST: build this one by hand.
                        text =
                            (["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1"] + headers + ["Content-Length: \(body.utf8.count)"]
                            + (close ? ["Connection: close"] : []))
                            .joined(separator: "\r\n") + "\r\n\r\n" + body
                    }
                    let answers = try await HTTPPipelining.RawHTTP.exchange(port: service.port(stack), sending: text, expecting: 1)
                    let answer = try #require(answers.first, "\(label)")
                    Self.checkError(answer, status: 413, code: "invalid_request", label)
                }
            }
        }
    }

    /// `http_server_requests_total` counts every request whichever path answered it.
    @Test("request metrics count both paths")
    func metricsCountBothPaths() async throws {
        try await AttackStack.run { stack in
            let (fast, routed) = (5, 3)
            // ResourceAPI: keep-alive exact-path greets (fast path) and greets with a query (router).
            let before = try await Self.count(stack.apiPort, route: "/api/greet", status: 200)
            let auth = ["Authorization: Bearer \(stack.validToken)"]
            let pipelined = (0..<fast).map { _ in Self.request("GET", "/api/greet", headers: auth, close: false) }.joined()
            let answers = try await HTTPPipelining.RawHTTP.exchange(port: stack.apiPort, sending: pipelined, expecting: fast)
            #expect(answers.allSatisfy { $0.status == 200 && $0.body.hasPrefix("hi ") })
            for _ in 0..<routed {
                _ = try await HTTPPipelining.RawHTTP.exchange(
                    port: stack.apiPort,
                    sending: Self.request("GET", "/api/greet?via=router", headers: auth, close: true),
                    expecting: 1
                )
            }
            let after = try await Self.count(stack.apiPort, route: "/api/greet", status: 200)
            #expect(after - before == Double(fast + routed), "ResourceAPI: \(before) -> \(after)")

            // Issuer: refreshes on /token kept alive (fast path) and with Connection: close (router).
            let issuerBefore = try await Self.count(stack.issuerPort, route: "/token", status: 200, method: "POST")
            var refresh = try await Self.login(stack)
            for index in 0..<(fast + routed) {
                let body = "grant_type=refresh_token&refresh_token=\(refresh)"
                let text = Self.request(
                    "POST",
                    "/token",
                    headers: ["Content-Type: application/x-www-form-urlencoded"],
                    body: body,
                    close: index >= fast
                )
                let answer = try #require(try await HTTPPipelining.RawHTTP.exchange(port: stack.issuerPort, sending: text, expecting: 1).first)
                #expect(answer.status == 200, "refresh \(index): \(answer.body)")
                let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
                refresh = try #require(object["refresh_token"] as? String)
            }
            let issuerAfter = try await Self.count(stack.issuerPort, route: "/token", status: 200, method: "POST")
            #expect(issuerAfter - issuerBefore == Double(fast + routed), "Issuer: \(issuerBefore) -> \(issuerAfter)")
            // Histograms with the first bucket at 100 µs, and HELP on every family.
            let text = try await Self.metrics(stack.issuerPort)
            #expect(text.contains(#"http_server_request_duration_seconds_bucket{method="POST",route="/token",status="200",le="0.0001"}"#), "\(text)")
            for service in Service.allCases {
                let exposition = try await Self.metrics(service.port(stack))
                let families = Set(exposition.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
                let helped = Set(exposition.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
                #expect(
                    !families.isEmpty && families.isSubset(of: helped),
                    "\(service): families without HELP: \(families.subtracting(helped).sorted())"
                )
            }
        }
    }

    static func login(_ stack: AttackStack) async throws -> String {
        let body = #"{"username":"\#(AttackStack.username)","password":"\#(AttackStack.password)"}"#
        let text = Self.request("POST", "/login", headers: ["Content-Type: application/json"], body: body, close: true)
        let answer = try #require(try await HTTPPipelining.RawHTTP.exchange(port: stack.issuerPort, sending: text, expecting: 1).first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
        return try #require(object["refresh_token"] as? String)
    }

    static func metrics(_ port: Int) async throws -> String {
        try #require(try await HTTPPipelining.RawHTTP.exchange(port: port, sending: Self.request("GET", "/metrics", close: true), expecting: 1).first)
            .body
    }

    static func count(_ port: Int, route: String, status: Int, method: String = "GET") async throws -> Double {
        let prefix = #"http_server_requests_total{method="\#(method)",route="\#(route)",status="\#(status)"} "#
        let line = try await Self.metrics(port).split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Double($0.dropFirst(prefix.count)) } ?? 0
    }
}
