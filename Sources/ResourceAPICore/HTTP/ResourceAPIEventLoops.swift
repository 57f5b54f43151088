import NIOCore
import NIOPosix
import ServiceSupport

/// The server's event loops: one per CPU the process may run on (see `AvailableCPUs`).
/// More loops than CPUs only take turns, each with its own wake-ups (measured in
/// bench/RESULTS.md, "Event loops by CPU affinity").
enum ResourceAPIEventLoops {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: AvailableCPUs.eventLoops(coreCount: System.coreCount))
}
