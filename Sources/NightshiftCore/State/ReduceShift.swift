extension RunState {
    /// Shifts: compactions, handoffs, the worker's notes, and the project's hooks.
    mutating func reduceShift(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .contextCompacted(task, summary, throughSeq, _):
            guard let i = current, tasks[i].id == task, pending.roleResponse?.role == Role.compactor, phase == .working
            else {
                throw fail("no summary of task \(task) is waiting")
            }
            pending.roleResponse = nil
            shiftState.compactionSummary = summary.text
            shiftState.compactedThroughSeq = throughSeq
            shiftState.shiftCompactions += 1
            shiftState.compactions += 1
            shiftState.turnsSinceCompaction = 0
            shiftState.shiftTokens = estimateTokens(bytes: summary.text.utf8.count)

        case let .handoffWritten(task, reason, handoff):
            guard tasks.contains(where: { $0.id == task }) else { throw fail("no task \(task)") }
            self.handoff = handoff
            if reason == .contextReset {
                guard let i = current, tasks[i].id == task, pending.roleResponse?.role == Role.handoff,
                    phase == .working
                else {
                    throw fail("no handoff of task \(task) is waiting")
                }
                pending.roleResponse = nil
                startShift(at: lastSeq + 2)
            }

        case let .noteWritten(_, text):
            lastNote = text.text

        case let .noteAdded(task, text):
            notes.append(WorkerNote(task: task, text: text))
            if notes.count > RunState.notesKept { notes.removeFirst(notes.count - RunState.notesKept) }
        case let .memoryProposed(call, scope, kind, text, tags):
            guard let p = pending.pendingTools.first, p.call.id == call, p.started,
                CoreTool(name: p.call.name) == .remember
            else { throw fail("\(call) is not a started remember call") }
            // The policy lets it in without review: written next, with this event as its source.
            if policy?.allowsMemoryWrite(scope.kind, kind) == true {
                let id = Self.proposalID(run: run, call: call)
                pending.memoryWrite = PendingMemoryWrite(
                    call: call, id: id,
                    change: .created(
                        id: id, kind: kind, scope: scope, text: text, tags: tags,
                        source: MemorySource(run: run, seqs: [lastSeq + 1]), expires: nil))
            }
        case let .memorySearchDegraded(reason):
            shiftState.memorySearchDegraded = reason
        case let .memoriesShown(task, memories):
            guard let i = current, tasks[i].id == task, phase == .working else {
                throw fail("memories are shown only at the start of a shift of the active task")
            }
            shiftState.memories = memories
            shiftState.memoriesForShift = shiftState.shiftStartSeq
        case let .hookRan(on, command, exitCode, passed, blocking, output, _):
            switch on {
            case .afterEdit:
                guard phase == .runningTools, pending.pendingTools.first?.started == true else {
                    throw fail("an after_edit hook runs only after a tool call that is under way")
                }
            case .shiftStart:
                guard current != nil, phase == .working else { throw fail("a shift_start hook runs only in a shift") }
                shiftState.hooksRanForShift = shiftState.shiftStartSeq
            case .beforeCheck:
                guard let i = current, case .checking = phase, tasks[i].checkResults.isEmpty else {
                    throw fail("a before_check hook runs only before a claim's checks")
                }
                shiftState.hooksRanForClaim = RunState.claimKey(tasks[i].id, tasks[i].attempts)
            }
            // A blocking after_edit failure is the call's result; any other failure is told to the worker next.
            if !passed, !(blocking && on == .afterEdit) {
                var notices = shiftState.hookNotices ?? []
                notices.append(
                    HookNotice(
                        on: on, command: command, exitCode: exitCode,
                        output: String(output.text.suffix(Hook.outputShown))))
                shiftState.hookNotices = Array(notices.suffix(5))
            }
        default: throw fail("not a shift event: \(event.kind)")
        }
    }
}
