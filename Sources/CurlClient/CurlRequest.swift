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
