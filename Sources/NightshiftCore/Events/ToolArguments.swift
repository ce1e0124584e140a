import Foundation
import Synchronization

/// What the gateway and the tool box read from a call's arguments (the JSON text the model
/// produced, which is what the log records and the hash covers): parsed once per call and carried
/// with it (``ToolCall/parsed``), so the policy, the sealing check and the deadline share one
/// parse. Each tool then decodes its own typed arguments from the text.
public struct ToolArguments: Sendable, Equatable {
    /// The text is a JSON object (anything else is refused by every tool).
    public let isObject: Bool
    /// The `path` argument: the file a file tool reads or writes.
    public let path: String?
    /// The `command` argument: what a shell tool runs.
    public let command: String?
    /// The `timeout_seconds` argument a shell call asks for.
    public let timeoutSeconds: Int?
    /// A key the object names more than once. Parsers disagree on which one counts (this parse
    /// keeps the last, a tool's decoder the first), so the policy could judge one command while
    /// the tool runs another: such a call is never run.
    public let repeatedKey: String?

    public init(parsing text: String) {
        let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        isObject = object != nil
        repeatedKey = object == nil ? nil : Self.repeatedKey(in: text)
        // Native copies: matching a bridged string against many rules would convert it each time.
        path = (object?["path"] as? String).map { String(decoding: Array($0.utf8), as: UTF8.self) }
        command = (object?["command"] as? String).map { String(decoding: Array($0.utf8), as: UTF8.self) }
        timeoutSeconds = (object?["timeout_seconds"] as? NSNumber).flatMap { Int(exactly: $0.doubleValue) }
    }
}

extension ToolArguments {
    /// The first key the top-level object of `text` (already checked to be a JSON object) names
    /// twice, compared as decoded (`"comm\u0061nd"` is `command`).
    static func repeatedKey(in text: String) -> String? {
        // Over the UTF-8 bytes: the structure is ASCII, and no byte of a multi-byte character is
        // (walking characters would merge a quote with a combining mark that follows it).
        let bytes = Array(text.utf8)
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var seen = Set<String>()
        var depth = 0
        var inString = false
        var escaped = false
        var start = 0
        var lastString: Range<Int>?
        for (i, b) in bytes.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if b == backslash {
                    escaped = true
                } else if b == quote {
                    inString = false
                    if depth == 1 { lastString = start..<(i + 1) }
                }
                continue
            }
            switch b {
            case quote:
                inString = true
                start = i
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: ":"):
                if depth == 1, let range = lastString,
                    let key =
                        (try? JSONSerialization.jsonObject(
                            with: Data(bytes[range]), options: .fragmentsAllowed)) as? String,
                    !seen.insert(key).inserted
                {
                    return key
                }
                lastString = nil
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): break
            default: lastString = nil
            }
        }
        return nil
    }
}

/// The parse of one call's arguments, made on first use and shared by every copy of the call.
final class ParsedArgumentsSlot: Sendable {
    private let slot = Mutex<(text: String, parsed: ToolArguments)?>(nil)

    func value(for text: String) -> ToolArguments {
        if let cached = slot.withLock({ $0 }), cached.text == text { return cached.parsed }
        let parsed = ToolArguments(parsing: text)
        slot.withLock { $0 = (text, parsed) }
        return parsed
    }
}
