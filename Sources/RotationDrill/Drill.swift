import CurlClient
import Foundation
import Synchronization

/// Runs the drill: traffic in the background, rotation and retire in the foreground.
struct Drill: Sendable {
    /// Requests one stream may have waiting at one ResourceAPI; beyond it a tick is counted
    /// as not sent (the drill is behind), never queued, so the rate stays what was asked.
    static let maxInFlight = 16

    let settings: DrillSettings
    let client: StackClient
    let state: DrillState
    private let curl: CurlClient
    private let clock = ContinuousClock()

    init(settings: DrillSettings) {
        self.settings = settings
        // Its own threads (a libcurl transfer holds one while it runs): a thread for every
        // request two streams per ResourceAPI may have waiting, and a few for the rest.
        self.curl = CurlClient.withOwnThreadPool(threads: min(256, 4 + 2 * Self.maxInFlight * settings.resourceURLs.count))
        self.client = StackClient(issuerURL: settings.issuerURL, caFile: settings.caFile, curl: self.curl)
        self.state = DrillState(resourceURLs: settings.resourceURLs)
    }

    func run() async throws(DrillError) -> DrillReport {
        let result: Result<DrillReport, DrillError>
        do {
            result = .success(try await self.drill())
        } catch {
            result = .failure(error)
        }
        await self.curl.shutdown()
        return try result.get()
    }

