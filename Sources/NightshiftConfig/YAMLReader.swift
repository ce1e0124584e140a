import Foundation
import Yams

/// A problem in an input file, with the line and column it was found at. Always one line: the
/// message is cut and its control characters escaped, since it may quote the file's own text.
public struct FileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var message: String
    public init(file: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }
    public var description: String {
        var where_ = FileError.oneLine(file, limit: 300)
        if let line { where_ += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        return "\(where_): \(FileError.oneLine(message))"
    }

    /// Line breaks become spaces, other control characters `\uXXXX`, and anything past 400
    /// characters is cut with a marker.
    static func oneLine(_ text: String, limit: Int = 400) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit { return out + "…" }
            switch scalar.value {
            case 0x0A, 0x0D, 0x09: out.append(" ")
            case 0x00...0x1F, 0x7F...0x9F: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}

/// Reads YAML (or JSON, which is YAML) into nodes that remember their line, so every error
/// can say where it is.
struct YAMLReader {
    let file: String

    /// Values a file may expand to, aliases included. A few hundred bytes of nested aliases
    /// ("billion laughs") would otherwise expand to gigabytes when the file is read.
    static let maxExpandedNodes = 250_000

    /// Reads a whole text file, or says plainly why it cannot.
    static func readText(_ path: String, what: String) throws(FileError) -> String {
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            let why = FileManager.default.fileExists(atPath: path) ? "not readable UTF-8 text" : "no such file"
            throw FileError(file: path, message: "cannot read the \(what) file: \(why)")
        }
    }

    func load(_ raw: String) throws(FileError) -> Node {
        let text = LineEnds.unix(raw)
        try refuseAliasKeys(text)
        let node: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                throw FileError(file: file, line: 1, message: "the file is empty")
            }
            node = composed
        } catch let e as FileError {
            throw e
        } catch let e as YamlError {
            throw describe(e)
        } catch {
            throw FileError(file: file, message: "not valid YAML or JSON")
        }
        var budget = Self.maxExpandedNodes
        guard Self.fits(node, budget: &budget) else {
            throw FileError(
                file: file,
                message: """
                    the file holds more than \(Self.maxExpandedNodes) values (counting what its aliases expand to); split it, or write fewer nested aliases
                    """)
        }
        return node
    }

    /// Whether `node`, aliases expanded, has at most `budget` values. Stops as soon as it has not.
    static func fits(_ node: Node, budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch node {
        case .scalar, .alias: return true
        case let .sequence(items):
            for item in items where !fits(item, budget: &budget) { return false }
            return true
        case let .mapping(pairs):
            for (k, v) in pairs where !fits(k, budget: &budget) || !fits(v, budget: &budget) { return false }
            return true
        }
    }

    /// An alias used as a mapping key (`*name: …`, `? *name`) makes the parser compare whole
    /// expanded structures for every key (ten times slower per level of nesting). No Nightshift
    /// file needs one, so they are refused before parsing. Quoted text and comments are skipped.
    func refuseAliasKeys(_ text: String) throws(FileError) {
        // Bytes, not Characters: the file may hold anything, and this runs before any parsing.
        let separators: Set<UInt8> = Set(" \t{},[]".utf8)
        let star = UInt8(ascii: "*"), colon = UInt8(ascii: ":"), question = UInt8(ascii: "?")
        var lineNumber = 1
        var tokens: [[UInt8]] = []
        var token: [UInt8] = []
        var quote: UInt8?
        var comment = false
        func endToken() {
            if !token.isEmpty {
                tokens.append(token)
                token = []
            }
        }
        func check() throws(FileError) {
            endToken()
            for (i, t) in tokens.enumerated() where t.first == star && t.count > 1 {
                let named = t.last == colon ? t.count > 2 : true
                let isKey =
                    t.last == colon || (i + 1 < tokens.count && tokens[i + 1] == [colon])
                    || (i > 0 && tokens[i - 1] == [question])
                if isKey, named {
                    let shown = FileError.oneLine(String(decoding: t.prefix(40), as: UTF8.self))
                    throw FileError(
                        file: file, line: lineNumber,
                        message: "an alias (\(shown)) is used as a mapping key; write the key out")
                }
            }
            tokens = []
        }
        for byte in text.utf8 {
            if byte == 0x0A {
                try check()
                lineNumber += 1
                quote = nil
                comment = false
                continue
            }
            if comment { continue }
            if let q = quote {
                if byte == q { quote = nil }
                continue
            }
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                quote = byte
                continue
            }
            if byte == UInt8(ascii: "#") {
                comment = true
                continue
            }
            if separators.contains(byte) { endToken() } else { token.append(byte) }
        }
        try check()
    }

    /// A parser error in one line: where, what, and no echo of the file's text.
    func describe(_ e: YamlError) -> FileError {
        func clean(_ problem: String) -> String {
            if problem.contains("max_nest_level") || problem.contains("nest") && problem.contains("depth") {
                return "nested too deeply"
            }
            return problem
        }
        switch e {
        case let .reader(problem, offset, value, yaml):
            var line: Int?
            if let offset {
                line = yaml.utf8.prefix(max(offset, 0)).reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
            }
            let what = value >= 0 ? String(format: " (character U+%04X)", value) : ""
            return FileError(
                file: file, line: line, message: "not readable as YAML: \(clean(problem))\(what); remove or escape it")
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            let around = context.map { " (\($0.text))" } ?? ""
            return FileError(
                file: file, line: mark.line, column: mark.column,
                message: "not valid YAML or JSON: \(clean(problem))\(around)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.sorted().prefix(3).map { "'\(FileError.oneLine($0, limit: 60))'" }.joined(
                separator: ", ")
            return FileError(
                file: file, line: context.mark.line, column: context.mark.column,
                message: "the key \(keys) appears more than once in one mapping; keep one")
        case .dataCouldNotBeDecoded:
            return FileError(file: file, message: "not UTF-8 text")
        default:
            return FileError(file: file, message: "not valid YAML or JSON")
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
        guard case let .scalar(s) = node, let v = Int(s.string) else {
            throw fail(node, "\(what) must be a whole number")
        }
        return v
    }

    /// Rejects keys other than `allowed`, naming the unknown key and its line (catches typos).
    func checkKeys(
        _ entries: [(key: String, keyNode: Node, value: Node)], allowed: [String], in what: String
    ) throws(FileError) {
        for e in entries where !allowed.contains(e.key) {
            throw fail(
                e.keyNode, "unknown key '\(e.key)' in \(what); expected one of: \(allowed.joined(separator: ", "))")
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
