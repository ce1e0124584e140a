import NightshiftCore
import NightshiftHands
import Testing

/// The built-in tools declare what the gateway reads from their arguments; the core knows no tool
/// by its name, so a tool that forgot its trait would escape the ratchet.
@Suite struct ToolTraitsTests {
    @Test func builtInToolsDeclareTheirTraits() {
        let specs = ToolBox.standard(isolation: .none(reason: "test")).specs
        let traits = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0.traits) })
        #expect(traits["shell"] == .runsCommand)
        #expect(traits["write_file"] == .writesPath)
        #expect(traits["edit_file"] == .writesPath)
        for reader in ["read_file", "list_files", "grep"] { #expect(traits[reader] == [], "\(reader)") }
        // Writers are never idempotent: a crash mid-call puts them in doubt rather than running them twice.
        for spec in specs where spec.traits.contains(.writesPath) || spec.traits.contains(.runsCommand) {
            #expect(!spec.idempotent, "\(spec.name)")
        }
    }
}
