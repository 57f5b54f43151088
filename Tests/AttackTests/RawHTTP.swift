import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What came back on a raw connection: a parsed response, or the connection closed
/// without one, or nothing within the time limit (a hang).
enum RawOutcome: Sendable, CustomStringConvertible {
    case response(RawResponse)
    case closedWithoutResponse
    case timedOut
    case connectFailed(Int32)

    var response: RawResponse? {
        if case .response(let response) = self { return response }
        return nil
    }

    var description: String {
        switch self {
        case .response(let response): "HTTP \(response.status)"
        case .closedWithoutResponse: "connection closed without a response"
        case .timedOut: "no response within the time limit"
        case .connectFailed(let code): "connect failed (errno \(code))"
        }
    }
}

struct RawResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func headers(_ name: String) -> [String] {
        self.headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    var text: String { String(decoding: self.body, as: UTF8.self) }
}

/// HTTP/1.1 over a plain socket, byte for byte as given: the only way to send two
/// `Authorization` headers, non-UTF-8 bytes or a 1 MiB header that a client library
/// would refuse or normalise. Blocking I/O runs on a thread of its own, never on the
/// cooperative pool.
enum RawHTTP {
    /// `GET path` with the given header lines (without CRLF), `Connection: close`.
    static func get(port: Int, path: String, headerLines: [[UInt8]], timeout: Int = 10) async -> RawOutcome {
        await self.send(port: port, method: "GET", path: path, headerLines: headerLines, body: [], timeout: timeout)
    }

    /// Any method, with `body` sent as given after the blank line (frame it yourself).
    static func send(port: Int, method: String, path: String, headerLines: [[UInt8]], body: [UInt8], timeout: Int = 10) async -> RawOutcome {
        var request = Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n".utf8)
        for line in headerLines {
            request += line
            request += Array("\r\n".utf8)
        }
        request += Array("\r\n".utf8)
        request += body
        return await self.exchange(port: port, request: request, timeout: timeout)
    }

    /// `body` in HTTP/1.1 chunks of `chunkSize` bytes, with the final empty chunk.
    static func chunked(_ body: [UInt8], chunkSize: Int = 8192) -> [UInt8] {
        var framed: [UInt8] = []
        var index = 0
        while index < body.count {
            let end = min(index + chunkSize, body.count)
            framed += Array("\(String(end - index, radix: 16))\r\n".utf8) + body[index..<end] + Array("\r\n".utf8)
            index = end
        }
        return framed + Array("0\r\n\r\n".utf8)
    }

    static func exchange(port: Int, request: [UInt8], timeout: Int) async -> RawOutcome {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Self.blockingExchange(port: port, request: request, timeout: timeout))
            }
            thread.start()
        }
    }

    static func blockingExchange(port: Int, request: [UInt8], timeout: Int) -> RawOutcome {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .connectFailed(errno) }
        defer { close(fd) }
        var interval = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        var address = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return .connectFailed(errno) }

        // The server may answer (and close) before it has read everything: stop sending then.
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { break }
            sent += count
        }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var timedOut = false
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += buffer[0..<count]
                if let response = parse(received), response.complete { return .response(response.value) }
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { timedOut = true }
            break
        }
        if let response = parse(received) { return .response(response.value) }
        return timedOut ? .timedOut : .closedWithoutResponse
    }

    static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        return address
    }

    /// Parses what arrived; `complete` once the whole body (per Content-Length or chunks) is in.
    static func parse(_ bytes: [UInt8]) -> (value: RawResponse, complete: Bool)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = bytes.firstRange(of: separator) else { return nil }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        guard !lines.isEmpty else { return nil }
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var response = RawResponse(status: status, headers: headers, body: [])
        let rest = Array(bytes[end.upperBound...])
        if let length = response.header("Content-Length").flatMap({ Int($0) }) {
            response.body = Array(rest.prefix(length))
            return (response, rest.count >= length)
        }
        if response.header("Transfer-Encoding")?.lowercased().contains("chunked") == true {
            let (body, complete) = dechunk(rest)
            response.body = body
            return (response, complete)
        }
        response.body = rest
        return (response, false)
    }

    static func dechunk(_ bytes: [UInt8]) -> ([UInt8], Bool) {
        var body: [UInt8] = []
        var index = 0
        while true {
            guard let lineEnd = bytes[index...].firstRange(of: [13, 10]) else { return (body, false) }
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { return (body, false) }
            if size == 0 { return (body, true) }
            let start = lineEnd.upperBound
            guard start + size + 2 <= bytes.count else { return (body, false) }
            body += bytes[start..<(start + size)]
            index = start + size + 2
        }
    }
}

/// A loopback listener that accepts and counts every connection: the `jku`/`x5u`
/// target that a correct resource server never contacts.
final class ConnectionRecorder: Sendable {
    let port: Int
    private let fd: Int32
    private let state = Mutex((connections: 0, stopped: false))

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RecorderError("socket failed") }
        var address = RawHTTP.loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw RecorderError("bind/listen failed")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        let thread = Thread { [self] in self.acceptLoop() }
        thread.start()
    }

    var connections: Int { self.state.withLock { $0.connections } }

    func stop() {
        self.state.withLock { $0.stopped = true }
    }

    private func acceptLoop() {
        defer { close(self.fd) }
        while !self.state.withLock({ $0.stopped }) {
            var poller = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            let client = accept(self.fd, nil, nil)
            if client >= 0 {
                self.state.withLock { $0.connections += 1 }
                close(client)
            }
        }
    }

    struct RecorderError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }
}
