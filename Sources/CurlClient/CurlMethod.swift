public enum CurlMethod: String, Sendable {
    case get = "GET"
    case post = "POST"
}
