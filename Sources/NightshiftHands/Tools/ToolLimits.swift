import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

/// Bounds on what tools may produce and how long they may run.
public struct ToolLimits: Sendable {
    /// Bytes of tool output handed back. Defaults to 16 KiB.
    public var outputBytes: Int = 16 * 1024
    /// Default and maximum shell timeout. Defaults to 120 s and 1 h.
    public var defaultTimeoutSeconds: Int = 120
    public var maxTimeoutSeconds: Int = 3600
    /// Largest file `read_file` returns. Defaults to 256 KiB.
    public var readBytes: Int = 256 * 1024
    /// Most entries `list_files` returns. Defaults to 2,000.
    public var listEntries: Int = 2000
    public init() {}
}

/// The environment every command gets: an allowlist, so Nightshift's own credentials never reach a tool.
public enum ToolEnvironment {
    public static func make(workspace: String) -> [String: String] {
        [
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workspace, "LANG": "C.UTF-8", "TERM": "dumb",
            "TMPDIR": "/tmp",
        ]
    }
}

/// Why arguments that are not a JSON object were not run: most often an answer cut off at its
/// output limit in the middle of the call, which the model can fix by asking again, shorter.
func notAnObject(_ tool: String, _ json: String) -> String {
    "\(tool): not run: its arguments are not a complete JSON object (got: \(json.prefix(200))); if your answer was cut "
        + "off at its output limit, call it again with shorter arguments (write a large file in parts)"
}

/// Decodes a tool's JSON arguments into its own typed value (one parse; the facts the gateway
/// needs were parsed once with the call), turning decoding failures into one plain sentence.
func decodeArguments<T: Decodable>(_ type: T.Type, _ json: String, tool: String) -> Result<T, ToolArgumentError> {
    let notObject = ToolArgumentError(notAnObject(tool, json))
    // Read as the gateway read it, or not at all: a JSON object, each key once.
    let strict = ToolArguments(parsing: json)
    guard strict.isObject else { return .failure(notObject) }
    if let key = strict.repeatedKey {
        return .failure(ToolArgumentError("\(tool): not run: its arguments name '\(key.prefix(60))' more than once"))
    }
    let data = Data(json.utf8)
    do { return .success(try JSONDecoder().decode(T.self, from: data)) } catch DecodingError.dataCorrupted {
        return .failure(notObject)
    } catch let DecodingError.typeMismatch(_, context) where context.codingPath.isEmpty {
        return .failure(notObject)
    } catch let DecodingError.keyNotFound(key, _) {
        return .failure(ToolArgumentError("\(tool): missing required argument '\(key.stringValue)'"))
    } catch let DecodingError.typeMismatch(expected, context) {
        let name = context.codingPath.map(\.stringValue).joined(separator: ".")
        return .failure(
            ToolArgumentError(
                "\(tool): argument '\(name)' must be \(expected == String.self ? "a string" : "a \(expected)")"))
    } catch let DecodingError.valueNotFound(_, context) {
        let name = context.codingPath.map(\.stringValue).joined(separator: ".")
        return .failure(ToolArgumentError("\(tool): argument '\(name)' must not be null"))
    } catch {
        return .failure(ToolArgumentError("\(tool): invalid arguments"))
    }
}

struct ToolArgumentError: Error {
    var message: String
    init(_ m: String) { message = m }
}
