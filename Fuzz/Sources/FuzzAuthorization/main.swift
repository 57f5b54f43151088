import ServiceSupport

// The `Authorization` header as both services read it: no crash, and whatever it
// accepts is a non-empty RFC 6750 b64token within the cap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuthorization(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let value = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    guard let token = try? BearerAuthorization.token(from: value, maxTokenBytes: 8192) else { return 0 }
    precondition(!token.isEmpty && token.utf8.count <= 8192, "an empty or oversized token was accepted")
    precondition(!token.contains(" ") && !token.contains("\t"), "a token with white space was accepted")
    return 0
}
