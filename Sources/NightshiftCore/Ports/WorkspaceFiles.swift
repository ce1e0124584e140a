import Foundation

/// The files the harness keeps in a run's workspace, and the evidence the test ratchet compares.
/// The harness does no file IO of its own: this port writes its views and hashes protected files.
public protocol WorkspaceFiles: Sendable {
    /// Writes each view (whole, atomically) into `workspace`; a workspace that is gone is skipped.
    func write(_ views: [WorkspaceView], workspace: String) async
    /// SHA-256 (hex) of every regular file in `workspace` whose relative path matches one of
    /// `globs`; links are not followed and `.git` is skipped.
    func hashes(workspace: String, globs: [String]) async -> [String: String]
}

/// One file the harness writes into the workspace from the log (`PROGRESS.md`, `PLAN.md`, `REPORT.md`).
public struct WorkspaceView: Sendable, Equatable {
    public var name: String
    public var text: String
    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }
}
