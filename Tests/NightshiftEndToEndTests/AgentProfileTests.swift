import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// Agent profiles through the executable: a run started as one, and `nightshift agents`.
@Suite struct AgentProfileTests {
    /// A run started as a profile takes its model and guidance, is offered only its tools, and
    /// records its name and version; `nightshift agents` says which runs used which version.
    @Test func aRunAsAProfileRecordsItAndKeepsToItsTools() async throws {
        let root = tempDir("ns-agentrun")
        try FileManager.default.createDirectory(atPath: root + "/agents", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        try """
        description: Writes notes, never runs commands
        model: scripted:../scenario.yaml
        guidance: writer.md
        tools: [write_file, read_file]
        """.write(toFile: root + "/agents/writer.yaml", atomically: true, encoding: .utf8)
        try "Write plainly.\n".write(toFile: root + "/agents/writer.md", atomically: true, encoding: .utf8)
        try """
        tasks:
          t:
            - tools:
                - shell: {command: "touch ran-shell"}
                - write_file: {path: note.txt, content: hello}
            - done: wrote it
        """.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        try "title: p\ntasks:\n  - id: t\n    description: write a note\n    checks:\n      - test -f note.txt\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        let args = ["--db", root + "/ns.db", "--agents", root + "/agents"]
        let r = try await nightshift(
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", root + "/ws", "--agent", "writer", "--id", "w",
                "-q",
                "--unsandboxed",
            ] + args, cwd: root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/ws/ran-shell"))
        let store = try SQLiteEventStore(path: root + "/ns.db")
        let state = try await store.state(of: RunID("w"))
        #expect(state.settings.profile?.name == "writer" && state.gate.guidanceSpec == "Write plainly.\n")
        let version = try #require(state.settings.profile?.version)
        let listing = try await nightshift(["agents"] + args, cwd: root)
        #expect(listing.stdout.contains("writer  version \(version.prefix(12))"), "\(listing.stdout)")
        #expect(listing.stdout.contains("runs on this version: w"))
        // The profile's scorecard: one run, its one task finished on the first attempt.
        let score = try await nightshift(["agents", "--scorecard", "--json", "--since", "1d", "--db", root + "/ns.db"])
        let card = try #require(
            score.stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }.first { $0["agent"] as? String == "writer" }, "\(score.stdout)\(score.stderr)")
        #expect(card["version"] as? String == String(version.prefix(12)))
        #expect(
            card["runs"] as? Int == 1 && card["tasks_finished"] as? Int == 1
                && card["first_attempt_rate"] as? Double == 1)
        #expect((card["tokens"] as? Int ?? 0) > 0, "\(card)")
        // An edited profile is a new version; the run keeps the one it started with.
        try "Write plainly and briefly.\n".write(toFile: root + "/agents/writer.md", atomically: true, encoding: .utf8)
        let after = try await nightshift(["agents"] + args, cwd: root)
        #expect(after.stdout.contains("run w used an earlier version \(version.prefix(12))"), "\(after.stdout)")
        // An unknown profile is one line naming the ones there are.
        let unknown = try await nightshift(
            ["run", "--plan", root + "/plan.yaml", "--workspace", root + "/ws", "--agent", "nobody"] + args, cwd: root)
        #expect(
            unknown.status == 1 && unknown.stderr.contains("no agent profile 'nobody'")
                && unknown.stderr.contains("writer"))
    }
}
