public struct CurlRequestOptions: Sendable {
    /// Time allowed to establish the TCP connection.
    public var connectTimeout: Duration
    /// Time allowed for the whole transfer, connection included.
    public var timeout: Duration
    /// Largest response body accepted; the transfer is aborted past it.
    public var maxBodyBytes: Int
    /// A PEM file of CA certificates: an `https://` peer must chain to one of these and no
    /// other (`CURLOPT_CAINFO`, with the system's CA directory switched off). Nil: the
    /// system's CAs. Either way the certificate and the host name are verified.
    public var caFile: String?

    public init(
        connectTimeout: Duration = .seconds(2),
        timeout: Duration = .seconds(5),
        maxBodyBytes: Int = 1 << 20,
        caFile: String? = nil
    ) {
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxBodyBytes = maxBodyBytes
        self.caFile = caFile
    }
}
