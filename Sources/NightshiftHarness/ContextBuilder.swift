public import NightshiftCore

/// Builds the model's context for one turn from the folded state and a bounded window of
/// recent events — never from the whole history, so its cost does not grow with the run.
public enum ContextBuilder {
    /// The latest progress note and the worker's own notes, as one handoff note.
    static func handoffNote(_ state: RunState) -> String? {
        guard !state.notes.isEmpty else { return state.lastNote }
        var text = state.lastNote.map { $0 + "\n\n" } ?? ""
        text += "Notes you left:\n" + state.notes.map { "- " + ($0.task.map { "[\($0)] " } ?? "") + $0.text }.joined(separator: "\n")
        return text
    }

    public static func request(state: RunState, recent: [EventEnvelope], call: CallID, task: PlanTask, attempt: Int, turn: Int,
                               role: String = "worker", tools: [ToolSpec], window: Int) -> ModelRequest {
        let startSeq = state.current.map { state.tasks[$0].startSeq } ?? 0
        let relevant = recent.suffix(window).filter { $0.seq >= startSeq }
        var names: [CallID: String] = [:]
        var transcript: [TranscriptEntry] = []
        for envelope in relevant {
            switch envelope.event {
            case let .modelResponded(_, text, toolCalls, _, _, _, _, _):
                for t in toolCalls { names[t.id] = t.name }
                transcript.append(.assistant(text: text.text, toolCalls: toolCalls))
            case let .toolFinished(id, result):
                transcript.append(.toolResult(call: id, name: names[id] ?? "tool", ok: result.ok, output: result.output.text))
            case let .toolInDoubt(id, reason):
                transcript.append(.toolResult(call: id, name: names[id] ?? "tool", ok: false, output: "OUTCOME UNKNOWN: \(reason)"))
            case let .taskStarted(_, n) where n > 1:
                transcript.append(.notice("Attempt \(n) of this task begins."))
            default:
                break
            }
        }
        let notices = state.guidance.map { "Guidance from a human (\($0.prefix { $0 != ":" })):\($0.drop { $0 != ":" }.dropFirst())" } + state.unreportedInDoubt.map {
            "The call \($0.call) (\($0.name) with arguments \($0.arguments.prefix(300))) was interrupted when the process stopped. "
                + "Its outcome is UNKNOWN: it may or may not have taken effect. Check the workspace before repeating it."
        }
        let feedback = state.current.flatMap { state.tasks[$0].feedback }
        return ModelRequest(run: state.run, call: call, role: role, task: task, attempt: attempt, turn: turn, notices: notices,
                            progressNote: handoffNote(state), feedback: feedback, transcript: transcript, tools: tools,
                            guidance: state.guidanceSpec)
    }
}
