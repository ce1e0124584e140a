import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A new folder under the temporary directory, readable by every user (tests run parts of
/// Nightshift as another user).
public func tempDir(_ name: String = "ns") -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    chmod(path, 0o755)
    return path
}

/// What a test expected and did not find, as an error a test throws.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Runs the machine's git in `dir` with a fixed identity and `main` as the first branch; its
/// output and errors together. Output goes to a file, never a pipe (a process another test starts
/// meanwhile could inherit the pipe and keep this read waiting).
@discardableResult
public func git(_ args: [String], in dir: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
    p.arguments = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"] + args
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    let scratch = tempDir("ns-git"), file = scratch + "/out"
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    FileManager.default.createFile(atPath: file, contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
    defer { try? out.close() }
    p.standardOutput = out
    p.standardError = out
    try p.run()
    p.waitUntilExit()
    return (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
}

/// Makes `dir` a git repository with one commit.
public func makeRepository(_ dir: String) throws {
    try git(["init", "-q"], in: dir)
    try "# project\n".write(toFile: dir + "/README.md", atomically: true, encoding: .utf8)
    try git(["add", "-A"], in: dir)
    try git(["commit", "-q", "-m", "initial"], in: dir)
}
