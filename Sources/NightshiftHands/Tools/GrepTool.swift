import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

/// Searches workspace files for a regular expression; `path:line: text`, capped. Skips `.git`,
/// binary files and files over the read limit.
public struct GrepTool: TypedTool {
    let limits: ToolLimits
    public init(limits: ToolLimits = ToolLimits()) { self.limits = limits }

    public var spec: ToolSpec {
        ToolSpec(
            name: "grep",
            description: "Search workspace files for a regular expression. Returns path:line: text for each match.",
            idempotent: true,
            parametersSchema: """
                {"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string","description":"folder or file, default the workspace"},"ignore_case":{"type":"boolean"}},"required":["pattern"]}
                """)
    }

    public struct Args: Decodable {
        var pattern: String
        var path: String?
        var ignore_case: Bool?
    }

    public func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult {
        let regex: NSRegularExpression
        do {
            regex = try NSRegularExpression(
                pattern: args.pattern, options: args.ignore_case == true ? [.caseInsensitive] : [])
        } catch {
            return .failure("grep: '\(args.pattern)' is not a valid regular expression")
        }
        let base: String
        do { base = try workspace.resolve(args.path ?? ".") } catch { return .failure("grep: \(error.message)") }
        var files: [String] = []
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base, isDirectory: &isDir) else {
            return .failure("grep: \(args.path ?? ".") does not exist")
        }
        if isDir.boolValue {
            func walk(_ dir: String) {
                guard files.count < 20_000, let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
                    return
                }
                for name in names.sorted() where !Workspace.isGitMetadata(name) {
                    let full = dir + "/" + name
                    if workspace.isHidden(full) { continue }
                    var st = stat()
                    guard lstat(full, &st) == 0 else { continue }
                    if (st.st_mode & S_IFMT) == S_IFDIR {
                        walk(full)
                    } else if (st.st_mode & S_IFMT) == S_IFREG {
                        files.append(full)
                    }
                }
            }
            walk(base)
        } else {
            // One file named: say why it cannot be searched rather than "no matches".
            if case let .failure(e) = FileAccess.readRegularFile(base, limit: limits.readBytes) {
                return .failure("grep: \(args.path ?? "."): \(e.message)")
            }
            files = [base]
        }
        var lines: [String] = []
        var bytes = 0
        var truncated = false
        outer: for file in files {
            guard case let .success(data) = FileAccess.readRegularFile(file, limit: limits.readBytes), !data.contains(0)
            else { continue }
            let text = String(decoding: data, as: UTF8.self)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let s = String(line)
                guard regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil else { continue }
                let entry = "\(workspace.relative(file)):\(n + 1): \(s.prefix(300))"
                bytes += entry.utf8.count + 1
                if bytes > limits.outputBytes {
                    truncated = true
                    break outer
                }
                lines.append(entry)
            }
        }
        var out = lines.isEmpty ? "no matches" : lines.joined(separator: "\n")
        if truncated {
            out += "\n[… more matches cut at \(limits.outputBytes) bytes; narrow the pattern or the path …]"
        }
        return ToolResult(ok: true, output: Payload(out))
    }
}
