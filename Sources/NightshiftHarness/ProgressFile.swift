import NightshiftCore
import Foundation

/// `PROGRESS.md` in the workspace: a view rendered from the folded state, rewritten whole.
enum ProgressFile {
    static func render(_ state: RunState) -> String {
        var out = "# Progress: \(state.title)\n\n_Written by Nightshift from run \(state.run)'s event log; edits here are overwritten._\n\n"
        out += "| task | status | attempts | model turns | judge |\n|---|---|---|---|---|\n"
        for t in state.tasks {
            out += "| \(t.id) | \(t.status.rawValue) | \(t.attempts) | \(t.turns) | \(t.verdicts.isEmpty ? "—" : t.verdicts.joined(separator: ", ")) |\n"
        }
        if let h = state.handoff { out += "\n## Handoff note (the next shift starts from it)\n\n\(h.markdown)\n" }
        if state.compactions > 0 || state.shifts > 1 {
            out += "\nShifts: \(state.shifts); context compactions: \(state.compactions).\n"
        }
        if let note = state.lastNote { out += "\n## Latest note\n\n\(note)\n" }
        if !state.notes.isEmpty {
            out += "\n## Worker's notes\n\n" + state.notes.map { "- " + ($0.task.map { "[\($0)] " } ?? "") + $0.text + "\n" }.joined()
        }
        out += "\nRun status: \(state.status.rawValue)\(state.statusReason.map { " (\($0))" } ?? "")\n"
        return out
    }

    static func write(_ state: RunState) {
        guard !state.workspace.isEmpty, FileManager.default.fileExists(atPath: state.workspace) else { return }
        let path = state.workspace + "/PROGRESS.md"
        try? Data(render(state).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        if let plan = state.plan {
            try? Data(plan.markdown(version: state.planVersion, goal: state.goal).utf8)
                .write(to: URL(fileURLWithPath: state.workspace + "/PLAN.md"), options: .atomic)
        }
    }

    /// `REPORT.md` in the workspace: the final report, as recorded in the log.
    static func writeReport(_ report: String, workspace: String) {
        guard !workspace.isEmpty, FileManager.default.fileExists(atPath: workspace) else { return }
        try? Data(report.utf8).write(to: URL(fileURLWithPath: workspace + "/REPORT.md"), options: .atomic)
    }
}
