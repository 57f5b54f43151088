import HTTPTypes
import Hummingbird
import NIOCore
import SharedJWT

/// A finished response, independent of the HTTP path that sends it.
///
/// Both services build every answer as one of these, and both paths send it: the router
/// turns it into a Hummingbird `Response`, the fast path writes it to the channel. The
/// header fields carry `Content-Length`, so a `HEAD` answer is the `GET` one without its body.
public struct EdgeResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: ByteBuffer

    /// A response with `Content-Length` set from `body`.
    public init(status: HTTPResponse.Status, headers: HTTPFields = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
        let length = HTTPField(name: .contentLength, value: String(body.readableBytes))
        if self.headers.contains(.contentLength) {
            self.headers[.contentLength] = length.value
        } else {
            self.headers.append(length)
        }
    }

    /// `text/plain` in UTF-8.
    public static func text(_ text: String, status: HTTPResponse.Status = .ok) -> EdgeResponse {
        // Built field by field from a prepared field: hot routes answer with this.
        var headers = HTTPFields()
        headers.reserveCapacity(3)
        headers.append(Self.textContentType)
        return EdgeResponse(status: status, headers: headers, body: ByteBuffer(string: text))
    }

    private static let textContentType = HTTPField(name: .contentType, value: "text/plain; charset=utf-8")

    /// JSON already serialised; `headers` are added to the content type.
    public static func json(_ status: HTTPResponse.Status = .ok, bytes: [UInt8], headers: HTTPFields = [:]) -> EdgeResponse {
        var fields = headers
        fields[.contentType] = EdgeConventions.jsonContentType
        return EdgeResponse(status: status, headers: fields, body: ByteBuffer(bytes: bytes))
    }

    /// A JSON value, never cached unless `headers` say otherwise.
    public static func json(_ status: HTTPResponse.Status = .ok, _ value: JSONValue, headers: HTTPFields = [:]) -> EdgeResponse {
        var fields = headers
        if fields[.cacheControl] == nil { fields[.cacheControl] = "no-store" }
        return .json(status, bytes: value.serialized(), headers: fields)
    }

    /// The error body of both services: `{"error","error_description"}`, `no-store`.
    public static func error(_ error: EdgeError) -> EdgeResponse {
        var fields = error.headers
        fields[.contentType] = EdgeConventions.jsonContentType
        fields[.cacheControl] = "no-store"
        return EdgeResponse(status: error.status, headers: fields, body: ByteBuffer(bytes: error.body))
    }

    /// An empty response (204, 304, ...): `Content-Length: 0` unless the status has no body.
    public static func empty(_ status: HTTPResponse.Status, headers: HTTPFields = [:]) -> EdgeResponse {
        var response = EdgeResponse(status: status, headers: headers)
        if status == .noContent || status == .notModified { response.headers[.contentLength] = nil }
        return response
    }

    /// The same response for Hummingbird's router.
    public var response: Response {
        Response(status: self.status, headers: self.headers, body: .init(byteBuffer: self.body))
    }
}
