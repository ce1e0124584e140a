import Foundation
import Logging
import MCP
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Newline-delimited JSON-RPC over a child's pipes, for the MCP client.
///
/// Why not the SDK's `StdioTransport`: it reads 4 KiB at a time on its actor and rescans the
/// whole pending buffer for each chunk, so a 2 MiB result took over a minute in a debug build and
/// held the actor the whole time (a timed-out call could not even disconnect). This one reads on
/// its own thread in 64 KiB chunks, scans only new bytes, bounds one message, and stops reading
/// before `disconnect` returns, so the caller may then close the descriptors.
actor PipeTransport: Transport {
    nonisolated let logger = Logger(label: "nightshift.mcp.pipe", factory: { _ in SwiftLogNoOpLogHandler() })
    private let readFD: Int32
    private let writeFD: Int32
    private let maxMessageBytes: Int
    private let reader: Reader
    private let stream: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation

    /// - Parameter maxMessageBytes: a longer line ends the connection (a hostile or broken server
    ///   cannot make Nightshift buffer without bound). Defaults to 32 MiB.
    init(readFD: Int32, writeFD: Int32, maxMessageBytes: Int = 32 << 20) {
        self.readFD = readFD
        self.writeFD = writeFD
        self.maxMessageBytes = maxMessageBytes
        reader = Reader()
        (stream, continuation) = AsyncThrowingStream.makeStream()
    }

    func connect() async throws {
        let flags = fcntl(writeFD, F_GETFL)
        _ = fcntl(writeFD, F_SETFL, flags | O_NONBLOCK)
        let (fd, limit, reader, continuation) = (readFD, maxMessageBytes, reader, continuation)
        reader.markStarted()
        Thread.detachNewThread { reader.loop(fd: fd, limit: limit, continuation: continuation) }
    }

    func disconnect() async {
        reader.stop()
        // The reader sees the stop within one 50 ms poll; bounded all the same (a reader that was
        // never started never finishes), and no busy wait if this task is cancelled.
        let deadline = ContinuousClock.now + .seconds(5)
        while reader.started, !reader.finished, ContinuousClock.now < deadline { await pollPause() }
        continuation.finish()
    }

    func send(_ data: Data) async throws {
        var bytes = [UInt8](data)
        bytes.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(writeFD, $0.baseAddress, $0.count) }
            if n > 0 {
                offset += n
                continue
            }
            if n < 0, errno == EAGAIN || errno == EINTR {
                try Task.checkCancellation()  // a server that stopped reading its stdin
                try await Task.sleep(for: .milliseconds(5))
                continue
            }
            throw MCPSourceError("cannot write to the MCP server: \(String(cString: strerror(errno)))")
        }
    }

    func receive() -> AsyncThrowingStream<Data, any Error> { stream }

    /// Why the server's side ended (EOF, an oversized message), once it has; nil while it is open.
    nonisolated var ended: String? { reader.ended }

    /// The blocking read loop, on its own thread.
    final class Reader: Sendable {
        private struct Flags {
            var started = false
            var stopping = false
            var done = false
            var endReason: String?
        }
        private let flags = Mutex(Flags())

        var ended: String? { flags.withLock { $0.endReason } }
        private func end(_ why: String) { flags.withLock { $0.endReason = why } }

        var finished: Bool { flags.withLock { $0.done } }
        var started: Bool { flags.withLock { $0.started } }
        func markStarted() { flags.withLock { $0.started = true } }
        func stop() { flags.withLock { $0.stopping = true } }
        private var shouldStop: Bool { flags.withLock { $0.stopping } }

        func loop(fd: Int32, limit: Int, continuation: AsyncThrowingStream<Data, any Error>.Continuation) {
            defer { flags.withLock { $0.done = true } }
            var pending = [UInt8]()
            var scanned = 0
            var chunk = [UInt8](repeating: 0, count: 65536)
            while !shouldStop {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 50) > 0 else { continue }
                let n = read(fd, &chunk, chunk.count)
                if n < 0, errno == EINTR || errno == EAGAIN { continue }
                if n <= 0 {  // EOF: the server closed its stdout or died
                    // Ended with an error, never a normal finish: the SDK client's receive loop
                    // calls `receive()` again after a stream that finishes normally, and on this
                    // finished stream that is a busy loop holding a thread until `disconnect`
                    // (a server that died between calls spun a core; in the tests it starved the
                    // cooperative pool). An error ends that loop.
                    end("closed its output")
                    continuation.finish(throwing: MCPSourceError("the MCP server closed its output"))
                    return
                }
                pending += chunk[0..<n]
                var start = 0
                while let nl = pending[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                    if nl > start { continuation.yield(Data(pending[start..<nl])) }
                    start = nl + 1
                    scanned = start
                }
                if start > 0 {
                    pending.removeFirst(start)
                    scanned = 0
                }
                scanned = pending.count
                if pending.count > limit {
                    end("sent a message over \(limit) bytes")
                    continuation.finish(throwing: MCPSourceError("the MCP server sent a message over \(limit) bytes"))
                    return
                }
            }
        }
    }
}
