import Foundation
import NightshiftCore
import NightshiftHands
import Testing

func makeWorkspace() throws -> (root: String, outside: String) {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("ns-hands-\(UUID().uuidString)").path
    let root = base + "/ws", outside = base + "/outside"
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
    try "secret".write(toFile: outside + "/secret.txt", atomically: true, encoding: .utf8)
    return (Workspace.realRoot(root), Workspace.realRoot(outside))
}

extension Workspace {
    static func realRoot(_ p: String) -> String { (try? Workspace(p).root) ?? p }
}

func call(_ name: String, _ args: String) -> ToolCall {
    ToolCall(id: CallID("m1.1"), name: name, arguments: Payload(args))
}

@Suite struct WorkspaceConfinementTests {
    let tools = ToolBox.standard(isolation: .none(reason: "confinement tests need no sandbox"))

    /// Each refusal says which defence held, as a code a caller can branch on.
    @Test func refusalsCarryTheCodeOfTheDefenceThatHeld() throws {
        let (root, outside) = try makeWorkspace()
        try FileManager.default.createSymbolicLink(atPath: root + "/out", withDestinationPath: outside)
        try FileManager.default.createDirectory(atPath: root + "/.git", withIntermediateDirectories: true)
        let ws = try Workspace(root)
        let cases: [(String, WorkspaceError.Code)] = [
            ("", .invalidPath), ("a\u{0}b", .invalidPath), ("../x", .outside), ("/etc/passwd", .outside),
            ("out/secret.txt", .link), (".git/config", .protected), (".GIT/config", .protected),
        ]
        for (path, code) in cases {
            let error = #expect(throws: WorkspaceError.self) { try ws.resolve(path) }
            #expect(error?.code == code, "\(path): \(error?.message ?? "")")
        }
        let missing = #expect(throws: WorkspaceError.self) { try Workspace(root + "/nope") }
        #expect(missing?.code == .missing)
    }

