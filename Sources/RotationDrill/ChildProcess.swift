import Foundation

/// Runs a program to completion without blocking a thread of the cooperative pool.
enum ChildProcess {
    struct Result: Sendable {
        var status: Int32
        var errorOutput: String
    }

    static func run(_ path: String, arguments: [String]) async -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        return await withCheckedContinuation { continuation in
            process.terminationHandler = { finished in
                let data = errorPipe.fileHandleForReading.readDataToEndOfFile()
                continuation.resume(returning: Result(status: finished.terminationStatus, errorOutput: String(decoding: data, as: UTF8.self)))
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(returning: Result(status: -1, errorOutput: "cannot start \(path): \(error)"))
            }
        }
    }
}
