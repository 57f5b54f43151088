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
