/// A command the project runs at a point of the agent's work, in the sandbox with a timeout, so
/// that lint and type errors reach the agent right after an edit rather than only at the end of a
/// task. Recorded in the run's settings when it is created. Hooks never decide whether a task is
/// done: that stays the checks' (a `before_check` hook is advisory whatever it says).
public struct Hook: Sendable, Codable, Equatable {
    /// When a hook runs.
    public enum When: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
        /// After a tool call that writes a file (a tool whose spec declares `writesPath`) finished
        /// well; the changed path is the command's argument (`"$@"` in the command).
        case afterEdit = "after_edit"
        /// Before the first model call of each shift.
        case shiftStart = "shift_start"
        /// After the worker claims a task done, before its checks run.
        case beforeCheck = "before_check"
        public var description: String { rawValue }
    }

    public var on: When
    public var command: String
    public var timeoutSeconds: Int
    /// An `after_edit` hook that fails makes the call's result that failure (the agent sees it
    /// as the tool's answer); otherwise (advisory) its output comes with the next context.
    public var blocking: Bool

    public init(on: When, command: String, timeoutSeconds: Int = 60, blocking: Bool = false) {
        self.on = on
        self.command = command
        self.timeoutSeconds = timeoutSeconds
        self.blocking = blocking
    }

    /// Output of one hook the model is shown, cut to this many bytes (its end, where errors are).
    public static let outputShown = 2000
}
