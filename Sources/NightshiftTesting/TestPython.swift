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
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return (python, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
