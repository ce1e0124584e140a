import Foundation
import NightshiftHands
import Testing

/// A caller that stops waiting for a command leaves nothing of it running.
@Suite struct ProcessCancellationTests {
    @Test func cancellingTheCallerKillsTheCommandsWholeGroup() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-cancel-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A child in the background writes its pid, then both sleep far past the test.
        let work = Task {
            await ProcessRunner.run(
                argv: ["/bin/sh", "-c", "sleep 300 & echo $! > child.pid; sleep 300"], environment: [:], cwd: dir,
                timeout: .seconds(600))
        }
        let pidFile = dir + "/child.pid"
        let start = ContinuousClock.now
        while !FileManager.default.fileExists(atPath: pidFile), ContinuousClock.now - start < .seconds(120) {
            try await Task.sleep(for: .milliseconds(20))
        }
        // Whatever happens below, the command does not outlive the test.
        defer { work.cancel() }
        let childText = try String(contentsOfFile: pidFile, encoding: .utf8)
        let child = try #require(pid_t(childText.trimmingCharacters(in: .whitespacesAndNewlines)))
        work.cancel()
        let outcome = await work.value
        #expect(ContinuousClock.now - start < .seconds(150))
        #expect(outcome.exitCode == 128 + SIGKILL, "\(outcome)")
        #expect(outcome.output.contains("the caller stopped waiting"), "\(outcome.output)")
        #expect(!outcome.timedOut)
        // The background child went with its group (it may linger as a zombie of init for a moment).
        var gone = false
        for _ in 0..<100 where !gone {
            gone = kill(child, 0) != 0 || Self.isZombie(child)
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(gone, "pid \(child) still runs")
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }
}