    private func drill() async throws(DrillError) -> DrillReport {
        var report = DrillReport(settings: self.settings)
        for base in [self.settings.issuerURL] + self.settings.resourceURLs {
            if let problem = await self.client.readiness(of: base) { throw DrillError.stack("stack not ready: \(problem)") }
        }
        await self.state.setFresh(try await self.client.login(username: self.settings.username, password: self.settings.password))
        // Fail early on wrong admin credentials, before any traffic.
        _ = try await self.adminToken()
        report.record(kids: await self.resourceKids(), as: \.kidsBefore)
        await self.watchKidsOnce()

        let traffic = Task { await self.runTraffic() }
        let outcome: Result<Void, DrillError>
        do {
            try await self.rotateAndRetire(into: &report)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        traffic.cancel()
        await traffic.value
        await self.state.finish()
        try outcome.get()
        await report.collect(from: self.state)
        report.judge()
        return report
    }

    /// `/readyz` kids of every ResourceAPI, in the order given.
    private func resourceKids() async -> [[String]?] {
        var kids: [[String]?] = []
        for url in self.settings.resourceURLs { kids.append(await self.client.resourceKids(at: url)) }
        return kids
    }

    // MARK: foreground

    private func rotateAndRetire(into report: inout DrillReport) async throws(DrillError) {
        try await self.sleep(self.settings.warmup)
        guard let before = await self.state.fresh else { throw DrillError.stack("no access token to start from") }

        // 1. Rotate; a planned rotation waits (within --max-wait) until the Issuer allows it.
        let waitStart = self.clock.now
        var keys: [KeyEntry]
        while true {
            switch try await self.client.rotate(adminToken: try await self.adminToken(), force: self.settings.force) {
            case .rotated(let entries):
                keys = entries
            case .tooEarly(let retryAfter, let message):
                let waited = self.seconds(since: waitStart)
                guard waited + retryAfter <= self.settings.maxWait else {
                    throw DrillError.stack("rotation refused (\(message)); waiting \(Int(retryAfter)) s more would pass --max-wait")
                }
                Console.progress("rotation refused for now (\(message)); retrying in \(Int(retryAfter.rounded(.up))) s")
                try await self.sleep(max(retryAfter, 0.2))
                continue
            }
            break
        }
        report.rotationWaitSeconds = self.seconds(since: waitStart)
        let rotatedAt = self.clock.now
        guard let newKid = keys.first(where: { $0.state == "active" })?.kid else {
            throw DrillError.stack("the rotate response names no active key")
        }
        let oldKid = before.kid
        await self.state.markRotated(oldKid: oldKid, newKid: newKid)
        report.oldKid = oldKid
        report.newKid = newKid
        Console.progress("rotated: \(oldKid) -> \(newKid)")

        // 2. Wait until every ResourceAPI accepted a new-kid token.
        let deadline = rotatedAt.advanced(by: .milliseconds(Int64(self.settings.timeout * 1000)))
        while await self.state.resources.contains(where: { $0.firstNewKidAcceptedAt == nil }), self.clock.now < deadline {
            try await self.sleep(0.02)
        }
        report.record(kids: await self.resourceKids(), as: \.kidsAfterRotation)
        try await self.sleep(self.settings.settle)

        // 3. Optionally retire the old key as in an emergency.
        guard self.settings.retire else {
            report.retire = .init(status: "not requested")
            return
        }
        guard let issuerBin = self.settings.issuerBin else {
            let message =
                "skipped: the contract offers the emergency retire only as 'issuer keys retire KID' on the Issuer's host; pass --issuer-bin (and --keys-dir) to run it"
            Console.progress(message)
            report.retire = .init(status: message)
            return
        }
        try await self.retire(oldKid, issuerBin: issuerBin, into: &report)
        report.record(kids: await self.resourceKids(), as: \.kidsAfterRetire)
    }

    private func retire(_ kid: String, issuerBin: String, into report: inout DrillReport) async throws(DrillError) {
        await self.state.markRetireStarted()
        let startedAt = self.clock.now
        var arguments = ["keys", "retire"]
        if let keysDir = self.settings.keysDir { arguments += ["--keys-dir", keysDir] }
        arguments += ["--", kid]
        let result = await ChildProcess.run(issuerBin, arguments: arguments)
        guard result.status == 0 else {
            let message = "failed: \(issuerBin) \(arguments.joined(separator: " ")) exited \(result.status): \(result.errorOutput.prefix(300))"
            Console.progress("retire " + message)
            report.retire = .init(status: message)
            return
        }
        report.retire = .init(status: "done")
        report.retire.commandSeconds = self.seconds(since: startedAt)
        await self.state.mark("retire_done", detail: kid)
        Console.progress("retired \(kid) with \(issuerBin) keys retire")
        // The Issuer re-reads its key directory on SIGHUP, every 5 s, and on GET /admin/keys:
        // ask now so the drill measures the ResourceAPI, not the Issuer's reload interval.
        _ = try? await self.client.adminKeys(adminToken: try await self.adminToken())

        let deadline = startedAt.advanced(by: .milliseconds(Int64(self.settings.timeout * 1000)))
        while self.clock.now < deadline {
            if report.retire.onFeedSeconds == nil, await self.client.retiredKids()?.contains(kid) == true {
                report.retire.onFeedSeconds = self.seconds(since: startedAt)
                await self.state.mark("retired_kid_on_feed", detail: kid)
            }
            if report.retire.onFeedSeconds != nil, await !self.state.resources.contains(where: { $0.oldRefusedAt == nil }) { break }
            try await self.sleep(0.05)
        }
        // A little more traffic: the retired kid must stay refused, the new one accepted.
        try await self.sleep(min(self.settings.settle, 1))
    }

    private func adminToken() async throws(DrillError) -> String {
        try await self.client.login(username: self.settings.adminUsername, password: self.settings.adminPassword).access
    }

    // MARK: background traffic

    private func runTraffic() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.refreshLoop() }
            group.addTask { await self.watchKids() }
            for resource in self.settings.resourceURLs.indices {
                for stream in Stream.allCases {
                    group.addTask { await self.greetLoop(stream, resource: resource) }
                }
            }
        }
    }

    /// Looks at the kids of the Issuer's JWK Set and of every ResourceAPI's `/readyz` every
    /// 200 ms: when the new key was published, and when each ResourceAPI knew it.
    private func watchKids() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
            if Task.isCancelled { return }
            await self.watchKidsOnce()
        }
    }

    private func watchKidsOnce() async {
        if let kids = await self.client.issuerKids() { await self.state.sawKids(kids, resource: nil) }
        for (index, url) in self.settings.resourceURLs.enumerated() {
            if let kids = await self.client.resourceKids(at: url) { await self.state.sawKids(kids, resource: index) }
        }
    }

    /// Keeps a fresh access token: /refresh every `refreshInterval`, a new login if that fails.
    private func refreshLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int64(self.settings.refreshInterval * 1000)))
            if Task.isCancelled { return }
            guard let refreshToken = await self.state.fresh?.refresh else { continue }
            let refreshed = await self.client.refresh(refreshToken)
            if Task.isCancelled { return }  // cut short by the end of the drill: not an Issuer error
            switch refreshed {
            case .success(let token):
                await self.state.setFresh(token)
            case .failure(let failure):
                await self.state.issuerError("refresh: \(failure.kind)")
                if let token = try? await self.client.login(username: self.settings.username, password: self.settings.password) {
                    await self.state.setFresh(token)
                } else {
                    await self.state.issuerError("login after a failed refresh")
                }
            }
        }
    }

    /// `rate` greet requests per second to one ResourceAPI, sent on schedule whether or not
    /// the earlier ones were answered (an open loop, as real clients are), at most
    /// `maxInFlight` waiting; a tick with that many waiting is counted as not sent.
    private func greetLoop(_ stream: Stream, resource: Int) async {
        let interval = Duration.nanoseconds(Int64(1e9 / self.settings.rate))
        let url = self.settings.resourceURLs[resource]
        let waiting = InFlight()
        await withDiscardingTaskGroup { group in
            var next = self.clock.now
            while !Task.isCancelled {
                next = next.advanced(by: interval)
                if let token = await self.state.token(for: stream) {
                    if waiting.count.load(ordering: .relaxed) >= Self.maxInFlight {
                        await self.state.noteNotSent(resource: resource)
                    } else {
                        waiting.count.add(1, ordering: .relaxed)
                        group.addTask {
                            let sentAt = self.clock.now
                            let outcome = await self.client.greet(token.access, at: url)
                            waiting.count.subtract(1, ordering: .relaxed)
                            if Task.isCancelled { return }  // the answer may be cut short by the end of the drill
                            await self.state.record(resource: resource, stream, token: token, outcome: outcome, sentAt: sentAt)
                        }
                    }
                }
                if next > self.clock.now {
                    try? await Task.sleep(until: next, clock: self.clock)
                } else {
                    next = self.clock.now
                }
            }
        }
    }

    // MARK: time

    private func sleep(_ seconds: Double) async throws(DrillError) {
        do {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        } catch {
            throw DrillError.stack("interrupted")
        }
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        Self.seconds(self.clock.now - start)
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// The requests of one stream still waiting for an answer.
private final class InFlight: Sendable {
    let count = Atomic<Int>(0)
}
