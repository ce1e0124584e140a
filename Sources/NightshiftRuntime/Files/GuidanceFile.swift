import Foundation
import NightshiftCore

/// The agent's behavioural guidance: a markdown file, recorded whole with its SHA-256 (the
/// version) so the log shows exactly what the agent was told.
enum GuidanceFile {
    /// The most guidance kept in a context (64 KiB); longer files are refused, not silently cut.
    static let limit = 64 * 1024

    /// Reads the file at `path` (a person's own: resume re-reads only files outside the workspace).
    static func event(path: String) throws -> Event {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RuntimeError(.invalidInput, "cannot read the guidance file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RuntimeError(.invalidInput, "the guidance file \(path) is not UTF-8 text")
        }
        return try event(PinnedFile(source: path, sha256: PolicyWatcher.sha256(text), text: text))
    }

    /// The guidance as read (and checked) by whoever read it.
    static func event(_ file: PinnedFile) throws -> Event {
        try check(file)
        return .guidanceSet(source: file.source, hash: file.sha256, text: Payload(file.text))
    }

    /// Refuses an empty or oversized guidance text.
    static func check(_ file: PinnedFile) throws {
        guard !file.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RuntimeError(.invalidInput, "the guidance file \(file.source) is empty")
        }
        guard file.text.utf8.count <= limit else {
            throw RuntimeError(
                .invalidInput,
                "the guidance file \(file.source) is \(file.text.utf8.count) bytes; at most \(limit) are allowed")
        }
    }
}

extension GuidanceFile {
    /// The guidance file at `path` as a new version, when it changed from `recordedHash` and a
    /// person trusted the new content; nil otherwise (an untrusted change is said, never applied).
    static func changed(
        _ path: String, recordedHash: String?, trust: any TrustStore, notice: @Sendable (String) -> Void
    ) throws -> Event? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text = try ConfigTrust.readText(path, what: "the guidance")
        let file = PinnedFile(source: path, sha256: PolicyWatcher.sha256(text), text: text)
        guard file.sha256 != recordedHash else { return nil }
        guard try trust.isTrusted(ConfigTrust.key(path), sha256: file.sha256) else {
            notice(
                "the guidance file \(path) changed; the guidance in force stays until a person trusts the new version: "
                    + "nightshift trust \(path) shows the change and applies it")
            return nil
        }
        return try event(file)
    }
}
