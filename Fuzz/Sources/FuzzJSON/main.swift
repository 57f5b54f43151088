import SharedJWT

// The strict JSON parser: no crash, and whatever it accepts survives a round trip.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let value = try? JSONValue.parse(Array(bytes)) else { return 0 }
    guard let again = try? JSONValue.parse(value.serialized()) else {
        preconditionFailure("serialised JSON does not parse again")
    }
    precondition(again == value, "JSON round trip changed the value")
    return 0
}
