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

    public init(parsing text: String) {
        let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        isObject = object != nil
        // Native copies: matching a bridged string against many rules would convert it each time.
        path = (object?["path"] as? String).map { String(decoding: Array($0.utf8), as: UTF8.self) }
        command = (object?["command"] as? String).map { String(decoding: Array($0.utf8), as: UTF8.self) }
        timeoutSeconds = (object?["timeout_seconds"] as? NSNumber).flatMap { Int(exactly: $0.doubleValue) }
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
