import NIOCore
import NIOPosix
import ServiceSupport

/// The server's event loops: one per CPU the process may run on (see `AvailableCPUs`).
/// Pinned to one core, two loops measured 70–75k hot-token req/s and one 80k: more loops
/// than CPUs only take turns, each with its own wake-ups.
enum ResourceAPIEventLoops {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: AvailableCPUs.eventLoops(coreCount: System.coreCount))
}
