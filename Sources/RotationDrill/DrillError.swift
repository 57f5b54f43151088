/// Why the drill could not run at all (exit status 2).
enum DrillError: Error, CustomStringConvertible {
    case stack(String)

    var description: String {
        switch self {
        case .stack(let message): message
        }
    }
}
