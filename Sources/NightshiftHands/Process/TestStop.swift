import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Fault injection for the crash tests: with `NIGHTSHIFT_TEST_STOP_AT=POINT` in its environment,
/// the process stops itself (SIGSTOP) at that point, so a test can SIGKILL it exactly there. Like
/// `NIGHTSHIFT_TEST_STOP_AFTER_SEQ` for runs; unset, it does nothing.
public enum TestStop: String, CaseIterable, Sendable {
    /// The dreamer answered; the dream is not recorded yet.
    case dreamAnswered = "dream-answered"
    /// The dream is recorded; the policy has applied none of its proposals yet.
    case dreamRecorded = "dream-recorded"
    /// The policy applied one proposal.
    case dreamApplied = "dream-applied"
    /// An accepted guidance edit is in the file; the decision is not recorded yet.
    case guidanceEdited = "guidance-edited"
    /// The merge queue moved the run's branch to a merge; its scratch worktree is still there and
    /// `work_merged` is not recorded yet.
    case mergeAdvanced = "merge-advanced"
    /// `prune` wrote and synced a tree's export; none of its runs is deleted yet.
    case pruneExported = "prune-exported"

    private static let point = ProcessInfo.processInfo.environment["NIGHTSHIFT_TEST_STOP_AT"].flatMap(TestStop.init)

    public static func at(_ here: TestStop) {
        if point == here { raise(SIGSTOP) }
    }
}
