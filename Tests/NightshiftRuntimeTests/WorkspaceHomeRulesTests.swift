import Foundation
import Testing

@testable import NightshiftRuntime

/// A workspace home is where other runs' worktrees are: never reachable from a run's workspace.
@Suite struct WorkspaceHomeRulesTests {
    @Test func aHomeInsideTheWorkspaceIsHiddenAndTheWorkspaceItselfIsRefused() throws {
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("ns-home-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: ws + "/homes", withIntermediateDirectories: true)
        let real = URL(fileURLWithPath: ws).resolvingSymlinksInPath().path
        let hidden = try Adapters.hiddenPaths(
            db: "/elsewhere/db/ns.db", workspace: ws, keyFile: nil, worktreesRoot: ws + "/homes")
        #expect(hidden == [real + "/homes"])
        // Outside the workspace: nothing to hide.
        #expect(
            try Adapters.hiddenPaths(db: "/elsewhere/db/ns.db", workspace: ws, keyFile: nil, worktreesRoot: "/srv/w")
                .isEmpty)
        let refused = #expect(throws: RuntimeError.self) {
            try Adapters.hiddenPaths(db: "/elsewhere/db/ns.db", workspace: ws, keyFile: nil, worktreesRoot: ws)
        }
        #expect(refused?.code == .invalidInput)
        #expect(refused?.message.contains("workspace home") == true)
    }

    /// A home in the workspace is made at once as a real folder, so the sandbox can hide it; a link
    /// in the workspace on the way to it, or a file where it should be, is refused.
    @Test func aHomeInTheWorkspaceIsMadeAsAFolderAndAFileIsRefused() throws {
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("ns-home-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        _ = try Adapters.hiddenPaths(db: "/elsewhere/db/ns.db", workspace: ws, keyFile: nil, worktreesRoot: ws + "/h")
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: ws + "/h", isDirectory: &isDir) && isDir.boolValue)
        // A link in the workspace on the way to the home is the agent's: refused, wherever it leads.
        try FileManager.default.createDirectory(atPath: ws + "/x", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: ws + "/l", withDestinationPath: ws + "/x")
        try FileManager.default.createSymbolicLink(atPath: ws + "/out", withDestinationPath: "/tmp")
        for home in [ws + "/l", ws + "/out/homes", ws + "/l/deeper"] {
            let refused = #expect(throws: RuntimeError.self) {
                try Adapters.hiddenPaths(db: "/elsewhere/db/ns.db", workspace: ws, keyFile: nil, worktreesRoot: home)
            }
            #expect(refused?.message.contains("a link in the workspace") == true, "\(home)")
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/homes"))
        try "not a folder".write(toFile: ws + "/f", atomically: true, encoding: .utf8)
        #expect(throws: RuntimeError.self) {
            try Adapters.hiddenPaths(db: "/elsewhere/db/ns.db", workspace: ws, keyFile: nil, worktreesRoot: ws + "/f")
        }
    }

    @Test func theHomeDefaultsToWorktreesBesideTheDatabase() {
        #expect(StoreConfig(db: "/data/ns/nightshift.db").worktreesRoot == "/data/ns/worktrees")
        #expect(StoreConfig(db: "/data/ns/nightshift.db", workspaces: "/srv/homes/").worktreesRoot == "/srv/homes")
    }
}
