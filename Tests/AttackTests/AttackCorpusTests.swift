import CurlClient
import Foundation
import SharedJWT
import Testing

/// What the contract (Errors, RFC 6750) says the ResourceAPI answers.
enum Expected: Sendable, CustomStringConvertible {
    /// 200 `hi <sub>!`.
    case ok(subject: String)
    /// 401, `WWW-Authenticate: Bearer realm="resource-api"` and no error code.
    case missing
    /// 400 `invalid_request`.
    case invalidRequest
    /// 401 `invalid_token`.
    case invalidToken
    /// 403 `insufficient_scope` naming the scope.
    case insufficientScope(String)
    /// 200 JSON claims from /api/me whose `sub` is exactly this.
    case meJSON(subject: String)
    /// Not a success and not a server error: the request must not get through unauthenticated.
    case notServed
    /// Anything but a 5xx or a hang (a 4xx or a closed connection), e.g. for a 1 MiB header
    /// that the HTTP layer itself may refuse.
    case refusedWithoutServerError

    var description: String {
        switch self {
        case .ok: "200"
        case .missing: "401 without error"
        case .invalidRequest: "400 invalid_request"
        case .invalidToken: "401 invalid_token"
        case .insufficientScope: "403 insufficient_scope"
        case .meJSON: "200 JSON claims"
        case .notServed: "no 2xx, no 5xx"
        case .refusedWithoutServerError: "4xx or closed, no 5xx, no hang"
        }
    }
}

/// One crafted request: the path and the raw header lines after Host/Connection.
struct AttackCase: Sendable {
    let name: String
    let path: String
    let headerLines: [[UInt8]]
    let expected: Expected

    init(_ name: String, path: String = "/api/greet", headerLines: [[UInt8]], _ expected: Expected) {
        self.name = name
        self.path = path
        self.headerLines = headerLines
        self.expected = expected
    }

    /// `Authorization: Bearer <token>`.
    init(_ name: String, bearer token: String, scheme: String = "Bearer", _ expected: Expected) {
        self.init(name, headerLines: [Array("Authorization: \(scheme) \(token)".utf8)], expected)
    }
}

/// The attack corpus of issue 7 against a live ResourceAPI: every case gets the contract's
/// status, `WWW-Authenticate` and JSON error body, and a valid token is answered 200
/// right after each one. `jku`/`x5u` point at a listener that must never be contacted.
@Suite("Attack corpus against a live ResourceAPI")
struct AttackCorpusTests {
    @Test("every crafted token and header gets the contract's answer, and a valid token still works after each")
    func corpus() async throws {
        try await AttackStack.run { stack in
            let cases = try Self.cases(stack)
            #expect(cases.count >= 40)
            var checked = 0
            for attack in cases {
                let outcome = await RawHTTP.get(port: stack.apiPort, path: attack.path, headerLines: attack.headerLines)
                for problem in Self.check(outcome, against: attack.expected) {
                    Issue.record("\(attack.name): \(problem)")
                }
                if case .refusedWithoutServerError = attack.expected { print("attack corpus: \(attack.name): \(outcome)") }
                // The server keeps answering a valid token after every bad one.
                let after = try await stack.greet(stack.validToken)
                #expect(after.status == 200, "after \(attack.name): valid token got HTTP \(after.status)")
                checked += 1
            }
            #expect(checked == cases.count)
            // No key URL in a token was ever fetched.
            try await Task.sleep(for: .milliseconds(200))
            #expect(stack.recorder.connections == 0, "the jku/x5u listener was contacted \(stack.recorder.connections) time(s)")
            print("attack corpus: \(cases.count) cases checked")
        }
    }

    /// The contract's bound (revocation-poll + 1 s) is asserted by EndToEndTests; here the
    /// point is that a token already in the verified-token cache is refused once revoked, so
    /// the deadline leaves room for a loaded CI machine.
    @Test("a logged-out token, already verified and cached, is refused soon after, and others keep working")
    func revokedToken() async throws {
        try await AttackStack.run { stack in
            let token = try await AttackStack.login(stack.client, issuerURL: stack.issuerURL)
            #expect(try await stack.greet(token).status == 200)
            let logout = try await stack.client.post(stack.issuerURL + "/logout", headers: [("Authorization", "Bearer \(token)")], body: [])
            #expect(logout.status == 204)
            let deadline = ContinuousClock.now + .seconds(3)
            var outcome: RawOutcome = .timedOut
            repeat {
                outcome = await RawHTTP.get(port: stack.apiPort, path: "/api/greet", headerLines: [Array("Authorization: Bearer \(token)".utf8)])
                if outcome.response?.status == 401 { break }
                try await Task.sleep(for: .milliseconds(50))
            } while ContinuousClock.now < deadline
            for problem in Self.check(outcome, against: .invalidToken) { Issue.record("revoked token: \(problem)") }
            #expect(try await stack.greet(stack.validToken).status == 200)
        }
    }

