import Foundation
public import Logging
import NightshiftCore

/// A swift-log handler that writes one line per record: for a person (`text`: time, level, the
/// message, then the metadata as `key=value`) or for a machine (`json`: one object per line with
/// `time`, `level`, `message` and the metadata's keys). The line goes to `write`, which a front
/// end points at its output (the CLI's escapes control characters; JSON escapes its own).
public struct LineLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let format: Format
    let write: @Sendable (String) -> Void
    let clock: any WallClock

    public init(format: Format, level: Logger.Level, write: @escaping @Sendable (String) -> Void) {
        self.format = format
        self.logLevel = level
        self.write = write
        self.clock = Adapters.clock
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let own = event.metadata { all.merge(own) { $1 } }
        let time = Date(timeIntervalSince1970: Double(clock.now().milliseconds) / 1000).formatted(.iso8601)
        switch format {
        case .text:
            let pairs = all.keys.sorted().map { "\($0)=\(all[$0]!)" }.joined(separator: " ")
            write("\(time) \(event.level) \(event.message)" + (pairs.isEmpty ? "" : "  \(pairs)"))
        case .json:
            var object: [String: String] = ["time": time, "level": "\(event.level)", "message": "\(event.message)"]
            for (key, value) in all where object[key] == nil { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            write(String(decoding: data, as: UTF8.self))
        }
    }
}
