import Foundation

/// The Python of the test venv (.ci/run makes `.venv` with fakellm and the MCP SDK), for tests
/// that start Python servers: its interpreter and the prefix the venv links to (the sandbox must
/// bind both), or nil when the venv or the module is missing.
public enum TestPython {
    public static func venv(packageRoot: String, importing module: String) -> (executable: String, basePrefix: String)?
    {
        let python = packageRoot + "/.venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import sys, \(module); print(sys.base_prefix)"]
        // To a file, not a pipe: a process a test starts meanwhile could hold a pipe open, and this
        // read would wait for it.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ns-python-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        FileManager.default.createFile(atPath: file, contents: nil)
        guard let out = try? FileHandle(forWritingTo: URL(fileURLWithPath: file)) else { return nil }
        defer { try? out.close() }
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        p.waitUntilExit()
        guard p.terminationStatus == 0, let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            return nil
        }
        return (python, text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