    /// Contract: "Request bodies over 64 KiB get 413" and "Every error body is JSON".
    /// With a chunked body the ResourceAPI once answered 413 with an empty body and no
    /// Content-Type (found by this test, fixed in 89fcc13): BodyLimitMiddleware caught
    /// `HTTPError`, but Hummingbird's `collectBody(upTo:)` throws `NIOTooManyBytesError`.
    @Test("request bodies over 64 KiB get 413 with the JSON error body, with Content-Length or chunked", arguments: ["content-length", "chunked"])
    func oversizedBody(framing: String) async throws {
        try await AttackStack.run { stack in
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: 70_000)
            let (headers, framed): ([[UInt8]], [UInt8]) =
                framing == "chunked"
                ? ([Array("Transfer-Encoding: chunked".utf8)], RawHTTP.chunked(body))
                : ([Array("Content-Length: \(body.count)".utf8)], body)
            let outcome = await RawHTTP.send(
                port: stack.apiPort,
                method: "GET",
                path: "/api/greet",
                headerLines: [Array("Authorization: Bearer \(stack.validToken)".utf8)] + headers,
                body: framed
            )
            let response = try #require(outcome.response, "\(framing): \(outcome)")
            #expect(response.status == 413, "\(framing): HTTP \(response.status)")
            #expect(
                response.header("Content-Type")?.hasPrefix("application/json") == true,
                "\(framing): Content-Type \(response.header("Content-Type") ?? "none")"
            )
            let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
            #expect(object?["error"] is String && object?["error_description"] is String, "\(framing): body \(response.text.prefix(200))")
            #expect(try await stack.greet(stack.validToken).status == 200)
        }
    }

    /// Contract, Errors: "Every error body is JSON {"error", "error_description"}". The
    /// Issuer answers unknown paths and wrong methods that way; the ResourceAPI answered
    /// them with an empty body (found by this test, fixed in 20d782e).
    @Test(
        "unknown paths and wrong methods get a JSON error body, with or without a token",
        arguments: [
            ("GET", "/nope"), ("GET", "/api/nope"), ("POST", "/api/greet"), ("DELETE", "/api/me"), ("PUT", "/healthz"),
        ]
    )
    func unknownRoutes(method: String, path: String) async throws {
        try await AttackStack.run { stack in
            for headers in [[], [Array("Authorization: Bearer \(stack.validToken)".utf8)]] {
                let outcome = await RawHTTP.send(
                    port: stack.apiPort,
                    method: method,
                    path: path,
                    headerLines: headers + [Array("Content-Length: 0".utf8)],
                    body: []
                )
                let response = try #require(outcome.response, "\(method) \(path): \(outcome)")
                #expect([401, 404, 405].contains(response.status), "\(method) \(path): HTTP \(response.status)")
                #expect(
                    response.header("Content-Type")?.hasPrefix("application/json") == true,
                    "\(method) \(path): HTTP \(response.status), Content-Type \(response.header("Content-Type") ?? "none")"
                )
                let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
                #expect(
                    object?["error"] is String && object?["error_description"] is String,
                    "\(method) \(path): body '\(response.text.prefix(200))'"
                )
            }
            #expect(try await stack.greet(stack.validToken).status == 200)
        }
    }

    /// The Issuer is a resource server too: /admin/keys/rotate with a forged admin token
    /// would hand an attacker the key lifecycle, /logout the power to revoke others' tokens.
    @Test("forged admin tokens never reach the Issuer's admin endpoints or /logout")
    func forgedAdminTokensAtTheIssuer() async throws {
        try await AttackStack.run { stack in
            let forge = stack.forger
            let attacker = try RSAPrivateKey.generate(bits: 2048)
            let admin = forge.payload(["sub": #""mallory""#, "roles": #"["admin"]"#, "iss": Forger.quote(AttackStack.issuer)])
            let pem = try stack.signingKey.publicKey.pem()
            let forged: [(String, String)] = [
                ("alg none", forge.unsigned(forge.header(alg: "none"), admin)),
                ("alg None with a signature", forge.unsigned(forge.header(alg: "None"), admin, signature: "c2ln")),
                ("HS256 keyed with the public key PEM", forge.hmac("HS256", secret: Array(pem.utf8), forge.header(alg: "HS256"), admin)),
                ("HS256 keyed with the modulus", forge.hmac("HS256", secret: stack.signingKey.publicKey.modulus, forge.header(alg: "HS256"), admin)),
                ("attacker key under the real kid", try forge.rs256(forge.header(), admin, key: attacker)),
                (
                    "attacker key in a jwk header",
                    try forge.rs256(
                        forge.header(
                            kid: attacker.publicKey.thumbprint,
                            extra: #""jwk":{"kty":"RSA","n":"\#(Base64URL.encode(attacker.publicKey.modulus))","e":"AQAB"}"#
                        ),
                        admin,
                        key: attacker
                    )
                ),
                (
                    "jku to the listener",
                    try forge.rs256(
                        forge.header(kid: attacker.publicKey.thumbprint, extra: #""jku":"http://127.0.0.1:\#(stack.recorder.port)/jwks.json""#),
                        admin,
                        key: attacker
                    )
                ),
                (
                    "expired admin token",
                    try forge.rs256(
                        forge.header(),
                        forge.payload([
                            "roles": #"["admin"]"#, "exp": "\(forge.now - 3600)", "iat": "\(forge.now - 4000)", "nbf": "\(forge.now - 4000)",
                        ])
                    )
                ),
                (
                    "tampered roles on a user token",
                    {
                        let parts = stack.validToken.split(separator: ".").map(String.init)
                        var claims = (try? JSONSerialization.jsonObject(with: Data(Base64URL.decode(parts[1])))) as? [String: Any] ?? [:]
                        claims["roles"] = ["admin"]
                        let payload = (try? JSONSerialization.data(withJSONObject: claims)) ?? Data()
                        return parts[0] + "." + Base64URL.encode(Array(payload)) + "." + parts[2]
                    }()
                ),
                ("wrong aud", try forge.rs256(forge.header(), forge.payload(["roles": #"["admin"]"#, "aud": #""issuer""#]))),
            ]
            var attempts = 0
            for (name, token) in forged {
                for (method, path) in [("GET", "/admin/keys"), ("POST", "/admin/keys/rotate?force=true"), ("POST", "/logout")] {
                    let outcome = await RawHTTP.send(
                        port: stack.issuerPort,
                        method: method,
                        path: path,
                        headerLines: [Array("Authorization: Bearer \(token)".utf8), Array("Content-Length: 0".utf8)],
                        body: []
                    )
                    attempts += 1
                    let response = try #require(outcome.response, "\(name) \(method) \(path): \(outcome)")
                    #expect(response.status == 401, "\(name) \(method) \(path): HTTP \(response.status) \(response.text.prefix(200))")
                    let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
                    #expect(object?["error"] as? String == "invalid_token", "\(name) \(method) \(path): \(response.text.prefix(200))")
                }
            }
            // Positive control: the same claims signed by the Issuer's key are an admin.
            let legit = try forge.rs256(forge.header(), admin)
            let listing = try await stack.client.get(stack.issuerURL + "/admin/keys", headers: [("Authorization", "Bearer \(legit)")])
            #expect(listing.status == 200)
            let keys = ((try? JSONSerialization.jsonObject(with: Data(listing.body))) as? [String: Any])?["keys"] as? [[String: Any]]
            #expect(keys?.count == 2, "a forged rotate got through: \(keys?.count ?? -1) keys")
            #expect(keys?.contains { $0["kid"] as? String == stack.kid && $0["state"] as? String == "active" } == true)
            #expect(stack.recorder.connections == 0)
            print("attack corpus: \(attempts) forged admin/logout requests refused by the Issuer")
        }
    }

    @Test("the checker flags wrong answers, so the corpus can fail")
    func checkerCatchesWrongAnswers() async throws {
        func response(_ status: Int, _ challenge: String?, _ body: String, type: String = "application/json") -> RawOutcome {
            var headers: [(name: String, value: String)] = [("Content-Type", type)]
            if let challenge { headers.append(("WWW-Authenticate", challenge)) }
            return .response(RawResponse(status: status, headers: headers, body: Array(body.utf8)))
        }
        let good = response(
            401,
            #"Bearer realm="resource-api", error="invalid_token", error_description="x""#,
            #"{"error":"invalid_token","error_description":"x"}"#
        )
        #expect(Self.check(good, against: .invalidToken).isEmpty)
        let wrong: [(RawOutcome, Expected)] = [
            (response(200, nil, "hi mallory!", type: "text/plain"), .invalidToken),
            (response(401, #"Bearer realm="resource-api""#, #"{"error":"invalid_token","error_description":"x"}"#), .invalidToken),
            (response(401, #"Bearer realm="resource-api", error="invalid_token", error_description="x""#, "not json"), .invalidToken),
            (
                response(
                    401,
                    #"Bearer realm="resource-api", error="invalid_token", error_description="x""#,
                    #"{"error":"invalid_request","error_description":"x"}"#
                ), .invalidToken
            ),
            (good, .invalidRequest),
            (good, .missing),
            (good, .ok(subject: "alice")),
            (response(500, nil, ""), .refusedWithoutServerError),
            (.timedOut, .refusedWithoutServerError),
            (response(200, nil, "hi!", type: "text/plain"), .notServed),
            (
                response(
                    403,
                    #"Bearer realm="resource-api", error="insufficient_scope""#,
                    #"{"error":"insufficient_scope","error_description":"x"}"#
                ), .insufficientScope("admin")
            ),
        ]
        for (outcome, expected) in wrong {
            #expect(!Self.check(outcome, against: expected).isEmpty, "not flagged: \(outcome) as \(expected)")
        }
        // The jku/x5u listener does notice a connection.
        let recorder = try ConnectionRecorder()
        defer { recorder.stop() }
        _ = await RawHTTP.get(port: recorder.port, path: "/jwks.json", headerLines: [], timeout: 2)
        try await Task.sleep(for: .milliseconds(150))
        #expect(recorder.connections == 1)
        // Live: a valid token is not mistaken for a refused one.
        try await AttackStack.run { stack in
            let outcome = await RawHTTP.get(
                port: stack.apiPort,
                path: "/api/greet",
                headerLines: [Array("Authorization: Bearer \(stack.validToken)".utf8)]
            )
            #expect(Self.check(outcome, against: .ok(subject: AttackStack.username)).isEmpty)
            #expect(!Self.check(outcome, against: .invalidToken).isEmpty)
        }
    }

    // MARK: Checking one answer

    static func check(_ outcome: RawOutcome, against expected: Expected) -> [String] {
        if case .refusedWithoutServerError = expected {
            switch outcome {
            case .response(let response) where (400..<500).contains(response.status): return []
            case .closedWithoutResponse: return []
            default: return ["expected \(expected), got \(outcome)"]
            }
        }
        if case .notServed = expected {
            switch outcome {
            case .response(let response) where (300..<500).contains(response.status): return []
            case .closedWithoutResponse: return []
            default: return ["expected \(expected), got \(outcome)"]
            }
        }
        guard let response = outcome.response else { return ["expected \(expected), got \(outcome)"] }
        var problems: [String] = []
        let challenge = response.headers("WWW-Authenticate")
        switch expected {
        case .ok(let subject):
            if response.status != 200 { problems.append("expected 200, got \(response.status) \(response.text)") }
            if response.status == 200 && response.text != "hi \(subject)!" { problems.append("body \(response.text)") }
            return problems
        case .meJSON(let subject):
            if response.status != 200 { problems.append("expected 200, got \(response.status) \(response.text)") }
            let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
            if object?["sub"] as? String != subject { problems.append("/api/me is not JSON with sub \(subject): \(response.text.prefix(200))") }
            if object?["admin"] != nil { problems.append("a member was injected into /api/me") }
            return problems
        case .notServed:
            return []
        case .missing:
            if response.status != 401 { problems.append("expected 401, got \(response.status)") }
            if challenge != [#"Bearer realm="resource-api""#] { problems.append("WWW-Authenticate \(challenge)") }
        case .invalidRequest, .invalidToken:
            let (status, code) = if case .invalidRequest = expected { (400, "invalid_request") } else { (401, "invalid_token") }
            if response.status != status { problems.append("expected \(status), got \(response.status) \(response.text)") }
            let prefix = #"Bearer realm="resource-api", error="\#(code)", error_description=""#
            if challenge.count != 1 || !(challenge.first ?? "").hasPrefix(prefix) || !(challenge.first ?? "").hasSuffix("\"") {
                problems.append("WWW-Authenticate \(challenge)")
            } else if let value = challenge.first, !value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
                problems.append("WWW-Authenticate is not printable ASCII")
            }
        case .insufficientScope(let scope):
            if response.status != 403 { problems.append("expected 403, got \(response.status) \(response.text)") }
            let value = challenge.first ?? ""
            if challenge.count != 1 || !value.hasPrefix(#"Bearer realm="resource-api", error="insufficient_scope""#)
                || !value.contains(#"scope="\#(scope)""#)
            {
                problems.append("WWW-Authenticate \(challenge)")
            }
        case .refusedWithoutServerError:
            return []
        }
        // Every error body is JSON {"error", "error_description"}.
        if response.header("Content-Type")?.hasPrefix("application/json") != true {
            problems.append("Content-Type \(response.header("Content-Type") ?? "none")")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        guard let object, let error = object["error"] as? String, object["error_description"] is String else {
            problems.append("body is not {error, error_description}: \(response.text.prefix(200))")
            return problems
        }
        switch expected {
        case .invalidRequest where error != "invalid_request": problems.append("error \(error)")
        case .invalidToken where error != "invalid_token": problems.append("error \(error)")
        case .insufficientScope where error != "insufficient_scope": problems.append("error \(error)")
        default: break
        }
        return problems
    }

    // MARK: The corpus

    static func cases(_ stack: AttackStack) throws -> [AttackCase] {
        let forge = stack.forger
        let now = forge.now
        let publicKey = stack.signingKey.publicKey
        let attacker = try RSAPrivateKey.generate(bits: 2048)
        let valid = try forge.valid()
        let payload = forge.payload()
        let header = forge.header()
        let recorderURL = "http://127.0.0.1:\(stack.recorder.port)/jwks.json"
        var cases: [AttackCase] = []

        // alg none, in three spellings, with and without a signature.
        for alg in ["none", "None", "NONE"] {
            let unsigned = forge.header(alg: alg)
            cases.append(.init("alg \(alg), no signature", bearer: forge.unsigned(unsigned, payload), .invalidToken))
            let signature = Base64URL.encode(try stack.signingKey.signRS256(Array(forge.signingInput(unsigned, payload).utf8)))
            cases.append(.init("alg \(alg), with a signature", bearer: forge.unsigned(unsigned, payload, signature: signature), .invalidToken))
        }

        // Algorithm confusion: HMAC keyed with the public key in every form a library might use.
        let pem = try publicKey.pem()
        let der = try Base64URL.decode(
            pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        )
        let jwkJSON = Array(String(decoding: JWKSet.encode([publicKey]), as: UTF8.self).utf8)
        let jwkMember = try JSONSerialization.data(
            withJSONObject: [
                "kty": "RSA", "kid": stack.kid, "n": Base64URL.encode(publicKey.modulus), "e": Base64URL.encode(publicKey.exponent),
            ],
            options: [.sortedKeys]
        )
        let secrets: [(String, [UInt8])] = [
            ("PEM", Array(pem.utf8)), ("DER", der), ("JWK JSON", Array(jwkMember)), ("raw modulus", publicKey.modulus),
            ("JWK Set JSON", jwkJSON),
        ]
        for (form, secret) in secrets {
            cases.append(
                .init(
                    "HS256 keyed with the public key as \(form)",
                    bearer: forge.hmac("HS256", secret: secret, forge.header(alg: "HS256"), payload),
                    .invalidToken
                )
            )
        }
        for alg in ["HS384", "HS512"] {
            cases.append(
                .init(
                    "\(alg) keyed with the public key as PEM",
                    bearer: forge.hmac(alg, secret: Array(pem.utf8), forge.header(alg: alg), payload),
                    .invalidToken
                )
            )
        }

        // Keys the token brings along, or the attacker's key under our kid.
        cases.append(.init("attacker key signing under the real kid", bearer: try forge.rs256(header, payload, key: attacker), .invalidToken))
        let attackerJWK = String(
            decoding: try JSONSerialization.data(
                withJSONObject: [
                    "kty": "RSA", "n": Base64URL.encode(attacker.publicKey.modulus), "e": Base64URL.encode(attacker.publicKey.exponent),
                ],
                options: [.sortedKeys]
            ),
            as: UTF8.self
        )
        cases.append(
            .init(
                "attacker key in a jwk header, attacker kid",
                bearer: try forge.rs256(forge.header(kid: attacker.publicKey.thumbprint, extra: #""jwk":\#(attackerJWK)"#), payload, key: attacker),
                .invalidToken
            )
        )
        cases.append(
            .init(
                "attacker key in a jwk header, real kid",
                bearer: try forge.rs256(forge.header(extra: #""jwk":\#(attackerJWK)"#), payload, key: attacker),
                .invalidToken
            )
        )
        cases.append(
            .init(
                "jku to a local listener, attacker kid",
                bearer: try forge.rs256(
                    forge.header(kid: attacker.publicKey.thumbprint, extra: #""jku":\#(Forger.quote(recorderURL))"#),
                    payload,
                    key: attacker
                ),
                .invalidToken
            )
        )
        cases.append(
            .init(
                "jku to a local listener, real kid",
                bearer: try forge.rs256(forge.header(extra: #""jku":\#(Forger.quote(recorderURL))"#), payload, key: attacker),
                .invalidToken
            )
        )
        cases.append(
            .init(
                "x5u to a local listener",
                bearer: try forge.rs256(
                    forge.header(kid: attacker.publicKey.thumbprint, extra: #""x5u":\#(Forger.quote(recorderURL))"#),
                    payload,
                    key: attacker
                ),
                .invalidToken
            )
        )
        cases.append(
            .init(
                "x5c with a bogus chain",
                bearer: try forge.rs256(forge.header(extra: #""x5c":["MIIBbogus"]"#), payload, key: attacker),
                .invalidToken
            )
        )

        // kid games, each signed by the real key.
        let kids: [(String, String)] = [
            ("path traversal", "../../../../../../etc/passwd"),
            ("path traversal to a key file", "../keys/key-\(stack.kid).pem"),
            ("SQL-looking", "' OR '1'='1' --"),
            ("empty", ""),
            ("NUL byte", "\(stack.kid)\u{0}"),
            ("10 KB long", String(repeating: "k", count: 10_240)),
        ]
        for (name, kid) in kids {
            cases.append(.init("kid \(name)", bearer: try forge.rs256(forge.header(kid: kid), payload), .invalidToken))
        }
        cases.append(.init("kid missing", bearer: try forge.rs256(forge.header(omitKid: true), payload), .invalidToken))

        // Other algorithms named in the header (the signature is RS256 whatever they say).
        for alg in ["RS384", "RS512", "PS256", "ES256", "rs256", "RS256 "] {
            cases.append(.init("alg \(alg)", bearer: try forge.rs256(forge.header(alg: alg), payload), .invalidToken))
        }

        // Claims, each token correctly signed by the real key.
        let claimCases: [(String, [String: String?])] = [
            ("expired beyond leeway", ["exp": "\(now - 120)", "iat": "\(now - 420)", "nbf": "\(now - 420)"]),
            ("not yet valid beyond leeway", ["nbf": "\(now + 300)"]),
            ("issued in the future beyond leeway", ["iat": "\(now + 300)"]),
            ("missing exp", ["exp": nil]),
            ("missing iat", ["iat": nil]),
            ("missing sub", ["sub": nil]),
            ("missing jti", ["jti": nil]),
            ("missing client_id", ["client_id": nil]),
            ("wrong iss", ["iss": #""https://evil.attack.test""#]),
            ("iss with a trailing slash", ["iss": Forger.quote(AttackStack.issuer + "/")]),
            ("missing iss", ["iss": nil]),
            ("wrong aud", ["aud": #""other-api""#]),
            ("aud array without ours", ["aud": #"["other-api","resource-api-2"]"#]),
            ("aud missing", ["aud": nil]),
            ("exp as a string", ["exp": "\"\(now + 300)\""]),
            ("exp as a float in the past", ["exp": "\(now - 1000).5"]),
            ("exp 1e300", ["exp": "1e300"]),
            ("exp negative", ["exp": "-1"]),
            ("exp true", ["exp": "true"]),
            ("roles not an array", ["roles": #""admin""#]),
        ]
        for (name, changes) in claimCases {
            cases.append(.init(name, bearer: try forge.valid(changes), .invalidToken))
        }
        cases.append(.init("typ JWT", bearer: try forge.rs256(forge.header(typ: "JWT"), payload), .invalidToken))
        cases.append(.init("typ missing", bearer: try forge.rs256(forge.header(typ: nil), payload), .invalidToken))
        cases.append(
            .init(
                "unknown crit",
                bearer: try forge.rs256(forge.header(extra: #""crit":["urn:attack:magic"],"urn:attack:magic":true"#), payload),
                .invalidToken
            )
        )
        cases.append(.init("crit b64 false", bearer: try forge.rs256(forge.header(extra: #""crit":["b64"],"b64":false"#), payload), .invalidToken))

        // Surgery on a valid token.
        let parts = valid.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let other = try forge.valid(["sub": #""someone-else""#]).split(separator: ".").map(String.init)
        let tamperedPayload = Base64URL.encode(Array(forge.payload(["sub": #""admin""#, "roles": #"["admin"]"#]).utf8))
        cases.append(.init("tampered payload", bearer: "\(parts[0]).\(tamperedPayload).\(parts[2])", .invalidToken))
        cases.append(.init("signature from another token", bearer: "\(parts[0]).\(parts[1]).\(other[2])", .invalidToken))
        cases.append(.init("truncated signature", bearer: "\(parts[0]).\(parts[1]).\(parts[2].dropLast(4))", .invalidToken))
        cases.append(.init("empty signature", bearer: "\(parts[0]).\(parts[1]).", .invalidToken))
        cases.append(.init("2 segments", bearer: "\(parts[0]).\(parts[1])", .invalidToken))
        cases.append(.init("4 segments", bearer: "\(valid).\(parts[2])", .invalidToken))
        cases.append(.init("5 segments (JWE shape)", bearer: "\(parts[0]).\(parts[1]).\(parts[2]).\(parts[1]).\(parts[2])", .invalidToken))
        cases.append(.init("base64 padding at the end", bearer: valid + "==", .invalidToken))
        // `=` inside the token is outside RFC 6750's b64token grammar: the header is not `Bearer <token>`.
        cases.append(.init("base64 padding inside a segment", bearer: "\(parts[0])==.\(parts[1]).\(parts[2])", .invalidRequest))
        let standardAlphabet = valid.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        cases.append(.init("+ and / instead of - and _", bearer: standardAlphabet == valid ? valid + "+/" : standardAlphabet, .invalidToken))
        cases.append(.init("whitespace inside the token", bearer: "\(parts[0]). \(parts[1]).\(parts[2])", .invalidRequest))
        cases.append(
            .init(
                "non-UTF-8 bytes in the token",
                headerLines: [Array("Authorization: Bearer \(parts[0]).".utf8) + [0xFF, 0xFE, 0xC0, 0x80] + Array(".\(parts[2])".utf8)],
                .invalidRequest
            )
        )
        cases.append(
            .init(
                "non-UTF-8 bytes in the scheme",
                headerLines: [Array("Authorization: B".utf8) + [0xE9] + Array("arer \(valid)".utf8)],
                .invalidRequest
            )
        )
        cases.append(
            .init(
                "duplicate alg members (none, RS256)",
                bearer: try forge.rs256(#"{"alg":"none","alg":"RS256","typ":"at+jwt","kid":"\#(stack.kid)"}"#, payload),
                .invalidToken
            )
        )
        cases.append(
            .init(
                "duplicate alg members (RS256, RS256)",
                bearer: try forge.rs256(#"{"alg":"RS256","alg":"RS256","typ":"at+jwt","kid":"\#(stack.kid)"}"#, payload),
                .invalidToken
            )
        )
        cases.append(
            .init(
                "duplicate exp in the payload",
                bearer: try forge.rs256(header, String(payload.dropLast()) + #","exp":\#(now + 86_400 * 365)}"#),
                .invalidToken
            )
        )
        cases.append(.init("header that is an array", bearer: try forge.rs256(#"["RS256","at+jwt"]"#, payload), .invalidToken))
        cases.append(.init("payload that is an array", bearer: try forge.rs256(header, #"["mallory"]"#), .invalidToken))
        cases.append(.init("payload that is a string", bearer: try forge.rs256(header, #""mallory""#), .invalidToken))
        cases.append(
            .init(
                "payload nested 10 000 deep",
                bearer: try forge.rs256(header, String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)),
                .invalidToken
            )
        )
        cases.append(
            .init(
                "payload nested 2 800 deep (under the size cap)",
                bearer: try forge.rs256(header, #"{"a":"# + String(repeating: "[", count: 2_800) + String(repeating: "]", count: 2_800) + "}"),
                .invalidToken
            )
        )
        cases.append(.init("payload that is not JSON", bearer: try forge.rs256(header, "not json at all"), .invalidToken))
        cases.append(
            .init("token over 8 KiB", bearer: try forge.valid(["padding": Forger.quote(String(repeating: "p", count: 9_000))]), .invalidToken)
        )

        // Header shapes.
        cases.append(.init("a 1 MiB Authorization header", bearer: String(repeating: "A", count: 1 << 20), .refusedWithoutServerError))
        cases.append(.init("empty bearer", headerLines: [Array("Authorization: Bearer ".utf8)], .invalidRequest))
        cases.append(.init("Bearer scheme only", headerLines: [Array("Authorization: Bearer".utf8)], .invalidRequest))
        cases.append(.init("empty Authorization header", headerLines: [Array("Authorization:".utf8)], .invalidRequest))
        cases.append(
            .init(
                "two Authorization headers, both valid",
                headerLines: [Array("Authorization: Bearer \(stack.validToken)".utf8), Array("Authorization: Bearer \(stack.validToken)".utf8)],
                .invalidRequest
            )
        )
        cases.append(
            .init(
                "two Authorization headers, bad then valid",
                headerLines: [Array("Authorization: Bearer x.y.z".utf8), Array("Authorization: Bearer \(stack.validToken)".utf8)],
                .invalidRequest
            )
        )
        cases.append(.init("token only in ?access_token=", path: "/api/greet?access_token=\(stack.validToken)", headerLines: [], .missing))
        cases.append(
            .init(
                "token in ?access_token= and in the header",
                path: "/api/greet?access_token=\(stack.validToken)",
                headerLines: [Array("Authorization: Bearer \(stack.validToken)".utf8)],
                .invalidRequest
            )
        )
        cases.append(.init("no Authorization header", headerLines: [], .missing))
        cases.append(.init("Basic scheme", bearer: "YWxpY2U6cGFzc3dvcmQ=", scheme: "Basic", .invalidRequest))
        cases.append(
            .init("Bearer as a token68 with no space", headerLines: [Array("Authorization: Bearer\(stack.validToken)".utf8)], .invalidRequest)
        )
        cases.append(.init("two tokens after Bearer", bearer: "\(stack.validToken) \(stack.validToken)", .invalidRequest))
        cases.append(.init("comma-joined credentials", bearer: "\(stack.validToken), Bearer \(stack.validToken)", .invalidRequest))
        cases.append(
            .init(
                "admin route with a user token",
                path: "/api/admin/greet",
                headerLines: [Array("Authorization: Bearer \(stack.validToken)".utf8)],
                .insufficientScope("admin")
            )
        )

        // JSON edge cases a lenient parser gets wrong.
        cases.append(
            .init(
                "duplicate alg via a \\u escape",
                bearer: try forge.rs256(#"{"alg":"RS256","\u0061lg":"none","typ":"at+jwt","kid":"\#(stack.kid)"}"#, payload),
                .invalidToken
            )
        )
        cases.append(
            .init(
                "duplicate exp via a \\u escape",
                bearer: try forge.rs256(header, String(payload.dropLast()) + #","\u0065xp":\#(now + 86_400 * 365)}"#),
                .invalidToken
            )
        )
        cases.append(.init("UTF-8 BOM before the payload", bearer: try forge.rs256(header, "\u{FEFF}" + payload), .invalidToken))
        cases.append(.init("trailing comma in the payload", bearer: try forge.rs256(header, String(payload.dropLast()) + ",}"), .invalidToken))
        cases.append(.init("exp with leading zeros", bearer: try forge.valid(["exp": "000\(now + 300)"]), .invalidToken))
        cases.append(.init("exp NaN", bearer: try forge.valid(["exp": "NaN"]), .invalidToken))
        cases.append(.init("payload followed by garbage", bearer: try forge.rs256(header, payload + "garbage"), .invalidToken))
        cases.append(.init("two JSON objects as the payload", bearer: try forge.rs256(header, payload + payload), .invalidToken))
        cases.append(.init("lone surrogate in sub", bearer: try forge.valid(["sub": #""\ud800""#]), .invalidToken))

        // Requests that must never reach a handler without a token, however the path is spelled.
        for path in [
            "/api/greet/", "/API/greet", "/api//greet", "//api/greet", "/api/./greet", "/api/x/../greet", "/api/%67reet", "/api/greet;x",
            "/api/greet%00", "/api/admin/greet/..",
        ] {
            cases.append(.init("no token, path \(path)", path: path, headerLines: [], .notServed))
        }
        cases.append(.init("no token, absolute-form target", path: "http://127.0.0.1:\(stack.apiPort)/api/greet", headerLines: [], .notServed))
        cases.append(
            .init(
                "no token, X-Original-URL to a public path",
                path: "/api/greet",
                headerLines: [Array("X-Original-URL: /healthz".utf8), Array("X-Rewrite-URL: /healthz".utf8)],
                .missing
            )
        )
        cases.append(
            .init("10 000 small headers, no hang", headerLines: (0..<10_000).map { Array("X-Filler-\($0): \($0)".utf8) }, .refusedWithoutServerError)
        )

        // What a handler echoes back stays well-formed.
        let injected = #"x"},"admin":true,"y":{"z"#
        cases.append(
            .init(
                "/api/me with a sub that tries to inject JSON",
                path: "/api/me",
                headerLines: [Array("Authorization: Bearer \(try forge.valid(["sub": Forger.quote(injected)]))".utf8)],
                .meJSON(subject: injected)
            )
        )
        cases.append(.init("greet with a non-ASCII sub", bearer: try forge.valid(["sub": Forger.quote("ünïcødé ✓")]), .ok(subject: "ünïcødé ✓")))

        // Positives.
        cases.append(.init("lowercase bearer with a valid token", bearer: stack.validToken, scheme: "bearer", .ok(subject: AttackStack.username)))
        cases.append(.init("uppercase BEARER with a valid token", bearer: stack.validToken, scheme: "BEARER", .ok(subject: AttackStack.username)))
        cases.append(.init("a token signed by the Issuer's key outside the Issuer", bearer: valid, .ok(subject: "mallory")))
        cases.append(
            .init("exp as a float in the future (RFC 7519 NumericDate)", bearer: try forge.valid(["exp": "\(now + 300).25"]), .ok(subject: "mallory"))
        )
        cases.append(
            .init("aud array that includes ours", bearer: try forge.valid(["aud": #"["other-api","resource-api"]"#]), .ok(subject: "mallory"))
        )
        return cases
    }
}
