import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Standard error of the three executables: whole writes to file descriptor 2, one at a time
/// (log lines, configuration errors, the drill's progress). write(2) rather than FileHandle:
/// FileHandle is in full Foundation, which the services do not link (FoundationEssentials
/// keeps the ResourceAPI's resident memory down).
public enum StandardError {
    private static let lock = Mutex(())

    /// Writes `line` and a newline.
    public static func writeLine(_ line: String) {
        self.write(Data((line + "\n").utf8))
    }

    /// Writes `text` as it is.
    public static func write(_ text: String) {
        self.write(Data(text.utf8))
    }

    /// Writes `data` in one go (no other line interleaves).
    public static func write(_ data: Data) {
        self.lock.withLock { _ in
            data.withUnsafeBytes { bytes in
                guard var next = bytes.baseAddress else { return }
                var left = bytes.count
                while left > 0 {
                    let written = Glibc.write(2, next, left)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return  // nowhere left to report a failing standard error
                    }
                    next += written
                    left -= written
                }
            }
        }
    }
}
