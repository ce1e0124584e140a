import Foundation
import NightshiftCore
import Testing

/// The core tools have one list, and each name in it is the name its definition offers.
@Suite struct CoreToolTests {
    @Test func eachCoreToolIsNamedAsItsSpecOffersIt() {
        for tool in CoreTool.allCases {
            #expect(tool.spec.name == tool.rawValue)
            #expect(CoreTool(name: tool.spec.name) == tool)
        }
        #expect(CoreTool(name: "shell") == nil && CoreTool(name: "Note") == nil)
    }

    /// `note` and `escalate` decode their arguments once, as a typed value: anything but a string
    /// where one is wanted is the call's failure, recorded with the request in one append.
    @Test func aCoreToolWithArgumentsOfTheWrongShapeFails() throws {
        for (name, arguments) in [
            ("note", #"{"text": 5}"#), ("note", "[]"), ("note", #"{"txt": "a"}"#), ("escalate", #"{"reason": null}"#),
            ("escalate", "not json"),
        ] {
            var log = LogBuilder()
            try log.add(created())
            try log.advance()
            try log.add(response("m1", tools: [(name, arguments)]))
            try log.advance()
            let results = log.envelopes.compactMap { if case let .toolFinished(_, r) = $0.event { r } else { nil } }
            #expect(results.count == 1 && !results[0].ok, "\(name) \(arguments): \(results)")
            #expect(log.state.status == .running, "\(name) \(arguments)")
        }
    }
}
