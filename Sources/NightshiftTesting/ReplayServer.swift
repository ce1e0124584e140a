import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 server on 127.0.0.1 that answers each request with the next scripted reply and
/// records what it was sent. Plain sockets on a thread, so a test controls every byte: status,
/// headers, chunk timing, and a connection reset in the middle of a stream.
public final class ReplayServer: @unchecked Sendable {
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        /// Body pieces, each sent as one HTTP chunk after `delayMs`.
        public var chunks: [(text: String, delayMs: Int)]
        /// Close the connection abruptly (RST) after this many chunks, without finishing the body.
        public var resetAfter: Int?

        public init(
            status: Int = 200, headers: [(String, String)] = [], chunks: [(text: String, delayMs: Int)],
            resetAfter: Int? = nil
        ) {
            self.status = status
            self.headers = headers
            self.chunks = chunks
            self.resetAfter = resetAfter
        }

        /// A server-sent-events reply, one chunk per event.
        public static func sse(_ events: [String], status: Int = 200, resetAfter: Int? = nil, delayMs: Int = 0) -> Reply
        {
            Reply(
                status: status, headers: [("Content-Type", "text/event-stream")], chunks: events.map { ($0, delayMs) },
                resetAfter: resetAfter)
        }

        public static func body(
            _ text: String, status: Int, contentType: String = "application/json", headers: [(String, String)] = []
        ) -> Reply {
            Reply(status: status, headers: [("Content-Type", contentType)] + headers, chunks: [(text, 0)])
        }
    }

    public struct Captured: Sendable {
        public var method: String
        public var path: String
        public var headers: [String: String]
        public var body: String
    }

    public let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var replies: [Reply]
    private var captured: [Captured] = []
    private var fixedReplies: [String: Reply] = [:]
    private var probed: [Captured] = []

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public init(_ replies: [Reply]) throws {
        self.replies = replies
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw ReplayServerError("cannot listen on 127.0.0.1")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = UInt16(bigEndian: addr.sin_port)
        listener = fd
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Paths a server people run themselves answers besides its model endpoint, asked when a run
    /// starts (llama.cpp's `/props`, Ollama's `/api/show`): answered with the reply set here, else
    /// 404, never from the scripted replies and never among ``requests``.
    public static let probePaths: Set<String> = ["/props", "/api/show"]

    /// Answers `path` (one of ``probePaths``) with `reply` from now on.
    public func answer(_ path: String, with reply: Reply) {
        lock.lock()
        defer { lock.unlock() }
        fixedReplies[path] = reply
    }

    /// The probes received so far (requests to ``probePaths``).
    public var probes: [Captured] {
        lock.lock()
        defer { lock.unlock() }
        return probed
    }

    /// Every request received so far.
    public var requests: [Captured] {
        lock.lock()
        defer { lock.unlock() }
        return captured
    }

    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// The next scripted reply; the last one again when it is the only one left; a 500 that
    /// says so when none was scripted (a server made only for probes, reached by a stray request).
    private func nextReply() -> Reply {
        lock.lock()
        defer { lock.unlock() }
        guard let first = replies.first else {
            return .body(#"{"error":{"message":"no reply scripted for this request"}}"#, status: 500)
        }
        return replies.count > 1 ? replies.removeFirst() : first
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            Thread.detachNewThread { [self] in serve(client) }
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        while headerEnd == nil {
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { return }
            buffer += chunk[0..<n]
            headerEnd = buffer.indices.dropLast(3).first {
                buffer[$0] == 13 && buffer[$0 + 1] == 10 && buffer[$0 + 2] == 13 && buffer[$0 + 3] == 10
            }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self).split(separator: "\r\n").map(String.init)
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces)
            }
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        var body = Array(buffer[(headerEnd! + 4)...])
        while body.count < length {
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { break }
            body += chunk[0..<n]
        }
        let parts = (head.first ?? "").split(separator: " ")
        let request = Captured(
            method: parts.first.map(String.init) ?? "", path: parts.count > 1 ? String(parts[1]) : "",
            headers: headers, body: String(decoding: body, as: UTF8.self))
        let reply: Reply
        lock.lock()
        if Self.probePaths.contains(request.path) {
            probed.append(request)
            reply = fixedReplies[request.path] ?? .body(#"{"error":"not found"}"#, status: 404)
            lock.unlock()
        } else {
            captured.append(request)
            lock.unlock()
            reply = nextReply()
        }
        var out = "HTTP/1.1 \(reply.status) Status\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
        for (k, v) in reply.headers { out += "\(k): \(v)\r\n" }
        out += "\r\n"
        send(fd, out)
        for (i, piece) in reply.chunks.enumerated() {
            if reply.resetAfter == i {
                reset(fd)
                return
            }
            if piece.delayMs > 0 { usleep(UInt32(piece.delayMs) * 1000) }
            let bytes = Array(piece.text.utf8)
            send(fd, String(bytes.count, radix: 16) + "\r\n" + piece.text + "\r\n")
        }
        if reply.resetAfter == reply.chunks.count {
            reset(fd)
            return
        }
        send(fd, "0\r\n\r\n")
    }

    private func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            sent += n
        }
    }

    /// Closes with SO_LINGER 0, so the peer sees a reset rather than an orderly end.
    private func reset(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
    }
}

public struct ReplayServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
