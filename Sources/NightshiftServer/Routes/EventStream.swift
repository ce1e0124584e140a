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

    /// How often an idle stream asks whether its reader may still read.
    static let recheck: Duration = .seconds(5)

    /// - Parameters:
    ///   - named: each frame names its event's kind (`event:`); the dashboard's script takes every
    ///     frame as a plain message instead.
    ///   - stillValid: whether the token (and session) the stream was opened with may still read:
    ///     asked every few seconds and before a frame after a pause, so revoking a token or
    ///     signing out ends a stream that could otherwise last as long as its run.
    static func response(
        _ events: RunEvents, named: Bool = true, stillValid: @escaping @Sendable () async -> Bool
    ) async throws -> Response {
        try await response(stillValid: stillValid) { yield in
            for try await e in events where !yield(frame(e, named: named)) { return }
        }
    }

    /// A stream of frames `produce` makes (it stops when `yield` returns false: the reader fell
    /// too far behind), with the same retry hint, checks and shutdown as a run's events.
    static func response(
        stillValid: @escaping @Sendable () async -> Bool,
        produce: @escaping @Sendable (_ yield: (String) -> Bool) async throws -> Void
    ) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-store"
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: \(retryMilliseconds)\n\n"))
            // The events and a clock in one sequence: nil is a tick.
            // Bounded: a reader that falls 1,000 frames behind has its stream ended (and comes
            // back with Last-Event-ID), rather than the server holding a run's log for it.
            let (items, input) = AsyncStream<String?>.makeStream(bufferingPolicy: .bufferingOldest(1000))
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        try await produce { text in
                            if case .dropped = input.yield(text) { return false }
                            return true
                        }
                    } catch {}
                    input.finish()
                }
                group.addTask {
                    while (try? await Task.sleep(for: recheck)) != nil { input.yield(nil) }
                }
                var checked = ContinuousClock.now
                do {
                    for await item in items.cancelOnGracefulShutdown() {
                        if item == nil || ContinuousClock.now - checked > .seconds(1) {
                            guard await stillValid() else { break }
                            checked = .now
                        }
                        if let text = item { try await writer.write(ByteBuffer(string: text)) }
                    }
                } catch {
                    // The client went away, or the server stops: the client reconnects after `retry`.
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// One event: its seq, its kind, and its `log --json` line as data (one line: JSON escapes
    /// every newline an agent's text holds, so no text can end the frame early).
    static func frame(_ e: EventEnvelope, named: Bool = true) -> String {
        "id: \(e.seq)\n" + (named ? "event: \(e.event.kind)\n" : "")
            + "data: \(VisibleText.safe(JSONLine.render(e)))\n\n"
    }
}
