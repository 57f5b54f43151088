import HTTPTypes

/// The routes the ResourceAPI's decision core answers, on either HTTP path.
enum APIRoute: Int, CaseIterable, Sendable {
    case healthz
    case greet
    case me
    case adminGreet

    /// The path as routed: the router's path and the metrics `route` label.
    var path: String {
        switch self {
        case .healthz: "/healthz"
        case .greet: "/api/greet"
        case .me: "/api/me"
        case .adminGreet: "/api/admin/greet"
        }
    }

    var needsToken: Bool { self != .healthz }

    /// The route of an exact path, without query.
    init?(path: String) {
        switch path {
        case "/api/greet": self = .greet
        case "/healthz": self = .healthz
        case "/api/me": self = .me
        case "/api/admin/greet": self = .adminGreet
        default: return nil
        }
    }
}
