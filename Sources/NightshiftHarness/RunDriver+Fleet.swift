import Foundation
import NightshiftCore

/// The effects of a coordinator's steps: making its children's runs, and looking at how they ended.
extension RunDriver {
    /// Makes the runs the log records as spawned and not yet made. After a crash the maker finds
    /// those it made before; one it cannot make ends as failed, with the reason, for the model.
    mutating func createChildren(_ children: [RunState.Fleet.Child]) async throws {
        guard try await beforeEffect() else { return }
        var events: [Event] = []
        for child in children {
            guard let maker = harness.children else {
                events.append(.childEnded(child: child.id, outcome: Self.unmade("this process cannot make sub-agents")))
                continue
            }
            guard let task = child.spec else {
                events.append(.childEnded(child: child.id, outcome: Self.unmade("its task was not recorded")))
                continue
            }
            do {
                let workspace = try await maker.make(ChildToMake(parent: committed, child: child, task: task))
                events.append(.childCreated(child: child.id, workspace: workspace))
            } catch {
                events.append(.childEnded(child: child.id, outcome: Self.unmade("\(error)")))
            }
        }
        try record(events)
        try await commit()
    }

    /// Reads each open child's log: those that ended are recorded (once: the fold refuses a
    /// second end), then the poll itself, after which the wait either ends or parks the run.
    mutating func pollChildren(_ call: CallID, _ children: [RunID]) async throws {
        var events: [Event] = []
        var open: [RunID] = []
        for id in children {
            if let state = try? await harness.store.state(of: id), let outcome = state.childOutcome {
                events.append(.childEnded(child: id, outcome: outcome))
            } else {
                open.append(id)
            }
        }
        events.append(.childrenPolled(call: call, open: open))
        try record(events)
    }

    static func unmade(_ why: String) -> ChildOutcome {
        ChildOutcome(status: .failed, summary: "the sub-agent could not be made: \(why)", branch: nil, spent: Spent())
    }
}
