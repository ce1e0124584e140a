import Foundation
public import NightshiftCore

/// One event as one JSON object per line (for machines): `log --json` and the audit export.
public enum JSONLine {
    struct Line: Encodable {
        var run: String
        var seq: Int64
        var time: Int64
        var actor: String
        var kind: String
        var hash: String
        var event: Event
    }

    public static func render(_ e: EventEnvelope) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let line = Line(
            run: e.run.rawValue, seq: e.seq, time: e.time.milliseconds, actor: e.actor.rawValue, kind: e.event.kind,
            hash: e.hash.hex, event: e.event)
        return (try? String(decoding: encoder.encode(line), as: UTF8.self)) ?? "{}"
    }
}
