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

    /// The server's end of the pipe closing ends the stream with an error, not a normal finish:
    /// the MCP SDK's client asks for the stream again after a normal finish, in a loop with no
    /// pause, and a server that exits between calls made it spin a core until disconnect.
    @Test func aServerThatClosesItsOutputEndsTheStreamWithAnError() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        var out: [Int32] = [0, 0]
        #expect(pipe(&out) == 0)
        defer { [fds[0], out[0], out[1]].forEach { close($0) } }
        let transport = PipeTransport(readFD: fds[0], writeFD: out[1])
        try await transport.connect()
        let line = Array("{\"jsonrpc\":\"2.0\"}\n".utf8)
        #expect(line.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) } == line.count)
        close(fds[1])
        var received: [Data] = []
        var failure: (any Error)?
        do {
            for try await data in await transport.receive() { received.append(data) }
        } catch { failure = error }
        #expect(received == [Data("{\"jsonrpc\":\"2.0\"}".utf8)])
        #expect(failure.map { "\($0)" }?.contains("closed its output") == true, "\(String(describing: failure))")
        #expect(transport.ended == "closed its output")
        await transport.disconnect()
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
