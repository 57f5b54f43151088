import HTTPEdge
import Synchronization

/// Refusals are mostly the same few (a bad signature, an expired token, no header), and
/// building each one's JSON body and challenge again costs about as much as the RSA work
/// they replace, so the core keeps them. Bounded: descriptions can quote request data (an
/// unknown `kid`), so past `capacity` entries new ones are built and not kept.
final class RefusalMemo: Sendable {
    private let refusals = Mutex<[BearerError: EdgeResponse]>([:])
    private let capacity: Int

    init(capacity: Int = 64) {
        self.capacity = capacity
    }

    var count: Int { self.refusals.withLock { $0.count } }

    func answer(_ error: BearerError) -> EdgeResponse {
        if let known = self.refusals.withLock({ $0[error] }) { return known }
        let answer = EdgeResponse.error(error.edgeError)
        self.refusals.withLock { table in
            if table.count < self.capacity { table[error] = answer }
        }
        return answer
    }
}
