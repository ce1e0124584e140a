import Foundation

/// What the harness does next. `emit` is pure (events decided from the state alone); the other
/// cases are IO the effect runner performs after committing the intent that precedes them.
public enum Decision: Sendable, Equatable {
    case emit([Event])
    /// Ask the model; `modelRequested` for `call` is already in the log.
    case callModel(call: CallID, task: PlanTask, attempt: Int, turn: Int, role: String)
    /// Run a tool; `toolStarted` for it is already in the log.
    case runTool(ToolCall)
    /// Commit the workspace to the run's branch after `task` finished; `work_committed` records the result.
    case commitWork(task: TaskID, message: String)
    /// Run the active task's checks from index `from` on.
    case runChecks(task: PlanTask, attempt: Int, from: Int)
    case stop(StopReason)
}

public enum StopReason: Sendable, Equatable {
    case finished
    case failed(String)
    case paused(String)
}

/// The tools a harness offers, as the decision function needs them: name → declared idempotency.
public struct ToolCatalog: Sendable, Equatable {
    public var idempotent: [String: Bool]
    public init(_ specs: [ToolSpec]) {
        idempotent = Dictionary(specs.map { ($0.name, $0.idempotent) }, uniquingKeysWith: { a, _ in a })
    }
}

extension RunState {
    /// Decides the next step from the state alone. Same state and catalog ⇒ same decision.
    public func nextAction(tools: ToolCatalog) -> Decision {
        switch status {
        case .finished: return .stop(.finished)
        case .failed: return .stop(.failed(statusReason ?? "failed"))
        case .paused: return .stop(.paused(statusReason ?? "paused"))
        case .running: break
        }
        guard created, let plan else { return .emit([.runFailed(reason: "the run has no plan")]) }

        if let task = pendingCommit { return .commitWork(task: task, message: pendingCommitMessage ?? "nightshift: task \(task) done") }
        guard let i = current else {
            if let next = tasks.firstIndex(where: { $0.status == .pending }) {
                return .emit([.taskStarted(task: tasks[next].id, attempt: 1)])
            }
            let done = tasks.filter { $0.status == .done }.count
            let blocked = tasks.count - done
            return .emit([.runFinished(summary: "\(done) of \(tasks.count) tasks done" + (blocked > 0 ? ", \(blocked) blocked" : ""))])
        }
        let task = plan.tasks[i]
        let progress = tasks[i]

        switch phase {
        case .idle:
            return .emit([.runFailed(reason: "inconsistent state: task \(task.id) active while idle")])

        case .working:
            if progress.turnsThisAttempt >= settings.maxTurnsPerAttempt {
                return .emit(failAttempt(task, progress,
                    feedback: "The attempt used its \(settings.maxTurnsPerAttempt) model turns without a done claim that passed the checks."))
            }
            return .emit([.modelRequested(call: RunState.modelCallID(modelCalls + 1), task: task.id, turn: progress.turns, role: "worker")])

        case let .awaitingModel(call):
            return .callModel(call: call, task: task, attempt: progress.attempts, turn: progress.turns, role: awaitingRole ?? "worker")

        case .runningTools:
            guard let p = pendingTools.first else { return .emit([.runFailed(reason: "inconsistent state: no pending tool")]) }
            if !p.requested, p.call.name == ToolSpec.note.name { return .emit(noteEvents(p.call)) }
            if !p.requested {
                guard let idempotent = tools.idempotent[p.call.name] else {
                    let known = tools.idempotent.keys.sorted().joined(separator: ", ")
                    return .emit([
                        .toolRequested(call: p.call.id, name: p.call.name, idempotent: false),
                        .toolFinished(call: p.call.id, result: .failure("unknown tool '\(p.call.name)'; available tools: \(known)")),
                    ])
                }
                return .emit([.toolRequested(call: p.call.id, name: p.call.name, idempotent: idempotent)])
            }
            if !p.started { return .emit([.toolStarted(call: p.call.id)]) }
            if p.interrupted && !p.idempotent {
                return .emit([.toolInDoubt(call: p.call.id, reason:
                    "the process stopped while '\(p.call.name)' was running; it is not idempotent, so it was not run again")])
            }
            return .runTool(p.call)

        case let .checking(summary):
            if progress.checkResults.count < task.checks.count {
                return .runChecks(task: task, attempt: progress.attempts, from: progress.checkResults.count)
            }
            if progress.checkResults.allSatisfy(\.passed) {
                return .emit([
                    .taskFinished(task: task.id, attempt: progress.attempts, summary: summary),
                    .noteWritten(task: task.id, text: Payload(progressNote(task, progress, summary: summary))),
                ])
            }
            let failed = progress.checkResults.filter { !$0.passed }
            var feedback = "Your done claim for task \(task.id) failed \(failed.count) of \(task.checks.count) checks:\n"
            for f in failed {
                feedback += "\n$ \(f.command)\nexit \(f.exitCode) (expected \(f.expectExit))\n\(f.outputTail)\n"
            }
            return .emit(failAttempt(task, progress, feedback: feedback))

        case .attemptFailed:
            return .emit(nextAttemptOrBlock(task, progress))
        }
    }

    /// The `note` tool runs inside the decision: its whole effect is an event, committed with its
    /// request and result in one append, so it can never be half done or in doubt.
    private func noteEvents(_ call: ToolCall) -> [Event] {
        let requested = Event.toolRequested(call: call.id, name: call.name, idempotent: true)
        let object = (try? JSONSerialization.jsonObject(with: Data(call.arguments.text.utf8))) as? [String: Any]
        guard let raw = object?["text"] as? String else {
            return [requested, .toolFinished(call: call.id, result: .failure("note: the arguments must be {\"text\": \"...\"}"))]
        }
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return [requested, .toolFinished(call: call.id, result: .failure("note: the text is empty"))] }
        let limit = ToolSpec.noteLimit
        let kept = text.count > limit ? String(text.prefix(limit)) + " […]" : text
        let task = current.map { tasks[$0].id }
        return [requested, .toolStarted(call: call.id), .noteAdded(task: task, text: kept),
                .toolFinished(call: call.id, result: ToolResult(ok: true, output: Payload(
                    "noted" + (text.count > limit ? " (cut to \(limit) characters)" : "") + "; the handoff note carries it to later turns and tasks")))]
    }

    private func failAttempt(_ task: PlanTask, _ progress: TaskProgress, feedback: String) -> [Event] {
        [.taskAttemptFailed(task: task.id, attempt: progress.attempts, feedback: Payload(feedback))]
            + nextAttemptOrBlock(task, progress)
    }

    private func nextAttemptOrBlock(_ task: PlanTask, _ progress: TaskProgress) -> [Event] {
        if progress.attempts < settings.maxAttempts {
            return [.taskStarted(task: task.id, attempt: progress.attempts + 1)]
        }
        let reason = "task \(task.id) failed its checks in all \(settings.maxAttempts) attempts"
        var events: [Event] = [.taskBlocked(task: task.id, reason: reason)]
        if settings.stopOnBlocked { events.append(.runFailed(reason: reason + " (the run stops on a blocked task)")) }
        return events
    }

    private func progressNote(_ task: PlanTask, _ progress: TaskProgress, summary: String) -> String {
        var note = "Task \(task.id) done on attempt \(progress.attempts) after \(progress.turns) model turns."
        if !summary.isEmpty { note += "\nWorker's summary: \(summary)" }
        if !task.checks.isEmpty {
            note += "\nChecks passed: " + task.checks.map { "`\($0.command)`" }.joined(separator: ", ")
        }
        return note
    }
}
