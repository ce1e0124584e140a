import Foundation
public import NightshiftCore
import NightshiftModels
import Yams

/// Reads agent profiles: one YAML file per specialist in a folder (`agents/NAME.yaml`):
///
/// ```yaml
/// description: Reviews a diff for security problems and says what to fix   # required
/// model: anthropic:claude-sonnet-4-5
/// guidance: reviewer.md              # relative to this file
/// policy: readonly.yaml
/// tools: [read_file, grep, list_files, "mcp__github__*"]   # globs; absent: every tool
/// budget: {cost_usd: 2.00, steps: 100}                    # as in a policy
/// max_concurrent: 4          # open sub-agents of it under one coordinator
/// ```
///
/// The name is the file's (`reviewer.yaml` is `reviewer`): letters, digits, `-` and `_`.
public enum AgentProfileFile {
    public static func load(path: String) throws(FileError) -> AgentProfile {
        let text = try YAMLReader.readText(path, what: "agent profile")
        var profile = try parse(text, path: path)
        var named: [(key: String, text: String)] = []
        for (key, file, line) in profile.namedFiles {
            guard let content = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw FileError(file: path, line: line, message: "cannot read the \(key) file \(file)")
            }
            named.append((key, content))
        }
        profile.version = version(text, named: named)
        return profile
    }

    /// The profile in `text` (read from `path`), with the files it names resolved from its folder
    /// but not read: its ``AgentProfile/version`` is left empty for the caller, who reads them
    /// (see ``version(_:named:)``).
    public static func parse(_ text: String, path: String) throws(FileError) -> AgentProfile {
        let url = URL(fileURLWithPath: path)
        let name = url.deletingPathExtension().lastPathComponent
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw FileError(file: path, message: "a profile's name (its file name) is letters, digits, '-' and '_'")
        }
        let r = YAMLReader(file: path)
        let top = try r.mapping(try r.load(text), "the profile")
        try r.checkKeys(
            top, allowed: ["description", "model", "guidance", "policy", "tools", "budget", "max_concurrent"],
            in: "the profile")
        func field(_ k: String) -> Node? { top.first { $0.key == k }?.value }
        guard let d = field("description") else {
            throw FileError(file: path, line: 1, message: "a profile needs a description: what the agent is for")
        }
        let description = try r.string(d, "description")
        guard description.contains(where: { !$0.isWhitespace }) else { throw r.fail(d, "the description is empty") }
        let base = url.deletingLastPathComponent().path
        var profile = AgentProfile(name: name, description: description, file: path, version: "")
        if let m = field("model") {
            let spec = try r.string(m, "model")
            do { _ = try ModelSpec.parse(spec) } catch { throw r.fail(m, "model: \(error.message)") }
            // A scripted model's scenario is a file: from the profile's folder, like its other files.
            profile.model =
                spec.hasPrefix("scripted:")
                ? "scripted:" + ConfigFile.resolve(String(spec.dropFirst(9)), base: base) : spec
        }
        for (key, keyPath) in [("guidance", \AgentProfile.guidance), ("policy", \AgentProfile.policy)] {
            guard let node = field(key) else { continue }
            let file = try r.string(node, key)
            guard !file.isEmpty else { throw r.fail(node, "the \(key) file is empty") }
            profile[keyPath: keyPath] = ConfigFile.resolve(file, base: base)
            profile.lines[key] = node.mark?.line
        }
        if let t = field("tools") {
            var globs: [String] = []
            for item in try r.sequence(t, "tools") {
                let g = try r.string(item, "a tool glob")
                guard !g.isEmpty else { throw r.fail(item, "a tool glob is empty") }
                globs.append(g)
            }
            profile.tools = globs
        }
        if let b = field("budget") { profile.budget = try PolicyFile.budget(b, "the budget", r) }
        if let c = field("max_concurrent") {
            let n = try r.int(c, "max_concurrent")
            guard n >= 1 else { throw r.fail(c, "max_concurrent must be at least 1") }
            profile.maxConcurrent = n
        }
        return profile
    }

    /// A profile's version: SHA-256 over its file's text and the texts of the files it names
    /// (guidance, then policy), so an edit to any of them is a new version.
    public static func version(_ text: String, named: [(key: String, text: String)]) -> String {
        var all = text
        for (key, content) in named { all += "\u{0}" + key + "\u{0}" + content }
        return Payload.blobKey(Data(all.utf8))
    }

    /// The profile files in `folder` (`*.yaml`, `*.yml`), sorted; none for a folder that does not exist.
    public static func files(in folder: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.sorted().filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.map {
            URL(fileURLWithPath: folder).appendingPathComponent($0).path
        }
    }

    /// Every profile in `folder` (`*.yaml`, `*.yml`), by name. A folder that does not exist has none.
    public static func registry(_ folder: String) throws(FileError) -> [AgentProfile] {
        var profiles: [AgentProfile] = []
        for file in files(in: folder) {
            let profile = try load(path: file)
            if let other = profiles.first(where: { $0.name == profile.name }) {
                throw FileError(
                    file: profile.file, message: "the profile \(profile.name) is also defined in \(other.file)")
            }
            profiles.append(profile)
        }
        return profiles
    }
}
