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
            let now = Int64(Date().timeIntervalSince1970 * 1000)
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
        try record([.memoriesShown(task: task.id, memories: shown)])
    }
}
