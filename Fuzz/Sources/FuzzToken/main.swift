import SharedJWT

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzToken(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let token = String(decoding: bytes, as: UTF8.self)
    if let claims = try? validator.validate(token, keys: { _ in key.publicKey }) {
        // Only a token this process signed can verify; fuzzed bytes never carry such a
        // signature, so reaching here means verification accepted a forgery.
        preconditionFailure("a fuzzed token validated: \(claims)")
    }
    return 0
}
