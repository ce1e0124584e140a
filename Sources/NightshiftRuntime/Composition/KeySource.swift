import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftModels

/// Where API keys come from: a key file of `NAME=VALUE` lines (which wins), the environment, or
/// the user's own configuration file (`keys:`).
struct KeySource {
    var fromFile: [String: String] = [:]
    let file: String?
    let configured: [String: String]

    init(keyFile: String?, configured: [String: String] = [:]) throws {
        file = keyFile
        self.configured = configured
        guard let keyFile else { return }
        guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
            throw RuntimeError(.notFound, "cannot read the key file \(keyFile)")
        }
        for (n, line) in LineEnds.unix(text).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("#") { continue }
            guard let eq = t.firstIndex(of: "=") else {
                throw RuntimeError(.invalidInput, "\(keyFile):\(n + 1): expected NAME=VALUE")
            }
            fromFile[String(t[..<eq]).replacingOccurrences(of: "export ", with: "")] = String(t[t.index(after: eq)...])
                .trimmingCharacters(in: CharacterSet(charactersIn: "\"' "))
        }
    }

    func key(for spec: ModelSpec) throws -> Secret? {
        guard let variable = spec.keyVariable else { return nil }
        // The first source that has a value; an empty one (`export OPENAI_API_KEY=`) counts as none.
        let sources = [fromFile[variable], ProcessInfo.processInfo.environment[variable], configured[variable]]
        if let v = sources.compactMap({ $0 }).first(where: { !$0.isEmpty }) {
            return Secret(v)
        }
        if spec.keyRequired {
            throw RuntimeError(
                .unavailable, "\(variable) is not set: export it, or pass --key-file FILE with a line \(variable)=…")
        }
        return nil
    }

    func hint(for spec: ModelSpec) -> String {
        (spec.keyVariable ?? "the API key") + (file.map { " (in \($0) or the environment)" } ?? "")
    }
}
