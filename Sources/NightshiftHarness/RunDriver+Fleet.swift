import Foundation
import NightshiftCore

/// The effects of a coordinator's steps: making its children's runs, and looking at how they ended.
extension RunDriver {
    /// Makes the runs the log records as spawned and not yet made. After a crash the maker finds
    /// those it made before; one it cannot make ends as failed, with the reason, for the model.
    mutating func createChildren(_ children: [RunState.Fleet.Child]) async throws {
        guard try await beforeEffect() else { return }
        let (parent, maker) = (committed, harness.children)
        @Sendable func make(_ child: RunState.Fleet.Child) async -> Event {
            guard let maker else {
                return .childEnded(child: child.id, outcome: Self.unmade("this process cannot make sub-agents"))
            }
            guard let task = child.spec else {
                return .childEnded(child: child.id, outcome: Self.unmade("its task was not recorded"))
            }
            do {
                let workspace = try await maker.make(ChildToMake(parent: parent, child: child, task: task))
                return .childCreated(child: child.id, workspace: workspace)
            } catch {
                return .childEnded(child: child.id, outcome: Self.unmade("\(error)"))
            }
        }
        // A few at a time: their logs' first appends share group commits; recorded in spawn order.
        var made = [Event?](repeating: nil, count: children.count)
        await withTaskGroup(of: (Int, Event).self) { group in
            var next = 0
            func start() {
                guard next < children.count else { return }
                let (i, child) = (next, children[next])
                next += 1
                group.addTask { (i, await make(child)) }
            }
            for _ in 0..<Self.makeAtOnce { start() }
            for await (i, event) in group {
                made[i] = event
                start()
            }
        }
        try record(made.compactMap { $0 })
        try await commit()
    }

    /// Reads each open child's log: those that ended are recorded (once: the fold refuses a
    /// second end), then the poll itself, after which the wait either ends or parks the run.
    mutating func pollChildren(_ call: CallID, _ children: [RunID]) async throws {
        // Read a few logs at a time (decoding them is most of a fan-in); recorded in the wait's order.
        let store = harness.store
        var outcomes = children.map { harness.settled?.outcome(of: $0) }
        let unknown = children.indices.filter { outcomes[$0] == nil }
        await withTaskGroup(of: (Int, ChildOutcome?).self) { group in
            var next = 0
            func start() {
                guard next < unknown.count else { return }
                let (i, id) = (unknown[next], children[unknown[next]])
                next += 1
                group.addTask {
                    // The run index first: only a child that ended has its log read.
                    guard let s = try? await store.summary(of: id), s.status == .finished || s.status == .failed
                    else { return (i, nil) }
                    return (i, (try? await store.state(of: id))?.childOutcome)
                }
            }
            for _ in 0..<Self.makeAtOnce { start() }
            for await (i, outcome) in group {
                outcomes[i] = outcome
                start()
            }
        }
        var events: [Event] = []
        var open: [RunID] = []
        for (id, outcome) in zip(children, outcomes) {
            if let outcome { events.append(.childEnded(child: id, outcome: outcome)) } else { open.append(id) }
        }
        events.append(.childrenPolled(call: call, open: open))
        try record(events)
    }

    /// The merge queue's merge (its `merge_started` is committed): merge the worker's branch in a
    /// scratch worktree, run the ratchet's checks there, and only when all pass advance the run's
    /// branch, by compare-and-swap. After a crash this runs again: a merge that was already made
    /// is found (the worker's tip is in the branch) and recorded, never made a second time.
    mutating func merge(_ work: MergeWork) async throws {
        guard try await beforeEffect() else { return }
        guard let vcs = harness.vcs else {
            try record([
                .runPaused(reason: "this process cannot merge: it has no version control for the run", kind: .workspace)
            ])
            return
        }
        let workspace = committed.workspace
        let prepared: MergePrepared
        do {
            prepared = try await vcs.prepareMerge(branch: work.branch, workspace: workspace, message: work.message)
        } catch {
            try record([
                .runPaused(reason: "the merge of \(work.child) failed: \(error); resume to try again", kind: .workspace)
            ])
            return
        }
        switch prepared {
        case let .alreadyMerged(head):
            // Merged before a crash: the checkout may not have followed the branch yet.
            _ = try? await vcs.advance(workspace: workspace, from: head, to: head)
            try record([.workMerged(task: work.task, child: work.child, commit: head)])
        case let .rejected(why):
            try record([
                .workRejected(
                    task: work.task, child: work.child,
                    feedback: Payload(
                        "The work on task \(work.task) (branch \(work.branch)) could not be merged into the work merged "
                            + "since it started:\n" + why))
            ])
        case let .ready(scratch, base, merged):
            var failed: [(Check, CheckResult)] = []
            for check in work.checks {
                let result = await harness.checks.run(check, workspace: scratch)
                if result.exitCode != check.expectExit { failed.append((check, result)) }
            }
            if !failed.isEmpty {
                await vcs.discardMerge(scratch: scratch, workspace: workspace)
                var text =
                    "The work on task \(work.task) (branch \(work.branch)) merged cleanly, but the merged tree failed "
                    + "\(failed.count) of \(work.checks.count) checks (its own, or ones that passed before):\n"
                for (c, r) in failed {
                    text +=
                        "\n$ \(c.command)\nexit \(r.exitCode) (expected \(c.expectExit))\n\(r.output.suffix(1500))\n"
                }
                try record([.workRejected(task: work.task, child: work.child, feedback: Payload(text))])
            } else {
                let moved: Bool
                do { moved = try await vcs.advance(workspace: workspace, from: base, to: merged) } catch {
                    await vcs.discardMerge(scratch: scratch, workspace: workspace)
                    try record([
                        .runPaused(
                            reason:
                                "advancing the branch to the merge of \(work.child) failed: \(error); resume to try again",
                            kind: .workspace)
                    ])
                    return
                }
                await vcs.discardMerge(scratch: scratch, workspace: workspace)
                guard moved else {
                    // Only this run moves its branch; someone else did: a person must look.
                    try record([
                        .runPaused(
                            reason: "the run's branch moved while \(work.child) was being merged (someone else "
                                + "committed to it); resume to merge again onto it",
                            kind: .workspace)
                    ])
                    return
                }
                try record([.workMerged(task: work.task, child: work.child, commit: merged)])
            }
        }
        try await commit()
    }

    /// Children made, or their logs read, at once (worktrees of one repository are made by git
    /// under its lock anyway; reads beyond the cores only queue).
    static let makeAtOnce = 8

    static func unmade(_ why: String) -> ChildOutcome {
        ChildOutcome(status: .failed, summary: "the sub-agent could not be made: \(why)", branch: nil, spent: Spent())
    }
}
