/// The two kinds of traffic: tokens just issued, and tokens issued before the rotation.
enum Stream: String, Sendable, CaseIterable {
    case fresh, old
}
