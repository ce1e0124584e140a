import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

enum SandboxAvailable {
    static let yes: Bool = { if case .success = Isolation.detect() { true } else { false } }()
}

/// A whole sandboxed run whose worker tries one escape after another: each attempt is contained
/// and recorded, the model gets a short truthful result, and the run goes on to finish its task.
@Suite(.enabled(if: SandboxAvailable.yes || ProcessInfo.processInfo.environment["CI"] != nil))
struct SecurityRunTests {
    static let canary = "canary-\(UUID().uuidString)"

    /// (tool, arguments, what the result must show).
    static let attacks: [(String, String, String)] = [
        ("shell", "{command: 'cat /etc/shadow'}", "No such file"),
        (
            "shell",
            "{command: 'cat $HOME/../outside/secret.txt; cat /proc/1/environ | tr \"\\\\0\" \"\\\\n\" | grep NIGHTSHIFT_CANARY'}",
            "exit 1"
        ),
        ("shell", "{command: 'env | grep NIGHTSHIFT_CANARY || echo no-canary'}", "no-canary"),
        ("read_file", "{path: ../outside/secret.txt}", "outside the workspace"),
        ("read_file", "{path: /etc/passwd}", "outside the workspace"),
        ("shell", "{command: 'ln -s ../outside leak'}", "exit 0"),
        ("write_file", "{path: leak/planted.txt, content: x}", "symbolic link"),
        // In a worktree `.git` is a file naming the repository's git folder, whose hooks run on every commit.
        ("shell", "{command: 'echo gitdir: /tmp > .git'}", "Read-only file system"),
        ("shell", "{command: 'echo pwned > \"$(sed s/gitdir:.//  .git)/../../hooks/pre-commit\"'}", "cannot create"),
        (
            "shell",
            "{command: 'python3 -c \"import socket; socket.create_connection((\\\"127.0.0.1\\\", 22), timeout=2)\"'}",
            "exit 1"
        ),
        ("shell", "{command: 'sleep 600', timeout_seconds: 2}", "timed out"),
        ("shell", "{command: 'head -c 1073741824 /dev/zero', timeout_seconds: 120}", "bytes of output cut"),
        (
            "shell",
            "{command: 'nohup flock daemon.lock sh -c \"touch daemon-up; sleep 60; echo daemon > daemon.txt\" > /dev/null 2>&1 & while [ ! -f daemon-up ]; do sleep 0.05; done'}",
            "exit 0"
        ),
    ]

    @Test func escapesAreContainedRecordedAndTheRunGoesOn() async throws {
        let root = tempDir("ns-sec")
        let repo = root + "/repo", outside = root + "/outside", db = root + "/ns.db"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "secret".write(toFile: outside + "/secret.txt", atomically: true, encoding: .utf8)
        try makeRepository(repo)
        try
            "title: sec\ntasks:\n  - id: t\n    description: try things, then write ok.txt\n    checks:\n      - test -f ok.txt\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        var turns = ""
        for (tool, args, _) in Self.attacks { turns += "    - tools:\n        - \(tool): \(args)\n" }
        turns += "    - tools:\n        - write_file: {path: ok.txt, content: done}\n      done: tried everything\n"
        try ("tasks:\n  t:\n" + turns).write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)

        let r = try await nightshift(
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", repo, "--model", "scripted:\(root)/scenario.yaml",
                "--db", db, "--id", "sec", "-q",
            ],
            env: ["NIGHTSHIFT_CANARY": Self.canary], timeout: .seconds(300))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")

        let events = try await SQLiteEventStore(path: db).readAll(RunID("sec")).map(\.event)
        let results = events.compactMap { if case let .toolFinished(_, result) = $0 { result } else { nil } }
        #expect(results.count == Self.attacks.count + 1)
        for (n, (tool, args, expected)) in Self.attacks.enumerated() where n < results.count {
            #expect(
                results[n].output.text.contains(expected), "\(tool) \(args) → \(results[n].output.text.prefix(300))")
            #expect(results[n].output.text.utf8.count < 40_000)  // short, even for 1 GiB of output
        }
        // Nothing escaped: no file outside, no hook, no daemon left to write after the call returned.
        #expect(!FileManager.default.fileExists(atPath: outside + "/planted.txt"))
        #expect(!FileManager.default.fileExists(atPath: repo + "/.git/hooks/pre-commit"))
        // The daemon held its lock while it lived: the lock is free, and it never wrote.
        let worktree = root + "/worktrees/sec"
        #expect(FileManager.default.fileExists(atPath: worktree + "/daemon-up"))
        #expect(await LockGate.freed(worktree + "/daemon.lock", within: .seconds(20)), "the daemon outlived its call")
        #expect(!FileManager.default.fileExists(atPath: worktree + "/daemon.txt"))
        // The canary in Nightshift's own environment reached no tool and no record.
        for file in [db, db + "-wal"] where FileManager.default.fileExists(atPath: file) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(bytes.range(of: Data(Self.canary.utf8)) == nil, "\(file)")
        }
        #expect(results.allSatisfy { !$0.output.text.contains(Self.canary) })
        #expect(events.contains { if case .runFinished = $0 { true } else { false } })
    }
}
