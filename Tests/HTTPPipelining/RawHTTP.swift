import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP client for what curl will not send: several requests in one write
/// (pipelining) and bodies on GET. Blocking socket calls run on a thread of their own per
/// exchange: not on the test's cooperative threads, and not on Dispatch's global queue,
/// whose few threads many blocked exchanges at once would starve for seconds.
public enum RawHTTP {
    public struct Answer: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func exchange(port: Int, sending text: String, expecting count: Int, untilClosed: Bool = false) async throws -> [Answer] {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try self.exchangeBlocking(port: port, text: text, count: count, untilClosed: untilClosed) })
            }.start()
        }
    }

    /// Everything the server sends until it closes the connection.
    public static func everything(port: Int, sending text: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        let fd = try self.connected(port: port, sending: text)
                        defer { close(fd) }
                        var received: [UInt8] = []
                        while true {
                            var chunk = [UInt8](repeating: 0, count: 65_536)
                            let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                            if got == 0 { break }
                            guard got > 0 else { throw Failure(description: "recv() failed or timed out") }
                            received += chunk[..<got]
                        }
                        return String(decoding: received, as: UTF8.self)
                    }
                )
            }.start()
        }
    }

    /// A socket connected to 127.0.0.1:`port` with `text` sent; the caller closes it.
    private static func connected(port: Int, sending text: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "connect() failed")
        }
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard written > 0 else {
                close(fd)
                throw Failure(description: "send() failed")
            }
            sent += written
        }
        return fd
    }

    private static func exchangeBlocking(port: Int, text: String, count: Int, untilClosed: Bool) throws -> [Answer] {
        let fd = try self.connected(port: port, sending: text)
        defer { close(fd) }
        var received: [UInt8] = []
        var answers: [Answer] = []
        var closed = false
        while answers.count < count || (untilClosed && !closed) {
            if let (answer, used) = try self.parse(received) {
                answers.append(answer)
                received.removeFirst(used)
                continue
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got == 0 {
                closed = true
                if answers.count < count { throw Failure(description: "closed after \(answers.count) of \(count) responses") }
                break
            }
            guard got > 0 else { throw Failure(description: "recv() failed or timed out after \(answers.count) responses") }
            received += chunk[..<got]
        }
        return answers
    }

    /// Every complete response at the front of `bytes` (interim `1xx` answers included).
    public static func parseAnswers(_ bytes: [UInt8]) -> [Answer] {
        var rest = bytes[...]
        var answers: [Answer] = []
        while let (answer, used) = try? self.parse(Array(rest)) {
            answers.append(answer)
            rest = rest.dropFirst(used)
        }
        return answers
    }

    /// One response with a Content-Length body from the front of `bytes`, if complete.
    private static func parse(_ bytes: [UInt8]) throws -> (Answer, Int)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = bytes.indices.dropLast(3).first(where: { Array(bytes[$0..<($0 + 4)]) == separator }) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
            throw Failure(description: "bad status line: \(head.first ?? "")")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        let bodyStart = end + 4
        guard bytes.count >= bodyStart + length else { return nil }
        let body = String(decoding: bytes[bodyStart..<(bodyStart + length)], as: UTF8.self)
        return (Answer(status: status, headers: headers, body: body), bodyStart + length)
    }
}
