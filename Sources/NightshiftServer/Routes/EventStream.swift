import HTTPTypes
import Hummingbird
import NightshiftCore
import NightshiftRuntime
import ServiceLifecycle

/// A run's events as server-sent events: `id:` is the event's seq, so a client that reconnects
/// with `Last-Event-ID` misses nothing and gets nothing twice. The stream stays open across
/// pauses and ends when the run ends, or when the server shuts down (after a `retry:` hint, so
/// clients come back to the restarted server).
enum EventStream {
    static let retryMilliseconds = 3000

    /// - Parameter named: each frame names its event's kind (`event:`); the dashboard's script takes
    ///   every frame as a plain message instead.
    static func response(_ events: RunEvents, named: Bool = true) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-store"
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: \(retryMilliseconds)\n\n"))
            do {
                for try await e in events.cancelOnGracefulShutdown() {
                    try await writer.write(ByteBuffer(string: frame(e, named: named)))
                }
            } catch is CancellationError {
                // The server stops: the client reconnects after `retry`.
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// One event: its seq, its kind, and its `log --json` line as data (one line: JSON escapes
    /// every newline an agent's text holds, so no text can end the frame early).
    static func frame(_ e: EventEnvelope, named: Bool = true) -> String {
        "id: \(e.seq)\n" + (named ? "event: \(e.event.kind)\n" : "") + "data: \(JSONLine.render(e))\n\n"
    }
}
