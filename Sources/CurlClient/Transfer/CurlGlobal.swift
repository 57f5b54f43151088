import CHTTP

/// `curl_global_init` is not thread-safe and must run once before any other call:
/// a Swift global's lazy initialiser gives exactly that.
enum CurlGlobal {
    private static let initResult: CURLcode = curl_global_init(3 /* CURL_GLOBAL_ALL */)

    static func ensureInitialized() {
        _ = initResult
    }
}
