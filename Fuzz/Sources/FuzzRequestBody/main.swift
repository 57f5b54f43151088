import ServiceSupport

// The Issuer's request bodies (/login, /token, /refresh, /revoke): the same bytes as a
// JSON object and as a form. No crash; every accepted field name is non-empty for forms.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestBody(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    _ = try? BodyFieldsParser.parseJSONObject(bytes)
    if let fields = try? BodyFieldsParser.parseForm(bytes) {
        precondition(!fields.keys.contains(""), "a form field without a name was accepted")
    }
    return 0
}
