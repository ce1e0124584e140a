import Foundation
import NightshiftCore
import Testing

/// A call's arguments are parsed once into the facts the gateway and the tool box read.
@Suite struct ToolArgumentsTests {
    @Test func theFactsAreReadFromTheObject() {
        let a = ToolArguments(parsing: #"{"path":"src/a.py","command":"ls","timeout_seconds":30,"x":[1]}"#)
        #expect(a.isObject && a.path == "src/a.py" && a.command == "ls" && a.timeoutSeconds == 30)
        for text in ["", "not json", "[1]", "\"a\"", "{"] {
            let b = ToolArguments(parsing: text)
            #expect(!b.isObject && b.path == nil && b.command == nil, "\(text)")
        }
        // Only whole numbers are a timeout; a path that is not text is no path.
        #expect(ToolArguments(parsing: #"{"timeout_seconds":1.5}"#).timeoutSeconds == nil)
        #expect(ToolArguments(parsing: #"{"path":3}"#).path == nil)
    }

    @Test func theParseTravelsWithTheCallAndIsNotPartOfItsRecord() throws {
        let call = ToolCall(id: CallID("m1.1"), name: "write_file", arguments: #"{"path":"a.txt","content":"x"}"#)
        let copy = call
        #expect(copy.parsed.path == "a.txt" && call.parsed == copy.parsed)
        // Equality, hashing and the encoding see the call only.
        let fresh = ToolCall(id: CallID("m1.1"), name: "write_file", arguments: #"{"path":"a.txt","content":"x"}"#)
        #expect(call == fresh && call.hashValue == fresh.hashValue)
        let encoded = String(decoding: try JSONEncoder().encode(call), as: UTF8.self)
        #expect(!encoded.contains("slot") && encoded.contains("arguments"))
        // A changed text is parsed again, never read from the old parse.
        var edited = call
        edited.arguments = #"{"path":"b.txt"}"#
        #expect(edited.parsed.path == "b.txt")
    }
}
