import CHTTP
import NIOPosix
import Synchronization

/// A small blocking-libcurl HTTP client exposed as `async`: every transfer runs on a
/// thread of a dedicated `NIOThreadPool`, never on an event loop or the cooperative pool.
public final class CurlClient: Sendable {
    /// Shared pool for curl transfers. Separate from `NIOThreadPool.singleton` so a slow
    /// peer (bounded by the request's total timeout) cannot starve file I/O elsewhere.
    public static let sharedThreadPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        return pool
    }()

    /// A client on `sharedThreadPool`; it has no state of its own, so one is enough.
    public static let shared = CurlClient()

    private let threadPool: NIOThreadPool
    private let ownsThreadPool: Bool

    /// A client with a pool of its own, for a component that must not wait behind other
    /// users of `shared` (a server fetching keys while the same process, say a test,
    /// floods it through `shared`). Call `shutdown()` when done with it.
    public static func withOwnThreadPool(threads: Int) -> CurlClient {
        let pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
        return CurlClient(threadPool: pool, ownsThreadPool: true)
    }

    public convenience init(threadPool: NIOThreadPool = CurlClient.sharedThreadPool) {
        self.init(threadPool: threadPool, ownsThreadPool: false)
    }

    private init(threadPool: NIOThreadPool, ownsThreadPool: Bool) {
        CurlGlobal.ensureInitialized()
        self.threadPool = threadPool
        self.ownsThreadPool = ownsThreadPool
    }

    /// Stops the client's own pool once transfers in progress end (their timeouts bound
    /// the wait). Does nothing for a client on a pool it was given.
    public func shutdown() async {
        guard self.ownsThreadPool else { return }
        try? await self.threadPool.shutdownGracefully()
    }

    /// GET `url`. A non-2xx status is a response, not an error.
    public func get(
        _ url: String,
        headers: [(String, String)] = [],
        ifNoneMatch etag: String? = nil,
        options: CurlRequestOptions = .init()
    ) async throws(CurlError) -> CurlResponse {
        var headers = headers
        if let etag { headers.append(("If-None-Match", etag)) }
        return try await self.perform(CurlRequest(method: .get, url: url, headers: headers, body: nil, options: options))
    }

    /// POST `body` to `url` with the given headers (set `Content-Type` yourself).
    public func post(
        _ url: String,
        headers: [(String, String)] = [],
        body: [UInt8],
        options: CurlRequestOptions = .init()
    ) async throws(CurlError) -> CurlResponse {
        try await self.perform(CurlRequest(method: .post, url: url, headers: headers, body: body, options: options))
    }

    /// Runs the transfer on a pool thread. Cancelling the calling task aborts it (within
    /// about a second: curl polls the flag from its progress callback).
    public func perform(_ request: CurlRequest) async throws(CurlError) -> CurlResponse {
        let cancellation = CurlCancellation()
        let result: Result<CurlResponse, CurlError>
        do {
            result = try await withTaskCancellationHandler {
                try await self.threadPool.runIfActive { CurlTransfer.run(request, cancellation: cancellation) }
            } onCancel: {
                cancellation.cancel()
            }
        } catch is CancellationError {
            throw CurlError.cancelled
        } catch {
            throw CurlError.clientShutDown
        }
        return try result.get()
    }
}

/// `curl_global_init` is not thread-safe and must run once before any other call:
/// a Swift global's lazy initialiser gives exactly that.
enum CurlGlobal {
    private static let initResult: CURLcode = curl_global_init(3 /* CURL_GLOBAL_ALL */)

    static func ensureInitialized() {
        _ = initResult
    }
}

public enum CurlMethod: String, Sendable {
    case get = "GET"
    case post = "POST"
}

public struct CurlRequest: Sendable {
    public var method: CurlMethod
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    public var options: CurlRequestOptions

    public init(method: CurlMethod, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil, options: CurlRequestOptions = .init()) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.options = options
    }
}

public struct CurlRequestOptions: Sendable {
    /// Time allowed to establish the TCP connection.
    public var connectTimeout: Duration
    /// Time allowed for the whole transfer, connection included.
    public var timeout: Duration
    /// Largest response body accepted; the transfer is aborted past it.
    public var maxBodyBytes: Int

    public init(connectTimeout: Duration = .seconds(2), timeout: Duration = .seconds(5), maxBodyBytes: Int = 1 << 20) {
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxBodyBytes = maxBodyBytes
    }
}

public struct CurlResponse: Sendable {
    public var status: Int
    public var headers: CurlHeaders
    public var body: [UInt8]

    public init(status: Int, headers: CurlHeaders, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Response header fields in arrival order, looked up case-insensitively.
public struct CurlHeaders: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    /// The first value of `name`, whatever its case.
    public subscript(_ name: String) -> String? {
        let lowered = name.lowercased()
        return self.fields.first { $0.name.lowercased() == lowered }?.value
    }

    /// Every value of `name`, whatever its case.
    public func values(_ name: String) -> [String] {
        let lowered = name.lowercased()
        return self.fields.filter { $0.name.lowercased() == lowered }.map(\.value)
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        self.fields.makeIterator()
    }

    mutating func append(name: String, value: String) {
        self.fields.append((name, value))
    }
}

public enum CurlError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connect or total timeout passed.
    case timeout
    /// The response body was larger than `maxBodyBytes`.
    case tooLarge(limit: Int)
    /// No connection could be made (refused, unreachable, name not resolved).
    case connectFailed(String)
    /// curl refused the URL (malformed, or a scheme other than http/https).
    case invalidURL(String)
    /// Any other transport failure, with curl's own message.
    case transport(code: Int, message: String)
    /// The thread pool running transfers was shut down.
    case clientShutDown
    /// The calling task was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case .timeout: "timed out"
        case .tooLarge(let limit): "response body over \(limit) bytes"
        case .connectFailed(let message): "connect failed: \(message)"
        case .invalidURL(let message): "invalid URL: \(message)"
        case .transport(let code, let message): "transfer failed (curl \(code)): \(message)"
        case .clientShutDown: "HTTP client shut down"
        case .cancelled: "cancelled"
        }
    }
}

/// Set from the cancelling task, read by curl's progress callback on the pool thread.
final class CurlCancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    func cancel() {
        self.flag.store(true, ordering: .relaxed)
    }

    var isCancelled: Bool {
        self.flag.load(ordering: .relaxed)
    }
}
