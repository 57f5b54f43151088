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
