import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import Prometheus
import Testing

@testable import IssuerCore

/// The cheaper pieces of the refresh path give the answers of what they replaced:
/// the token response body, role lists, token hashes, the Content-Type check, the
/// group commit of concurrent refreshes, and log metadata.
@Suite struct RefreshFastPathTests {
    static func jsonEncoderBody(_ response: TokenResponse) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(response))
    }

    @Test(arguments: [
        TokenResponse(accessToken: "eyJh.eyJz.c2ln-_", expiresIn: 300, refreshToken: "AbC-_09", scope: "api"),
        TokenResponse(accessToken: "a.b.c", expiresIn: 0, refreshToken: nil, scope: "read write/admin"),
        TokenResponse(accessToken: "a.b.c", expiresIn: 86_400, refreshToken: "r", scope: "x y"),
    ])
    func tokenBodyIsWhatJSONEncoderWrites(_ response: TokenResponse) throws {
        let body = try #require(response.sortedJSON())
        #expect(body == (try Self.jsonEncoderBody(response)))
    }

    @Test(arguments: ["quote\"d", "back\\slash", "tab\there", "é"])
    func scopesThatNeedEscapingFallBackToJSONEncoder(_ scope: String) throws {
        let response = TokenResponse(accessToken: "a.b.c", expiresIn: 300, refreshToken: "r", scope: scope)
        #expect(response.sortedJSON() == nil)
        // What the route then sends is still valid JSON with the scope intact.
        let decoded = try JSONSerialization.jsonObject(with: Data(try Self.jsonEncoderBody(response))) as? [String: Any]
        #expect(decoded?["scope"] as? String == scope)
    }

    @Test(arguments: [[], ["user"], ["user", "admin"], [""], ["a/b"], ["q\"uote", "x"], ["é", "tab\t"], ["a,b", "c\",\"d"]])
    func roleListsMatchJSONEncoderAndRoundTrip(_ roles: [String]) throws {
        let text = SQLiteIssuerStore.encodeList(roles)
        #expect(text == String(decoding: try JSONEncoder().encode(roles), as: UTF8.self))
        #expect(SQLiteIssuerStore.decodeList(text) == roles)
    }

    @Test(arguments: ["", "[", "[\"a\",]", "[\"a\"", "[\"]", "[\"a\" ]", "[ \"a\"]", "{}", "[1]", "[\"a\"]x", "[\"a\\/b\"]"])
    func oddListTextDecodesAsJSONDecoderDecodesIt(_ text: String) {
        let expected = (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
        #expect(SQLiteIssuerStore.decodeList(text) == expected)
    }

    @Test func tokenHashIsLowercaseHexSHA256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        #expect(Secrets.tokenHash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Secrets.tokenHash("").count == 64)
    }

    @Test(arguments: [
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("Application/X-WWW-Form-URLEncoded; charset=UTF-8", "application/x-www-form-urlencoded"),
        ("  application/json \t; charset=utf-8", "application/json"),
        (";application/json", "application/json"),
        ("\u{00A0}application/json\u{00A0}", "application/json"),
        ("TEXT/PLAIN", "text/plain"),
    ])
    func mediaTypeIsTrimmedAndLowercased(_ header: String, _ expected: String) {
        var fields = HTTPFields()
        fields[.contentType] = header
        let request = Request(
            head: HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/token", headerFields: fields),
            body: .init(buffer: .init())
        )
        #expect(BodyReader.mediaType(request) == expected)
        // The general (Foundation) rule the fast path stands in for.
        #expect(header.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } == expected)
    }

    @Test func noContentTypeOrOnlySeparators() {
        for header in [nil, "", ";;"] as [String?] {
            var fields = HTTPFields()
            if let header { fields[.contentType] = header }
            let request = Request(
                head: HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/token", headerFields: fields),
                body: .init(buffer: .init())
            )
            #expect(BodyReader.mediaType(request) == nil)
        }
    }

    static let now: Double = 1_800_000_000

    static func request(_ old: String, _ new: String, jti: String) -> RefreshRequest {
        RefreshRequest(
            oldHash: old,
            newHash: new,
            newExpiresAt: now + 100,
            now: now,
            accessTokenID: jti,
            accessExpiresAt: Int64(now) + 300,
            currentRolesClientID: "login"
        )
    }

    /// Many refreshes at once (they share commits): each distinct token rotates, and of
    /// the callers presenting the same token exactly one wins and the family is revoked.
    @Test func concurrentRefreshesShareCommitsWithTheSameAnswers() async throws {
        let directory = try TempDirectory()
        let store = try SQLiteIssuerStore(path: directory.database)
        try await store.addUser(UserRecord(name: "alice", passwordHash: "h", roles: ["user"], createdAt: Self.now))
        for index in 0..<40 {
            let grant = RefreshGrant(family: "fam-\(index)", subject: "alice", clientID: "login", scope: "api", roles: ["user"])
            try await store.storeRefreshToken(hash: "old-\(index)", grant: grant, parent: nil, expiresAt: Self.now + 100, now: Self.now)
        }
        // Through SQLite's committer: refreshes of one event-loop tick share a transaction.
        let committer = store.makeCommitter(metrics: RefreshCommitMetrics(registry: PrometheusCollectorRegistry()))
        let loops = CommittedRefreshes.eventLoops
        let results = try await withThrowingTaskGroup(of: (Int, RefreshResult).self) { group in
            for index in 0..<40 {
                group.addTask {
                    (index, try await committer.commit(Self.request("old-\(index)", "new-\(index)", jti: "jti-\(index)"), on: loops.next()).get())
                }
            }
            // Five racers on one more token.
            for racer in 0..<5 {
                group.addTask {
                    (
                        100 + racer,
                        try await committer.commit(Self.request("old-0", "race-\(racer)", jti: "race-jti-\(racer)"), on: loops.next()).get()
                    )
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for index in 1..<40 {
            #expect(
                results[index] == .rotated(RefreshGrant(family: "fam-\(index)", subject: "alice", clientID: "login", scope: "api", roles: ["user"]))
            )
            #expect(try await store.family(ofAccessToken: "jti-\(index)") == "fam-\(index)")
        }
        let onToken0 = [0, 100, 101, 102, 103, 104].compactMap { results[$0] }
        #expect(onToken0.count == 6)
        // One rotation; the first replay is detected as reuse and revokes the family, so
        // the replays after it find a revoked token (invalid), as with one transaction each.
        #expect(onToken0.filter { if case .rotated = $0 { true } else { false } }.count == 1)
        #expect(onToken0.filter { $0 == .reused(family: "fam-0") }.count == 1)
        #expect(onToken0.filter { $0 == .invalid }.count == 4)
        // The replay revoked the whole family, the winner's successor included.
        let winner = [0: "new-0", 100: "race-0", 101: "race-1", 102: "race-2", 103: "race-3", 104: "race-4"]
            .first { if case .rotated = results[$0.key] { true } else { false } }
        let successor = try #require(winner?.value)
        #expect(try await store.refresh(Self.request(successor, "after", jti: "after-jti")) == .invalid)
    }

    @Test func deferredMetadataReachesTheHandlerWhenALineIsWritten() {
        let lines = LockedLines()
        var logger = Logger(label: "test") { _ in DeferredMetadataLogHandler(CapturingHandler(lines: lines)) }
        logger.logLevel = .info
        logger[metadataKey: "hb.request.id"] = "42"
        logger.debug("below the level")
        logger.info("written", metadata: ["extra": "1"])
        #expect(lines.all == ["written hb.request.id=42"])
    }
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

/// Records the message and the handler's own metadata (not the call's).
struct CapturingHandler: LogHandler {
    let lines: LockedLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let rendered = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lines.append("\(event.message)" + (rendered.isEmpty ? "" : " " + rendered))
    }
}
