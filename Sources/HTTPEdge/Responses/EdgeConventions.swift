/// The conventions both services follow on every route (the "HTTP conventions" promise).
public enum EdgeConventions {
    /// Every JSON answer, errors included.
    public static let jsonContentType = "application/json"
    /// `/metrics`: Prometheus text exposition format 0.0.4.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"
}
