import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceSupport
import SharedJWT

/// The subcommands' messages on standard error.
enum CLIOutput {
    static func error(_ line: String) {
        StandardError.writeLine(line)
    }
}

// MARK: serve
