import Foundation
import Synchronization
import Testing

@testable import NightshiftHands

/// Polling waits end: a cancelled task's wait does not spin, and a transport whose reader never
/// started disconnects at once (it used to wait for that reader for ever).
@Suite struct PollingWaitTests {
    @Test func aTransportWhoseReaderNeverStartedDisconnectsInACancelledTask() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { fds.forEach { close($0) } }
        let transport = PipeTransport(readFD: fds[0], writeFD: fds[1])
        let done = Mutex(false)
        let task = Task {
            await transport.disconnect()
            done.withLock { $0 = true }
        }
        task.cancel()
        let deadline = ContinuousClock.now + .seconds(10)
        while !done.withLock({ $0 }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(done.withLock { $0 }, "disconnect never returned")
    }

    @Test func aCancelledPauseStillPauses() async {
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            #expect(Task.isCancelled)
            let start = ContinuousClock.now
            for _ in 0..<10 { await pollPause(milliseconds: 5) }
            return ContinuousClock.now - start
        }
        #expect(await task.value >= .milliseconds(40), "ten pauses in a cancelled task returned at once")
    }
}
