import Foundation

/// A goal given as a file (markdown or text): its text, which must not be empty or huge.
public enum GoalFile {
    /// The largest goal accepted: a goal is a brief, not a corpus.
    public static let limit = 256 * 1024

    public static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RuntimeError(.notFound, "cannot read the goal file \(path): check the path")
        }
        guard data.count <= limit else {
            throw RuntimeError(.invalidInput, "the goal file \(path) is \(data.count) bytes; a goal is at most 256 KiB")
        }
        let text = String(decoding: data, as: UTF8.self)
        guard text.contains(where: { !$0.isWhitespace }) else {
            throw RuntimeError(.invalidInput, "the goal file \(path) is empty")
        }
        return text
    }
}
