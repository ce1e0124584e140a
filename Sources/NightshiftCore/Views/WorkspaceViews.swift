/// The files Nightshift keeps in a run's workspace, rendered from the folded state: views of the
/// log (editing them changes nothing), rewritten whole. Pure: the `WorkspaceFiles` port writes them.
public enum WorkspaceViews {
    /// `PROGRESS.md`, and `PLAN.md` once the run has a plan.
    public static func progress(_ state: RunState) -> [WorkspaceView] {
        var views = [WorkspaceView(name: "PROGRESS.md", text: renderProgress(state))]
        if let plan = state.plan {
            views.append(
                WorkspaceView(
                    name: "PLAN.md", text: plan.markdown(version: state.planning.planVersion, goal: state.goal)))
        }
        return views
    }

    /// `REPORT.md`: the final report, as recorded in the log.
    public static func report(_ text: String) -> WorkspaceView { WorkspaceView(name: "REPORT.md", text: text) }

    /// The text of `PROGRESS.md`.
    public static func renderProgress(_ state: RunState) -> String {
        var out =
            "# Progress: \(state.title)\n\n_Written by Nightshift from run \(state.run)'s event log; edits here are overwritten._\n\n"
        out += "| task | status | attempts | model turns | judge |\n|---|---|---|---|---|\n"
        for t in state.tasks {
            out +=
                "| \(t.id) | \(t.status.rawValue) | \(t.attempts) | \(t.turns) | \(t.verdicts.isEmpty ? "—" : t.verdicts.map(\.rawValue).joined(separator: ", ")) |\n"
        }
        if let h = state.handoff { out += "\n## Handoff note (the next shift starts from it)\n\n\(h.markdown)\n" }
        if state.shiftState.compactions > 0 || state.shiftState.shifts > 1 {
            out += "\nShifts: \(state.shiftState.shifts); context compactions: \(state.shiftState.compactions).\n"
        }
        if let note = state.lastNote { out += "\n## Latest note\n\n\(note)\n" }
        if !state.notes.isEmpty {
            out +=
                "\n## Worker's notes\n\n"
                + state.notes.map { "- " + ($0.task.map { "[\($0)] " } ?? "") + $0.text + "\n" }.joined()
        }
        out += "\nRun status: \(state.status.rawValue)\(state.statusReason.map { " (\($0))" } ?? "")\n"
        return out
    }

}
