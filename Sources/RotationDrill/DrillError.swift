/// Why the drill could not run at all (exit status 2).
enum DrillError: Error, CustomStringConvertible {
    case option(String)
    case stack(String)

    var description: String {
        switch self {
        case .option(let message): "invalid option \(message)"
        case .stack(let message): message
        }
    }
}
