extension RunState {
    /// Shifts: compactions, handoffs and the worker's notes.
    mutating func reduceShift(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .contextCompacted(task, summary, throughSeq, _):
            guard let i = current, tasks[i].id == task, roleResponse?.role == Role.compactor, phase == .working else {
                throw fail("no summary of task \(task) is waiting")
            }
            roleResponse = nil
            compactionSummary = summary.text
            compactedThroughSeq = throughSeq
            shiftCompactions += 1
            compactions += 1
            turnsSinceCompaction = 0
            shiftTokens = estimateTokens(bytes: summary.text.utf8.count)

        case let .handoffWritten(task, reason, handoff):
            guard tasks.contains(where: { $0.id == task }) else { throw fail("no task \(task)") }
            self.handoff = handoff
            if reason == .contextReset {
                guard let i = current, tasks[i].id == task, roleResponse?.role == Role.handoff, phase == .working else {
                    throw fail("no handoff of task \(task) is waiting")
                }
                roleResponse = nil
                startShift(at: lastSeq + 2)
            }

        case let .noteWritten(_, text):
            lastNote = text.text

        case let .noteAdded(task, text):
            notes.append(WorkerNote(task: task, text: text))
            if notes.count > RunState.notesKept { notes.removeFirst(notes.count - RunState.notesKept) }
        default: throw fail("not a shift event: \(event.kind)")
        }
    }
}
