import Foundation
import NightshiftCore

/// The effect of a shift's recall: the memory bank searched for the task, and the memories that
/// fit the shift's budget recorded, so the log says what the agent was shown.
extension RunDriver {
    /// Memories looked at for one shift, before the token budget cuts them.
    static let memoriesConsidered = 10

    mutating func recallMemories(_ task: PlanTask, scopes: [MemoryScope], tokens: Int) async throws {
        var shown: [ShownMemory] = []
        if let bank = harness.memories {
            let query = ([task.description] + task.checks.map(\.command) + (task.rubric ?? [])).joined(separator: " ")
            // The log's own clock: the shift's start was just committed.
            let now = committed.lastTime
            // A bank that cannot be read leaves the shift without memories; the run goes on.
            let found = (try? await bank.search(query, scopes: scopes, limit: Self.memoriesConsidered, now: now)) ?? []
            var used = 0
            for m in found {
                let bytes = m.text.utf8.count + 16
                let cost = committed.settings.loop?.tokens(bytes: bytes) ?? bytes / 4
                guard used + cost <= tokens else { continue }
                used += cost
                shown.append(ShownMemory(m))
            }
        }
        // Vector search failed: recorded once a run (searches went on with full-text alone).
        if let hybrid = harness.memories as? HybridMemoryStore, let reason = hybrid.degradation,
            committed.shiftState.memorySearchDegraded == nil
        {
            try record([.memorySearchDegraded(reason: reason)])
        }
        try record([.memoriesShown(task: task.id, memories: shown)])
    }

    /// A `remember` the policy lets in: the intent (`memory_proposed`) is committed first; the
    /// memory is written under its derived id (found if a crash came after the write); the call's
    /// result says which. A bank that cannot take it leaves it a proposal for a person.
    mutating func writeMemory(_ decided: PendingMemoryWrite) async throws {
        guard try await beforeEffect() else { return }
        // As committed: events recorded before it (a worktree made meanwhile) moved its seq.
        let write = committed.pending.memoryWrite ?? decided
        let now = committed.lastTime  // the intent's commit time, from the log
        let result: ToolResult
        do {
            guard let bank = harness.memories else { throw MemoryError(.notFound, "this process has no memory bank") }
            do {
                _ = try await bank.apply(write.change, at: now)
            } catch let e as MemoryError where e.code == .exists {
                // Written before a crash: nothing to do again.
            }
            result = ToolResult(
                ok: true, output: Payload("remembered as \(write.id); later runs in its scope are shown it"))
        } catch {
            result = ToolResult(
                ok: true,
                output: Payload(
                    "kept as proposal \(write.id) (the bank did not take it: \(error)); a person reviews it"))
        }
        try record([.toolFinished(call: write.call, result: result)])
        try await commit()
    }
}
