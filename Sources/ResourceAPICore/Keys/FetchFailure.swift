/// A fetch that answered, but not what was expected.
struct FetchFailure: Error, CustomStringConvertible {
    var description: String
}
