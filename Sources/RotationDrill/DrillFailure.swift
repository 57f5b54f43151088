struct DrillFailure: Error {
    let kind: String
}
