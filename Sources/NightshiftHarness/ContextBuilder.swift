public import NightshiftCore

/// Builds each role's context for one model call from the folded state and a bounded window of
/// recent events — never from the whole history, so its cost does not grow with the run.
///
/// - worker: guidance, the task with its checks and rubric, the last handoff note and notes, the
///   feedback of a failed attempt, in-doubt calls, and this shift's turns since its last compaction
///   (with the compaction's summary in their place).
/// - judge: artifacts only — the task, its rubric, the diff and the check results. Never the
///   worker's reasoning, notes or summary.
/// - planner: the goal, the guidance, and (re-planning) the current plan and why it must change.
/// - compactor / handoff: the shift's turns, to be summarised or handed off.
public enum ContextBuilder {
    /// The latest handoff and progress note and the worker's own notes, as one note.
    static func handoffNote(_ state: RunState) -> String? {
        var parts: [String] = []
        if let h = state.handoff { parts.append("Handoff from the previous shift:\n" + h.markdown) }
        if let note = state.lastNote { parts.append(note) }
        if !state.notes.isEmpty {
            parts.append(
                "Notes you left:\n"
                    + state.notes.map { "- " + ($0.task.map { "[\($0)] " } ?? "") + $0.text }.joined(separator: "\n"))
        }
        return parts.isEmpty ? nil : parts.joined(separator: "\n\n")
    }

    public static func request(
        state: RunState, recent: [EventEnvelope], call: CallID, task: PlanTask, attempt: Int, turn: Int,
        role: Role = .worker, tools: [ToolSpec], window: Int, diff: String? = nil
    ) -> ModelRequest {
        var request = body(
            state: state, recent: recent, call: call, task: task, attempt: attempt, turn: turn, role: role,
            tools: tools, window: window, diff: diff)
        request.limits = state.settings.loop?.limits(role)
        return request
    }

    static func body(
        state: RunState, recent: [EventEnvelope], call: CallID, task: PlanTask, attempt: Int, turn: Int,
        role: Role, tools: [ToolSpec], window: Int, diff: String?
    ) -> ModelRequest {
        switch role {
        case Role.judge:
            return ModelRequest(
                run: state.run, call: call, role: role, task: task, attempt: attempt, turn: turn, notices: [],
                progressNote: nil, feedback: nil, transcript: [], tools: [RoleTools.submitVerdict],
                artifacts: judgeArtifacts(state, diff: diff))
        case Role.planner:
            var artifacts: String?
            if let plan = state.plan {
                artifacts =
                    "The current plan:\n\n" + plan.markdown(version: state.planning.planVersion, goal: nil)
                    + "Task status: "
                    + state.tasks.map { "\($0.id) \($0.status.rawValue)" }.joined(separator: ", ")
                    + "\n\nKeep the ids of finished tasks you keep; they stay finished."
            }
            return ModelRequest(
                run: state.run, call: call, role: role, task: task, attempt: attempt, turn: turn,
                notices: humanNotices(state),
                progressNote: nil, feedback: state.planning.planFeedback, transcript: [], tools: [RoleTools.submitPlan],
                guidance: state.gate.guidanceSpec, artifacts: artifacts)
        default:
            break
        }
        let startSeq = max(state.current.map { state.tasks[$0].startSeq } ?? 0, state.shiftState.shiftStartSeq)
        let relevant = recent.suffix(window).filter {
            $0.seq >= startSeq && $0.seq > state.shiftState.compactedThroughSeq
        }
        var names: [CallID: String] = [:]
        var transcript: [TranscriptEntry] = []
        if let summary = state.shiftState.compactionSummary {
            transcript.append(
                .notice("Summary of the earlier turns of this shift (compacted to keep the context small):\n\(summary)")
            )
        }
        // Only the worker's own turns: a summary, a handoff or a verdict is another role's answer.
        var roles: [CallID: Role] = [:]
        for envelope in relevant {
            switch envelope.event {
            case let .modelRequested(call, _, _, role):
                roles[call] = role ?? Role.worker
            case let .modelResponded(call, text, toolCalls, _, _, _, _, _, _):
                guard roles[call, default: Role.worker] == Role.worker else { continue }
                for t in toolCalls { names[t.id] = t.name }
                transcript.append(.assistant(text: text.text, toolCalls: toolCalls))
            case let .toolFinished(id, result):
                transcript.append(
                    .toolResult(call: id, name: names[id] ?? "tool", ok: result.ok, output: result.output.text))
            case let .toolInDoubt(id, reason):
                transcript.append(
                    .toolResult(call: id, name: names[id] ?? "tool", ok: false, output: "OUTCOME UNKNOWN: \(reason)"))
            case let .taskStarted(_, n) where n > 1:
                transcript.append(.notice("Attempt \(n) of this task begins."))
            case let .workspaceMoved(_, _, commit, _):
                transcript.append(
                    .notice(
                        "The workspace was made again, elsewhere, from the work committed so far (commit \(commit.prefix(10))): "
                            + "changes made in this task before now were not committed and are NOT in it. Check the files "
                            + "before relying on what earlier turns did."))
            default:
                break
            }
        }
        let notices =
            humanNotices(state)
            + state.pending.unreportedInDoubt.map {
                "The call \($0.call) (\($0.name) with arguments \($0.arguments.prefix(300))) was interrupted when the process stopped. "
                    + "Its outcome is UNKNOWN: it may or may not have taken effect. Check the workspace before repeating it."
            }
            // Marked as the project's hooks' output: what a command reported, not an instruction.
            + (state.shiftState.hookNotices ?? []).map {
                "The project's \($0.on) hook `\($0.command)` failed (exit \($0.exitCode)). Its output (the end of it):\n"
                    + $0.output
            }
        let feedback = state.current.flatMap { state.tasks[$0].feedback }
        let roleTools: [ToolSpec] =
            switch role {
            case Role.compactor: []
            case Role.handoff: [RoleTools.writeHandoff]
            default: tools
            }
        var request = ModelRequest(
            run: state.run, call: call, role: role, task: task, attempt: attempt, turn: turn, notices: notices,
            progressNote: handoffNote(state), feedback: feedback, transcript: transcript, tools: roleTools,
            guidance: state.gate.guidanceSpec)
        if role == Role.worker { request.memories = state.shiftState.memories ?? [] }
        return request
    }

    static func humanNotices(_ state: RunState) -> [String] {
        state.guidance.map { "Guidance from a human (\($0.prefix { $0 != ":" })):\($0.drop { $0 != ":" }.dropFirst())" }
    }

    /// What the judge grades: the diff and every check's result. Nothing the worker said.
    static func judgeArtifacts(_ state: RunState, diff: String?) -> String {
        var out =
            "The change (diff against the last commit):\n\n" + (diff ?? "(no diff: the workspace is not under git)")
            + "\n\n"
        if let i = state.current {
            out += "Check results (run by the harness, after the worker claimed the task done):\n"
            for c in state.tasks[i].checkResults {
                out +=
                    "\n$ \(c.command)\nexit \(c.exitCode) (expected \(c.expectExit)): \(c.passed ? "passed" : "FAILED")\n\(c.outputTail.suffix(1500))\n"
            }
            if let task = state.activeTask, !state.hasEvidence(i) {
                out +=
                    "\nNote: no check of task \(task.id) failed before the work began, so the checks alone cannot show progress; judge the change itself.\n"
            }
        }
        return out
    }
}
