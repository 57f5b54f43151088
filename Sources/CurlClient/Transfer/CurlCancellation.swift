import Synchronization

/// Set from the cancelling task, read by curl's progress callback on the pool thread.
final class CurlCancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    func cancel() {
        self.flag.store(true, ordering: .relaxed)
    }

    var isCancelled: Bool {
        self.flag.load(ordering: .relaxed)
    }
}
