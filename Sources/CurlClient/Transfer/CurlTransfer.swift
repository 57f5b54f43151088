import CHTTP

/// One blocking transfer on an easy handle. Runs on a pool thread; everything here
/// stays on that thread, so the mutable state needs no synchronisation.
enum CurlTransfer {
    static func run(_ request: CurlRequest, cancellation: CurlCancellation) -> Result<CurlResponse, CurlError> {
        guard let handle = curl_easy_init() else {
            return .failure(.transport(code: -1, message: "curl_easy_init failed"))
        }
        defer { curl_easy_cleanup(handle) }

        let state = TransferState(maxBodyBytes: request.options.maxBodyBytes)
        let statePointer = Unmanaged.passUnretained(state).toOpaque()

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers {
            // A CR or LF would let a caller smuggle extra header lines.
            guard !name.contains(where: \.isNewline), !value.contains(where: \.isNewline) else { continue }
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        // curl sends "Expect: 100-continue" for larger POSTs; our peers do not need it.
        headerList = curl_slist_append(headerList, "Expect:")

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let cancellationPointer = Unmanaged.passUnretained(cancellation).toOpaque()
        let code: CURLcode = withExtendedLifetime((state, cancellation)) {
            errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
                chttp_setopt_string(handle, CURLOPT_URL, request.url)
                chttp_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorPointer.baseAddress)
                // Signals are process-wide and unsafe with threads; timeouts still work
                // because libcurl is built with the threaded resolver.
                chttp_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
                chttp_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
                chttp_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
                // https: the peer's certificate and host name are always verified (libcurl's
                // defaults, set here so that no build or environment can change them),
                // TLS 1.2 at least.
                chttp_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
                chttp_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
                chttp_setopt_long(handle, CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2))
                if let caFile = request.options.caFile {
                    // Only the given CAs: the system's directory is not consulted.
                    chttp_setopt_string(handle, CURLOPT_CAINFO, caFile)
                    chttp_setopt_string(handle, CURLOPT_CAPATH, nil)
                }
                chttp_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.options.connectTimeout))
                chttp_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(request.options.timeout))
                // Refuses at once when Content-Length announces too much; the write
                // callback catches bodies without one.
                chttp_setopt_long(handle, CURLOPT_MAXFILESIZE, request.options.maxBodyBytes)
                chttp_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)
                chttp_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, curlWriteBody)
                chttp_setopt_pointer(handle, CURLOPT_WRITEDATA, statePointer)
                chttp_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION, curlWriteHeader)
                chttp_setopt_pointer(handle, CURLOPT_HEADERDATA, statePointer)
                chttp_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
                chttp_setopt_xferinfo_callback(handle, curlProgress)
                chttp_setopt_pointer(handle, CURLOPT_XFERINFODATA, cancellationPointer)

                switch request.method {
                case .get:
                    chttp_setopt_long(handle, CURLOPT_HTTPGET, 1)
                    return curl_easy_perform(handle)
                case .post:
                    let body = request.body ?? []
                    chttp_setopt_long(handle, CURLOPT_POST, 1)
                    chttp_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count)
                    // COPYPOSTFIELDS copies `POSTFIELDSIZE` bytes, so the body may be binary.
                    return body.withUnsafeBytes { bytes in
                        chttp_setopt_pointer(
                            handle,
                            CURLOPT_COPYPOSTFIELDS,
                            UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(statePointer))
                        )
                        return curl_easy_perform(handle)
                    }
                }
            }
        }

        guard code == CURLE_OK else {
            let message = Self.message(code: code, buffer: errorBuffer)
            switch code {
            case CURLE_OPERATION_TIMEDOUT:
                return .failure(.timeout)
            case CURLE_ABORTED_BY_CALLBACK:
                return .failure(.cancelled)
            case CURLE_FILESIZE_EXCEEDED:
                return .failure(.tooLarge(limit: request.options.maxBodyBytes))
            case CURLE_WRITE_ERROR where state.exceeded:
                return .failure(.tooLarge(limit: request.options.maxBodyBytes))
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
                return .failure(.connectFailed(message))
            case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
                return .failure(.invalidURL(message))
            case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CACERT_BADFILE,
                CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                return .failure(.tlsFailed(code: Int(code.rawValue), message: message))
            default:
                return .failure(.transport(code: Int(code.rawValue), message: message))
            }
        }
        var status = 0
        chttp_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .success(CurlResponse(status: status, headers: state.headers, body: state.body))
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    private static func message(code: CURLcode, buffer: [CChar]) -> String {
        let detail = buffer.withUnsafeBufferPointer { pointer in
            pointer.baseAddress.map { String(cString: $0) } ?? ""
        }
        if !detail.isEmpty { return detail }
        return String(cString: curl_easy_strerror(code))
    }
}

/// Body bytes; returning less than given makes curl abort with CURLE_WRITE_ERROR.
private let curlWriteBody: chttp_write_callback = { data, size, count, userdata in
    guard let data, let userdata else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    guard state.body.count + length <= state.maxBodyBytes else {
        state.exceeded = true
        return 0
    }
    data.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
        state.body.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length))
    }
    return length
}

/// Called by curl about once a second, and more often while data flows: non-zero aborts.
private let curlProgress: chttp_xferinfo_callback = { userdata, _, _, _, _ in
    guard let userdata else { return 0 }
    return Unmanaged<CurlCancellation>.fromOpaque(userdata).takeUnretainedValue().isCancelled ? 1 : 0
}

/// One header line per call, status lines included.
private let curlWriteHeader: chttp_write_callback = { data, size, count, userdata in
    guard let data, let userdata else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    let line = data.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
        String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
    }
    if line.hasPrefix("HTTP/") {
        // A new response (after a 100 Continue): only the last one's headers count.
        state.headers = CurlHeaders()
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].trimmingSpaces()
        let value = line[line.index(after: colon)...].trimmingSpaces()
        if !name.isEmpty { state.headers.append(name: name, value: value) }
    }
    return length
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" || first.isNewline { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" || last.isNewline { slice = slice.dropLast() }
        return String(slice)
    }
}
