import Foundation
import NightshiftCore

/// The agent's behavioural guidance: a markdown file, recorded whole with its SHA-256 (the
/// version) so the log shows exactly what the agent was told.
enum GuidanceFile {
    /// The most guidance kept in a context (64 KiB); longer files are refused, not silently cut.
    static let limit = 64 * 1024

    static func event(path: String) throws -> Event {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RuntimeError(.invalidInput, "cannot read the guidance file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RuntimeError(.invalidInput, "the guidance file \(path) is not UTF-8 text")
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RuntimeError(.invalidInput, "the guidance file \(path) is empty")
        }
        guard data.count <= limit else {
            throw RuntimeError(
                .invalidInput, "the guidance file \(path) is \(data.count) bytes; at most \(limit) are allowed")
        }
        return .guidanceSet(source: path, hash: PolicyWatcher.sha256(text), text: Payload(text))
    }
}
