import HummingbirdBcrypt
import NIOPosix

/// bcrypt for passwords and client secrets, run on the NIO thread pool so a slow hash
/// never stalls an event loop or the cooperative pool. The hash comparison inside
/// bcrypt's checkpass is constant-time (timingsafe_bcmp).
public struct PasswordHasher: Sendable {
    public let cost: UInt8
    /// Verified against when the user does not exist, so a miss costs as much as a
    /// wrong password (no user enumeration by timing).
    private let dummyHash: String

    public init(cost: UInt8) {
        self.cost = cost
        self.dummyHash = Bcrypt.hash("dummy password for unknown users", cost: cost)
    }

    public func hash(_ secret: String) async throws -> String {
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(secret, cost: cost) }
    }

    /// `hash` nil: the account does not exist; spend the same time, answer false.
    public func verify(_ secret: String, hash: String?) async throws -> Bool {
        let target = hash ?? dummyHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(secret, hash: target) }
        return hash != nil && matches
    }
}
