#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The CPUs this process may run on: its affinity mask (`taskset`, `docker --cpuset-cpus`),
/// as Go counts them for GOMAXPROCS. NIO's `System.coreCount` counts the online CPUs (or
/// a cgroup quota), so a server pinned to one core would still start an event loop per
/// core of the machine, and those loops would only take turns on the one core.
public enum AvailableCPUs {
    /// How many event loops a server should run: one per CPU it may run on, at most
    /// `coreCount` (NIO's `System.coreCount`, which also applies a cgroup CPU quota).
    public static func eventLoops(coreCount: Int) -> Int {
        max(1, min(coreCount, count ?? coreCount))
    }

    /// nil when the mask cannot be read (not Linux, no /proc).
    public static var count: Int? {
        guard let data = FileManager.default.contents(atPath: "/proc/self/status") else { return nil }
        return count(inStatus: String(decoding: data, as: UTF8.self))
    }

    /// The bits of `Cpus_allowed:` (hex words separated by commas) in /proc/PID/status text.
    static func count(inStatus status: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed:") {
            var bits = 0
            for character in line.dropFirst("Cpus_allowed:".count) where character != "," && character != " " && character != "\t" {
                guard let digit = character.hexDigitValue else { return nil }
                bits += digit.nonzeroBitCount
            }
            return bits > 0 ? bits : nil
        }
        return nil
    }
}
