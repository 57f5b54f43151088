import CurlClient
import Foundation

enum RotateOutcome: Sendable {
    case rotated([KeyEntry])
    /// 409: the next key has not been published for jwks-max-age yet.
    case tooEarly(retryAfter: Double, message: String)
}

/// The HTTP calls of the drill, over libcurl (CurlClient), against the Issuer and the ResourceAPI.
struct StackClient: Sendable {
    let issuerURL: String
    private let curl: CurlClient
    private let options: CurlRequestOptions

    /// `caFile`: the CAs an `https://` Issuer or ResourceAPI must chain to (`--ca-file`);
    /// nil: the system's. `curl`: the drill's own client, with threads for its traffic.
    init(issuerURL: String, caFile: String? = nil, curl: CurlClient = .shared) {
        self.issuerURL = issuerURL
        self.curl = curl
        self.options = CurlRequestOptions(connectTimeout: .seconds(2), timeout: .seconds(5), maxBodyBytes: 1 << 20, caFile: caFile)
    }

    func login(username: String, password: String) async throws(DrillError) -> DrillToken {
        let body = Self.jsonBody(["username": username, "password": password])
        let response = try await self.post(self.issuerURL + "/login", body: body, what: "login as \(username)")
        guard response.status == 200 else {
            throw DrillError.stack("login as \(username) refused: \(Self.describe(response))")
        }
        return try Self.token(from: response, what: "login")
    }

    /// POST /refresh; the failure is the kind of error, for the report.
    func refresh(_ refreshToken: String) async -> Result<DrillToken, DrillFailure> {
        let body = Self.jsonBody(["refresh_token": refreshToken])
        let response: CurlResponse
        do {
            response = try await self.curl.post(
                self.issuerURL + "/refresh",
                headers: [("Content-Type", "application/json")],
                body: body,
                options: self.options
            )
        } catch {
            return .failure(DrillFailure(kind: "transport: \(error.description)"))
        }
        guard response.status == 200 else { return .failure(DrillFailure(kind: Self.describe(response))) }
        do {
            return .success(try Self.token(from: response, what: "refresh"))
        } catch {
            return .failure(DrillFailure(kind: error.description))
        }
    }

    /// GET /api/greet at the ResourceAPI `resourceURL` with `token`.
    func greet(_ token: String, at resourceURL: String) async -> GreetOutcome {
        do {
            let response = try await self.curl.get(
                resourceURL + "/api/greet",
                headers: [("Authorization", "Bearer \(token)")],
                options: self.options
            )
            return response.status == 200 ? .accepted : .refused(kind: Self.describe(response))
        } catch {
            return .refused(kind: "transport: \(error.description)")
        }
    }

    func rotate(adminToken: String, force: Bool) async throws(DrillError) -> RotateOutcome {
        let url = self.issuerURL + "/admin/keys/rotate" + (force ? "?force=true" : "")
        let response = try await self.post(url, body: [], bearer: adminToken, what: "rotate")
        switch response.status {
        case 200:
            return .rotated(try Self.keys(from: response))
        case 409:
            let retryAfter = response.headers["Retry-After"].flatMap(Double.init) ?? 1
            let message = Self.errorFields(response.body)?.description ?? "next key too young"
            return .tooEarly(retryAfter: retryAfter, message: message)
        default:
            throw DrillError.stack("POST /admin/keys/rotate: \(Self.describe(response))")
        }
    }

    /// GET /admin/keys; it also makes the Issuer re-read its key directory at once.
    func adminKeys(adminToken: String) async throws(DrillError) -> [KeyEntry] {
        let response: CurlResponse
        do {
            response = try await self.curl.get(
                self.issuerURL + "/admin/keys",
                headers: [("Authorization", "Bearer \(adminToken)")],
                options: self.options
            )
        } catch {
            throw DrillError.stack("GET /admin/keys: \(error.description)")
        }
        guard response.status == 200 else { throw DrillError.stack("GET /admin/keys: \(Self.describe(response))") }
        return try Self.keys(from: response)
    }

