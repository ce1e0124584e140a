import Foundation
import NightshiftCore
import Testing

/// `RunState` is grouped into parts in memory, but a snapshot is one flat object, as it was
/// before the parts: older snapshots decode, and newer ones keep the layout.
@Suite struct RunStateLayoutTests {
    @Test func aSnapshotIsFlatAndRoundTrips() throws {
        var state = RunState(run: RunID("r"))
        state.planning.planVersion = 3
        state.shiftState.shiftTokens = 1234
        state.gate.deniedCalls = ["shell {}"]
        state.spend.modelCalls = 7
        state.pending.pendingClaim = "done"
        state.title = "t"
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(state)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["planVersion"] as? Int == 3 && object["shiftTokens"] as? Int == 1234)
        #expect(object["deniedCalls"] as? [String] == ["shell {}"] && object["modelCalls"] as? Int == 7)
        #expect(object["pendingClaim"] as? String == "done" && object["title"] as? String == "t")
        for part in ["planning", "shiftState", "gate", "spend", "pending"] { #expect(object[part] == nil, "\(part)") }
        #expect(try JSONDecoder().decode(RunState.self, from: data) == state)
    }

    /// A snapshot as the flat struct wrote it before the parts (every key it always wrote).
    @Test func aSnapshotWrittenBeforeThePartsDecodes() throws {
        var legacy = try #require(
            try JSONSerialization.jsonObject(with: try JSONEncoder().encode(RunState(run: RunID("old"))))
                as? [String: Any])
        legacy["planVersion"] = 2
        legacy["repeatCount"] = 4
        // Optional keys written only when set, as before: absent here.
        legacy.removeValue(forKey: "hookNotices")
        let data = try JSONSerialization.data(withJSONObject: legacy)
        let state = try JSONDecoder().decode(RunState.self, from: data)
        #expect(state.run == RunID("old") && state.planning.planVersion == 2 && state.gate.repeatCount == 4)
        #expect(state.shiftState.hookNotices == nil)
    }
}
