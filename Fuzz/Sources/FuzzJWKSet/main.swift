import SharedJWT

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWKSet(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let parsed = try? policy.parse(Array(bytes)) else { return 0 }
    precondition(parsed.keys.count <= policy.maxKeys, "more keys than the policy allows")
    for (kid, key) in parsed.keys {
        precondition(!kid.isEmpty && key.bits >= policy.minModulusBits, "a key that breaks the policy was accepted")
    }
    return 0
}