    /// `retired_kids` of the Issuer's revocation feed, or nil when it cannot be read.
    func retiredKids() async -> [String]? {
        struct Feed: Decodable { let retired_kids: [String]? }
        guard let response = try? await self.curl.get(self.issuerURL + "/revocations", options: self.options),
            response.status == 200,
            let feed = try? JSONDecoder().decode(Feed.self, from: Data(response.body))
        else { return nil }
        return feed.retired_kids ?? []
    }

    /// The kids of the Issuer's JWK Set, or nil when it cannot be read.
    func issuerKids() async -> [String]? {
        struct JWKSet: Decodable {
            struct Key: Decodable { let kid: String? }
            let keys: [Key]
        }
        guard let response = try? await self.curl.get(self.issuerURL + "/.well-known/jwks.json", options: self.options),
            response.status == 200,
            let set = try? JSONDecoder().decode(JWKSet.self, from: Data(response.body))
        else { return nil }
        return set.keys.compactMap(\.kid)
    }

    /// The kids the ResourceAPI at `resourceURL` knows, from its `/readyz`, or nil when it does not say.
    func resourceKids(at resourceURL: String) async -> [String]? {
        struct Readiness: Decodable { let kids: [String]? }
        guard let response = try? await self.curl.get(resourceURL + "/readyz", options: self.options),
            let readiness = try? JSONDecoder().decode(Readiness.self, from: Data(response.body))
        else { return nil }
        return readiness.kids
    }

    /// Status of `/readyz`, or the transport error.
    func readiness(of base: String) async -> String? {
        do {
            let response = try await self.curl.get(base + "/readyz", options: self.options)
            return response.status == 200 ? nil : "\(base)/readyz answered \(response.status)"
        } catch {
            return "\(base)/readyz: \(error.description)"
        }
    }

    // MARK: helpers

    private func post(_ url: String, body: [UInt8], bearer: String? = nil, what: String) async throws(DrillError) -> CurlResponse {
        var headers = [("Content-Type", "application/json")]
        if let bearer { headers.append(("Authorization", "Bearer \(bearer)")) }
        do {
            return try await self.curl.post(url, headers: headers, body: body, options: self.options)
        } catch {
            throw DrillError.stack("\(what): \(url): \(error.description)")
        }
    }

    private static func jsonBody(_ object: [String: String]) -> [UInt8] {
        (try? JSONSerialization.data(withJSONObject: object)).map { Array($0) } ?? []
    }

    private static func token(from response: CurlResponse, what: String) throws(DrillError) -> DrillToken {
        struct TokenResponse: Decodable {
            let access_token: String
            let refresh_token: String?
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(response.body)) else {
            throw DrillError.stack("\(what): the token response is not the JSON of RFC 6749 §5.1")
        }
        return try DrillToken(access: decoded.access_token, refresh: decoded.refresh_token)
    }

    private static func keys(from response: CurlResponse) throws(DrillError) -> [KeyEntry] {
        struct Listing: Decodable { let keys: [KeyEntry] }
        guard let listing = try? JSONDecoder().decode(Listing.self, from: Data(response.body)) else {
            throw DrillError.stack("the key listing is not {\"keys\": [...]}")
        }
        return listing.keys
    }

    private struct ErrorFields: Decodable, CustomStringConvertible {
        let error: String?
        let error_description: String?
        var description: String {
            [self.error, self.error_description.map { String($0.prefix(80)) }].compactMap { $0 }.joined(separator: ": ")
        }
    }

    private static func errorFields(_ body: [UInt8]) -> ErrorFields? {
        try? JSONDecoder().decode(ErrorFields.self, from: Data(body))
    }

    /// `401 invalid_token: unknown kid`: short enough to be a key of the failure table.
    static func describe(_ response: CurlResponse) -> String {
        guard let fields = errorFields(response.body), !fields.description.isEmpty else { return "\(response.status)" }
        return "\(response.status) \(fields.description)"
    }
}
