import Foundation
import Yams

/// A problem in an input file, with the line and column it was found at.
public struct FileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var message: String
    public init(file: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.file = file; self.line = line; self.column = column; self.message = message
    }
    public var description: String {
        var where_ = file
        if let line { where_ += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        return "\(where_): \(message)"
    }
}

/// Reads YAML (or JSON, which is YAML) into nodes that remember their line, so every error
/// can say where it is.
struct YAMLReader {
    let file: String

    /// Reads a whole text file, or says plainly why it cannot.
    static func readText(_ path: String, what: String) throws(FileError) -> String {
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            let why = FileManager.default.fileExists(atPath: path) ? "not readable UTF-8 text" : "no such file"
            throw FileError(file: path, message: "cannot read the \(what) file: \(why)")
        }
    }

    func load(_ text: String) throws(FileError) -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else { throw FileError(file: file, line: 1, message: "the file is empty") }
            return node
        } catch let e as FileError {
            throw e
        } catch let e as YamlError {
            switch e {
            case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _):
                throw FileError(file: file, line: mark.line, column: mark.column,
                                message: "not valid YAML or JSON: \(problem)" + (context.map { " (\($0.text))" } ?? ""))
            default:
                throw FileError(file: file, message: "not valid YAML or JSON: \(e)")
            }
        } catch {
            throw FileError(file: file, message: "not valid YAML or JSON: \(error)")
        }
    }

    func fail(_ node: Node, _ message: String) -> FileError {
        FileError(file: file, line: node.mark?.line, column: node.mark?.column, message: message)
    }

    func mapping(_ node: Node, _ what: String) throws(FileError) -> [(key: String, keyNode: Node, value: Node)] {
        guard case let .mapping(m) = node else { throw fail(node, "\(what) must be a mapping (key: value)") }
        return m.map { (key: $0.key.string ?? "", keyNode: $0.key, value: $0.value) }
    }

    func sequence(_ node: Node, _ what: String) throws(FileError) -> [Node] {
        guard case let .sequence(s) = node else { throw fail(node, "\(what) must be a list") }
        return Array(s)
    }

    func string(_ node: Node, _ what: String) throws(FileError) -> String {
        guard case let .scalar(s) = node else { throw fail(node, "\(what) must be text") }
        return s.string
    }

    func int(_ node: Node, _ what: String) throws(FileError) -> Int {
        guard case let .scalar(s) = node, let v = Int(s.string) else { throw fail(node, "\(what) must be a whole number") }
        return v
    }

    /// Rejects keys other than `allowed`, naming the unknown key and its line (catches typos).
    func checkKeys(_ entries: [(key: String, keyNode: Node, value: Node)], allowed: [String], in what: String) throws(FileError) {
        for e in entries where !allowed.contains(e.key) {
            throw fail(e.keyNode, "unknown key '\(e.key)' in \(what); expected one of: \(allowed.joined(separator: ", "))")
        }
    }

    /// Converts a node into a JSON-compatible value (for tool arguments).
    func jsonValue(_ node: Node) throws(FileError) -> Any {
        switch node {
        case let .scalar(s):
            if s.style == .plain {
                if let b = Bool.construct(from: s) { return b }
                if let i = Int(s.string) { return i }
                if let d = Double.construct(from: s), s.string.contains(".") { return d }
                if s.string == "null" || s.string == "~" { return NSNull() }
            }
            return s.string
        case let .sequence(seq):
            var out: [Any] = []
            for n in seq { out.append(try jsonValue(n)) }
            return out
        case let .mapping(m):
            var out: [String: Any] = [:]
            for (k, v) in m { out[k.string ?? ""] = try jsonValue(v) }
            return out
        case .alias:
            throw fail(node, "aliases are not supported here")
        }
    }
}