    @Test(arguments: [
        "../outside/secret.txt", "a/../../outside/secret.txt", "/etc/passwd", "/etc/shadow", "/proc/1/environ",
    ])
    func readingOutsideTheWorkspaceIsRefused(path: String) async throws {
        let (root, _) = try makeWorkspace()
        let r = await tools.run(call("read_file", #"{"path":"\#(path)"}"#), workspace: root)
        #expect(!r.ok)
        #expect(r.output.text.contains("refused") || r.output.text.contains("outside"))
        #expect(!r.output.text.contains("root:"))
    }

    @Test(arguments: ["../outside/new.txt", "/tmp/ns-escape.txt", "x/../../outside/new.txt"])
    func writingOutsideTheWorkspaceIsRefused(path: String) async throws {
        let (root, outside) = try makeWorkspace()
        let r = await tools.run(call("write_file", #"{"path":"\#(path)","content":"pwned"}"#), workspace: root)
        #expect(!r.ok)
        #expect(!FileManager.default.fileExists(atPath: outside + "/new.txt"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/ns-escape.txt"))
    }

    @Test func symlinkLeafAncestorAndDanglingAreRefused() async throws {
        let (root, outside) = try makeWorkspace()
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: root + "/leaf", withDestinationPath: outside + "/secret.txt")
        try fm.createSymbolicLink(atPath: root + "/dir", withDestinationPath: outside)
        try fm.createSymbolicLink(atPath: root + "/dangling", withDestinationPath: outside + "/does-not-exist")
        for (tool, args) in [
            ("read_file", #"{"path":"leaf"}"#), ("read_file", #"{"path":"dir/secret.txt"}"#),
            ("write_file", #"{"path":"leaf","content":"x"}"#), ("write_file", #"{"path":"dir/new.txt","content":"x"}"#),
            ("write_file", #"{"path":"dangling","content":"x"}"#), ("list_files", #"{"path":"dir"}"#),
        ] {
            let r = await tools.run(call(tool, args), workspace: root)
            #expect(!r.ok, "\(tool) \(args) was allowed: \(r.output.text)")
        }
        #expect(try String(contentsOfFile: outside + "/secret.txt", encoding: .utf8) == "secret")
        #expect(!fm.fileExists(atPath: outside + "/new.txt"))
        #expect(!fm.fileExists(atPath: outside + "/does-not-exist"))
    }

    /// A link inside the workspace is named with its target, not followed: the policy judges the
    /// path a call names, so the file a tool opens must be that path (see PathSpellingTests).
    @Test func symlinkInsideTheWorkspaceIsNamedNotFollowed() async throws {
        let (root, _) = try makeWorkspace()
        try "hello".write(toFile: root + "/real.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/alias.txt", withDestinationPath: root + "/real.txt")
        let r = await tools.run(call("read_file", #"{"path":"alias.txt"}"#), workspace: root)
        #expect(!r.ok)
        #expect(r.output.text.contains("alias.txt is a symbolic link to real.txt"), "\(r.output.text)")
        let direct = await tools.run(call("read_file", #"{"path":"real.txt"}"#), workspace: root)
        #expect(direct.output.text == "hello")
    }

    @Test func hardLinkIsNotWrittenThroughAndNotRead() async throws {
        let (root, outside) = try makeWorkspace()
        try FileManager.default.linkItem(atPath: outside + "/secret.txt", toPath: root + "/hard.txt")
        let read = await tools.run(call("read_file", #"{"path":"hard.txt"}"#), workspace: root)
        #expect(!read.ok)
        let write = await tools.run(
            call("write_file", #"{"path":"hard.txt","content":"overwritten"}"#), workspace: root)
        #expect(write.ok)  // replaces the workspace entry...
        // ...never the linked file
        #expect(try String(contentsOfFile: outside + "/secret.txt", encoding: .utf8) == "secret")
    }

    @Test func readWriteListRoundTripWithLineRanges() async throws {
        let (root, _) = try makeWorkspace()
        let w = await tools.run(
            call("write_file", #"{"path":"src/a.txt","content":"one\ntwo\nthree\n"}"#), workspace: root)
        #expect(w.ok)
        let r = await tools.run(
            call("read_file", #"{"path":"src/a.txt","start_line":2,"end_line":3}"#), workspace: root)
        #expect(r.output.text == "two\nthree")
        let l = await tools.run(call("list_files", "{}"), workspace: root)
        #expect(l.output.text == "src/\nsrc/a.txt")
    }

    @Test(arguments: [
        ("read_file", "{}", "missing required argument 'path'"),
        ("read_file", #"{"path":42}"#, "argument 'path' must be a string"),
        ("write_file", "not json", "arguments are not a complete JSON object"),
        ("shell", "[1,2]", "arguments are not a complete JSON object"),
        ("write_file", #"{"path":"a"}"#, "missing required argument 'content'"),
    ])
    func badArgumentsGetAPlainError(tool: String, args: String, message: String) async throws {
        let (root, _) = try makeWorkspace()
        let r = await tools.run(call(tool, args), workspace: root)
        #expect(!r.ok)
        #expect(r.output.text.contains(message), "got: \(r.output.text)")
    }

    @Test func binaryFileIsSummarisedNotPasted() async throws {
        let (root, _) = try makeWorkspace()
        try Data([0, 1, 2, 3, 0, 255]).write(to: URL(fileURLWithPath: root + "/bin.dat"))
        let r = await tools.run(call("read_file", #"{"path":"bin.dat"}"#), workspace: root)
        #expect(r.output.text == "[binary file: 6 bytes; not shown]")
    }
}

/// Serialized: these tests start commands that leave children behind on purpose, and check
/// that none outlives its call; run side by side on a loaded machine they were seen to flake.
@Suite(.serialized) struct ShellToolTests {
    let tools = ToolBox.standard(
        isolation: .none(reason: "process-runner tests"),
        limits: {
            var l = ToolLimits()
            l.outputBytes = 4096
            return l
        }())

    @Test func runsInTheWorkspaceAndReportsExitStatus() async throws {
        let (root, _) = try makeWorkspace()
        let r = await tools.run(call("shell", #"{"command":"pwd; exit 3"}"#), workspace: root)
        #expect(!r.ok)
        #expect(r.exitCode == 3)
        #expect(r.output.text.contains(root))
    }

    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        let (root, _) = try makeWorkspace()
        let start = ContinuousClock.now
        // A child that would outlive its parent shell, writing a marker after 3 s.
        let r = await tools.run(
            call(
                "shell",
                #"{"command":"sh -c 'echo $$ > child.pid; sleep 3; touch late' & sleep 600","timeout_seconds":1}"#
            ), workspace: root)
        #expect(ContinuousClock.now - start < .seconds(120))  // the command alone would take 600 s
        #expect(r.output.text.contains("timed out"))
        // A gate, not a sleep: the child that would have written later is gone (or never started).
        #expect(await childIsGone(pidFile: root + "/child.pid"))
        #expect(!FileManager.default.fileExists(atPath: root + "/late"))
    }

    /// Whether the process whose pid the file holds has ended (waited for up to 30 s): gone, or a
    /// zombie, it can write nothing more. True too when the file was never written (the process
    /// was stopped before its first command).
    func childIsGone(pidFile: String) async -> Bool {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return true }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
            let state = stat.flatMap { $0.lastIndex(of: ")") }.map { stat![stat!.index($0, offsetBy: 2)] }
            if stat == nil || state == "Z" || state == "X" { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// A descriptor this process holds without close-on-exec (as a library or a racing spawn can
    /// leave one) never reaches a command: not the database, not a key file, not a pipe some
    /// reader waits to see closed.
    @Test func aCommandInheritsNoDescriptorBeyondTheStandardThree() async throws {
        let (root, _) = try makeWorkspace()
        let leaky = open(root + "/held.txt", O_WRONLY | O_CREAT, 0o600)  // no O_CLOEXEC
        #expect(leaky > 2)
        defer { close(leaky) }
        let probe =
            "for fd in \(leaky) 3 4 5 6 7 8; do test -e /proc/$$/fd/$fd && echo \"open $fd\"; done; echo checked"
        let outcome = await ProcessRunner.run(
            argv: ["/bin/sh", "-c", probe], environment: ["PATH": "/usr/bin:/bin"], cwd: root, timeout: .seconds(30))
        #expect(outcome.output == "checked\n", "\(outcome.output)")
        // The shell's own descriptors, listed by a child (no pipe, which would be the shell's for a moment).
        let r = await tools.run(call("shell", #"{"command":"ls /proc/$$/fd; true"}"#), workspace: root)
        let listed = r.output.text.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(r.ok && listed == ["0", "1", "2"], "\(r.output.text)")
    }

    @Test func backgroundedChildDoesNotOutliveTheCall() async throws {
        let (root, _) = try makeWorkspace()
        let r = await tools.run(
            call(
                "shell",
                #"{"command":"sh -c 'echo $$ > child.pid; sleep 5; touch late' > /dev/null 2>&1 & sleep 0.2; echo started"}"#
            ), workspace: root)
        #expect(r.ok)
        #expect(FileManager.default.fileExists(atPath: root + "/child.pid"))  // it did start
        #expect(await childIsGone(pidFile: root + "/child.pid"))
        #expect(!FileManager.default.fileExists(atPath: root + "/late"))
    }

    @Test func hugeOutputIsCutWithAMarker() async throws {
        let (root, _) = try makeWorkspace()
        let r = await tools.run(
            call("shell", #"{"command":"head -c 5000000 /dev/zero | tr '\\0' 'a'; echo END"}"#), workspace: root)
        #expect(r.ok)
        #expect(r.output.text.utf8.count < 6000)
        #expect(r.output.text.contains("bytes of output cut"))
        #expect(r.output.text.hasSuffix("END\n"))
    }

    @Test func nightshiftsOwnEnvironmentIsNotVisible() async throws {
        let (root, _) = try makeWorkspace()
        setenv("NIGHTSHIFT_CANARY_SECRET", "canary-7f3a", 1)
        defer { unsetenv("NIGHTSHIFT_CANARY_SECRET") }
        // The environment is an allowlist, not inherited. (Hiding the parent's /proc entry is the
        // sandbox's job: a PID namespace, issue 4.)
        let r = await tools.run(call("shell", #"{"command":"env"}"#), workspace: root)
        #expect(!r.output.text.contains("canary-7f3a"))
        #expect(r.output.text.contains("HOME=\(root)"))
    }

    @Test func cwdOutsideTheWorkspaceIsRefused() async throws {
        let (root, _) = try makeWorkspace()
        let r = await tools.run(call("shell", #"{"command":"ls","cwd":"../outside"}"#), workspace: root)
        #expect(!r.ok)
        #expect(r.output.text.contains("outside the workspace"))
    }

    /// A caller that stops waiting for a command leaves nothing of it running.
    /// A command that ignores SIGTERM is killed anyway, `termGrace` after it.
    @Test func aCommandIgnoringSIGTERMIsKilledAfterTheGrace() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-term-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let start = ContinuousClock.now
        let outcome = await ProcessRunner.run(
            argv: ["/bin/sh", "-c", "trap '' TERM; sleep 300"], environment: [:], cwd: dir, timeout: .seconds(1))
        #expect(outcome.timedOut)
        #expect(outcome.exitCode == 128 + SIGKILL, "\(outcome)")
        #expect(ContinuousClock.now - start < .seconds(60))
    }

    @Test func cancellingTheCallerKillsTheCommandsWholeGroup() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-cancel-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A child in the background writes its pid, then both sleep far past the test.
        let work = Task {
            await ProcessRunner.run(
                argv: ["/bin/sh", "-c", "sleep 300 & echo $! > child.pid; sleep 300"], environment: [:], cwd: dir,
                timeout: .seconds(600))
        }
        let pidFile = dir + "/child.pid"
        let start = ContinuousClock.now
        while !FileManager.default.fileExists(atPath: pidFile), ContinuousClock.now - start < .seconds(120) {
            try await Task.sleep(for: .milliseconds(20))
        }
        // Whatever happens below, the command does not outlive the test.
        defer { work.cancel() }
        let childText = try String(contentsOfFile: pidFile, encoding: .utf8)
        let child = try #require(pid_t(childText.trimmingCharacters(in: .whitespacesAndNewlines)))
        work.cancel()
        let outcome = await work.value
        #expect(ContinuousClock.now - start < .seconds(150))
        // SIGTERM first (a program holding a lock removes it), SIGKILL for what lingers.
        #expect(outcome.exitCode == 128 + SIGTERM, "\(outcome)")
        #expect(outcome.output.contains("the caller stopped waiting"), "\(outcome.output)")
        #expect(!outcome.timedOut)
        // The background child went with its group (it may linger as a zombie of init for a moment).
        var gone = false
        for _ in 0..<100 where !gone {
            gone = kill(child, 0) != 0 || Self.isZombie(child)
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(gone, "pid \(child) still runs")
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }
}

@Suite struct EditAndGrepTests {
    let tools = ToolBox.standard(isolation: .none(reason: "file tools run no commands"))

    @Test func editReplacesExactlyOneOccurrence() async throws {
        let (root, _) = try makeWorkspace()
        try "def add(a, b):\n    return a - b\n".write(toFile: root + "/calc.py", atomically: true, encoding: .utf8)
        let r = await tools.run(
            call("edit_file", #"{"path":"calc.py","old_string":"a - b","new_string":"a + b"}"#), workspace: root)
        #expect(r.ok, "\(r.output.text)")
        #expect(try String(contentsOfFile: root + "/calc.py", encoding: .utf8) == "def add(a, b):\n    return a + b\n")
    }

    @Test func editRefusesMissingAndAmbiguousStringsAndChangesNothing() async throws {
        let (root, _) = try makeWorkspace()
        let original = "x = 1\nx = 1\n"
        try original.write(toFile: root + "/f.py", atomically: true, encoding: .utf8)
        let missing = await tools.run(
            call("edit_file", #"{"path":"f.py","old_string":"y = 2","new_string":"z"}"#), workspace: root)
        #expect(!missing.ok)
        #expect(missing.output.text.contains("was not found"))
        let ambiguous = await tools.run(
            call("edit_file", #"{"path":"f.py","old_string":"x = 1","new_string":"x = 2"}"#), workspace: root)
        #expect(!ambiguous.ok)
        #expect(ambiguous.output.text.contains("appears 2 times"))
        #expect(try String(contentsOfFile: root + "/f.py", encoding: .utf8) == original)
        let all = await tools.run(
            call("edit_file", #"{"path":"f.py","old_string":"x = 1","new_string":"x = 2","replace_all":true}"#),
            workspace: root)
        #expect(all.ok)
        #expect(try String(contentsOfFile: root + "/f.py", encoding: .utf8) == "x = 2\nx = 2\n")
    }

    @Test func editOutsideTheWorkspaceIsRefused() async throws {
        let (root, outside) = try makeWorkspace()
        let r = await tools.run(
            call("edit_file", #"{"path":"../outside/secret.txt","old_string":"secret","new_string":"pwned"}"#),
            workspace: root)
        #expect(!r.ok)
        #expect(try String(contentsOfFile: outside + "/secret.txt", encoding: .utf8) == "secret")
    }

    @Test func grepFindsLinesSkipsGitAndBinaryAndStaysInside() async throws {
        let (root, _) = try makeWorkspace()
        try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/.git", withIntermediateDirectories: true)
        try "let a = 1\nfunc add() {}\n".write(toFile: root + "/src/a.swift", atomically: true, encoding: .utf8)
        try "func add() {}\n".write(toFile: root + "/.git/config", atomically: true, encoding: .utf8)
        try Data([0, 1, 2] + Array("func add".utf8)).write(to: URL(fileURLWithPath: root + "/bin.dat"))
        let r = await tools.run(call("grep", #"{"pattern":"func\\s+add"}"#), workspace: root)
        #expect(r.output.text == "src/a.swift:2: func add() {}")
        let none = await tools.run(call("grep", #"{"pattern":"zzz"}"#), workspace: root)
        #expect(none.output.text == "no matches")
        let bad = await tools.run(call("grep", #"{"pattern":"("}"#), workspace: root)
        #expect(!bad.ok)
        let out = await tools.run(call("grep", #"{"pattern":"secret","path":"../outside"}"#), workspace: root)
        #expect(!out.ok)
    }
}
