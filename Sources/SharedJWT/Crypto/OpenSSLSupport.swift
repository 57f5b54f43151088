import COpenSSL

/// The SHA-256 implementation, fetched once: `EVP_sha256()` would do an implicit fetch
/// on every call.
nonisolated(unsafe) let sha256: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil)

func withContiguousBytes<C: Collection<UInt8>, R>(_ bytes: C, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
    if let result = try bytes.withContiguousStorageIfAvailable(body) { return result }
    return try Array(bytes).withUnsafeBufferPointer(body)
}

func withMemoryBIO<R>(_ text: String, _ body: (OpaquePointer) -> R) throws -> R {
    var bytes = Array(text.utf8)
    return try bytes.withUnsafeMutableBytes { buffer in
        guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { throw KeyError("out of memory") }
        defer { BIO_free(bio) }
        return body(bio)
    }
}

func writeToMemoryBIO(_ body: (OpaquePointer) -> Int32) throws -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { throw KeyError("out of memory") }
    defer { BIO_free(bio) }
    guard body(bio) == 1 else {
        ERR_clear_error()
        throw KeyError("cannot write the key")
    }
    var data: UnsafeMutablePointer<CChar>? = nil
    let length = copenssl_bio_mem_data(bio, &data)
    guard let data, length > 0 else { throw KeyError("cannot write the key") }
    return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
}
