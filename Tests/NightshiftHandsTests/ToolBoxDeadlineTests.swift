import NightshiftCore
import NightshiftHands
import Testing

/// Each tool answers for its own deadline from its own limits (the box once built fresh default
/// limits for the shell's, so a box made with other limits cut long commands at the defaults).
@Suite struct ToolBoxDeadlineTests {
    func call(_ name: String, _ arguments: String) -> ToolCall {
        ToolCall(id: CallID("m1.1"), name: name, arguments: Payload(arguments))
    }

    @Test func theShellsDeadlineFollowsTheBoxsOwnLimits() {
        var limits = ToolLimits()
        limits.defaultTimeoutSeconds = 30
        limits.maxTimeoutSeconds = 7200
        let box = ToolBox.standard(isolation: .none(reason: "deadline tests"), limits: limits)
        #expect(box.deadline(for: call("shell", #"{"command":"make","timeout_seconds":5000}"#)) == .seconds(5060))
        #expect(box.deadline(for: call("shell", #"{"command":"make"}"#)) == .seconds(90))
        #expect(box.deadline(for: call("shell", #"{"command":"make","timeout_seconds":99999}"#)) == .seconds(7260))
        #expect(box.deadline(for: call("shell", #"{"command":"make","timeout_seconds":-5}"#)) == .seconds(61))
    }

    @Test func otherToolsKeepTheirsAndAnUnknownNameGetsAMinute() {
        let box = ToolBox.standard(isolation: .none(reason: "deadline tests"))
        #expect(box.deadline(for: call("git", #"{"command":"status"}"#)) == .seconds(300))
        #expect(box.deadline(for: call("read_file", #"{"path":"a"}"#)) == .seconds(60))
        #expect(box.deadline(for: call("no_such_tool", "{}")) == .seconds(60))
        #expect(box.deadline(for: call("shell", #"{"command":"x","timeout_seconds":5000}"#)) == .seconds(3660))
    }
}
