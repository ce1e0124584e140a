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

    /// Line breaks and tabs as visible escapes.
    static func oneLine(_ text: String) -> String {
        guard text.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\t" || $0 == "\r\n" }) else { return text }
        var out = ""
        for c in text {
            switch c {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\r\n": out += "\\r\\n"
            case "\t": out += "\\t"
            default: out.append(c)
            }
        }
        return out
    }

    /// A metadata value on one line, quoted when a space, `=` or `"` would make it ambiguous.
    static func value(_ text: String) -> String {
        let line = oneLine(text)
        guard line.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" }) || line.isEmpty else { return line }
        return "\"" + line.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            + "\""
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
            // One record, one line: a newline in a message (a model's error, git's output) is
            // written as `\n`, so it can never start a line that looks like another record.
            let pairs = all.keys.sorted().map { "\(Self.oneLine($0))=\(Self.value("\(all[$0]!)"))" }
            write(
                "\(time) \(event.level) \(Self.oneLine("\(event.message)"))"
                    + (pairs.isEmpty ? "" : "  " + pairs.joined(separator: " ")))
        case .json:
            var object: [String: String] = ["time": time, "level": "\(event.level)", "message": "\(event.message)"]
            // A metadata key that names a field of the line keeps its value under `metadata.KEY`.
            for (key, value) in all { object[object[key] == nil ? key : "metadata.\(key)"] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            write(String(decoding: data, as: UTF8.self))
        }
    }
}
