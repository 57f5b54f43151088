import NIOPosix

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
