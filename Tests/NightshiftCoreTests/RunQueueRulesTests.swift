import NightshiftCore
import Testing

/// The pure rule of what an append does to the run queue, and the check a worker makes before it
/// drives a queued run.
@Suite struct RunQueueRulesTests {
    let run = RunID("r")
    let parent = RunID("p")

    @Test func everyPersonsEventWakesAPausedRunAndNothingElseDoes() {
        let human = CanonicalWriterTests.events.filter { $0.actor == .human }
        #expect(
            Set(human.map(\.eventKind)).isSubset(of: [
                .approvalDecided, .budgetSet, .guidanceGiven, .planApproved, .planRejected, .rollbackAccepted,
            ]) && human.count >= 5)
        for event in CanonicalWriterTests.events where event.statusAfter == nil {
            let changes = QueueChange.after(appending: [event], to: run, status: .paused, parent: nil)
            #expect(changes == (event.actor == .human ? [.wake(run, .decision)] : []), "\(event.kind)")
        }
    }

    @Test func pausesEndsAndStartsMoveTheRunAndItsParent() {
        func after(_ e: Event, _ s: RunStatus, parent: RunID? = nil) -> [QueueChange] {
            QueueChange.after(appending: [e], to: run, status: s, parent: parent)
        }
        #expect(after(.runPaused(reason: "w", kind: .agents), .paused) == [.wake(run, .wait)])
        #expect(after(.runPaused(reason: "a", kind: .approval), .paused) == [.remove(run)])
        #expect(after(.runPaused(reason: "old text", kind: nil), .paused) == [.remove(run)])
        #expect(
            after(.runFinished(summary: ""), .finished, parent: parent) == [.remove(run), .wake(parent, .childEnded)])
        #expect(after(.runFailed(reason: ""), .failed) == [.remove(run)])
        #expect(after(.runResumed(by: "x"), .running) == [.remove(run)])
        #expect(after(.runResumed(by: "x"), .running, parent: parent) == [.wake(run, .subAgent)])
        #expect(after(.noteAdded(task: nil, text: "n"), .running, parent: parent) == [])  // the hot path pays nothing
        // A root a worker resumed stays queued while it runs; one a person resumed is theirs.
        #expect(after(.runResumed(by: "w", driver: .worker), .running) == [.wake(run, .workerDriven)])
        #expect(after(.runResumed(by: "nightshift resume", driver: nil), .running) == [.remove(run)])
    }

    @Test func theFoldKeepsWhetherAWorkerOrAPersonResumedTheRun() throws {
        var log = LogBuilder()
        let plan = Plan(title: "p", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [])])
        try log.add([
            .runCreated(title: "t", workspace: "/w", model: "m", settings: RunSettings()), .planSet(plan: plan),
            .runPaused(reason: "x", kind: .escalation), .runResumed(by: "nightshift worker (pid 1)", driver: .worker),
        ])
        #expect(log.state.driver == .worker)
        try log.add([.runPaused(reason: "x", kind: .escalation), .runResumed(by: "nightshift resume (pid 2)")])
        #expect(log.state.driver == nil)
    }

    @Test func aQueuedRunIsCheckedAgainstItsLog() throws {
        var state = RunState(run: run)
        state.status = .paused
        state.pauseKind = .approval
        let decided = Event.approvalDecided(call: CallID("m1"), approved: true, by: "a", note: "", argumentsHash: "")
        #expect(Readiness.of(state, last: decided, ended: [], now: 0) == .ready(why: "after approval_decided"))
        #expect(Readiness.of(state, last: .runPaused(reason: "x"), ended: [], now: 0) == .idle)
        // What it waits a person for, as every front end reads it; nothing while it waits for sub-agents.
        #expect(state.waitsFor?.kind == .approval && state.waitsFor?.call == nil)
        state.pauseKind = .agents
        #expect(state.waitsFor == nil)
        state.pauseKind = .approval
        state.status = .finished
        #expect(Readiness.of(state, last: decided, ended: [], now: 0) == .idle)
        state.status = .running
        #expect(Readiness.of(state, last: nil, ended: [], now: 0) == .idle)  // a root is resumed by a person
        state.driver = .worker
        #expect(
            Readiness.of(state, last: nil, ended: [], now: 0)
                == .ready(why: "(a worker drove it and its process is gone)"))
        // A worker that stopped driving it on purpose (its lease released, after an error) leaves it to a person.
        #expect(Readiness.of(state, last: nil, ended: [], now: 0, holderGone: false) == .idle)
    }
}
