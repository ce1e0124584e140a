import Foundation
import NightshiftCore
import NightshiftModels
import Testing

@Suite struct JSONValueTests {
    @Test(arguments: [
        #"{}"#, #" { "a" : 1 } "#, #"{"a":[1,2.5,-3e4,true,false,null,{"b":"c\n\u00e9\"\\/"}]}"#,
        #"{"path": "calc.py"}"#, #"{"emoji":"\ud83d\ude00","max":1.7976931348623157e308}"#,
    ])
    func acceptsObjects(text: String) {
        #expect(JSONText.isObject(text))
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any])
    }

    @Test(arguments: [
        #"{"command": "touch pwned"#, #"[1]"#, #""s""#, #"{"a":}"#, #"{"a":1,}"#, #"{"a":01}"#, #"{'a':1}"#,
        #"{"a":1} x"#,
        "{\"a\":\"tab\there\"}", #"{"a":"\x"}"#, #"{"a":1.}"#, "", "{",
        // What strict servers refuse though the grammar allows it: a lone surrogate, a reversed
        // pair, a number no double holds (llama.cpp answered HTTP 500 to these in a history).
        #"{"a":"\ud800"}"#, #"{"a":"\udc00"}"#, #"{"a":"\ude00\ud83d"}"#, #"{"a":"\ud83dx"}"#, #"{"a":1e999}"#,
        #"{"a":-1e400}"#,
    ])
    func rejectsEverythingElse(text: String) {
        #expect(!JSONText.isObject(text))
    }

    @Test func writtenValuesParseBackWithSortedKeys() throws {
        let v: JSONValue = .object([
            ("z", 1), ("a", .array([.null, true, .string("q\"\u{1}é/")])), ("m", .raw(#"{"k":[1]}"#)),
        ])
        let text = String(decoding: v.bytes, as: UTF8.self)
        #expect(text == #"{"a":[null,true,"q\"\u0001é/"],"m":{"k":[1]},"z":1}"#)
        #expect((try JSONSerialization.jsonObject(with: Data(v.bytes))) is [String: Any])
    }

    @Test func brokenModelArgumentsNeverBreakTheRequestBody() throws {
        var r = richRequest
        r.transcript.append(
            .assistant(
                text: "",
                toolCalls: [ToolCall(id: CallID("m8.1"), name: "shell", arguments: #"{"command": "touch pwned"#)]))
        let body = try AnthropicProvider.body(r, model: "m", maxTokens: 10)
        let parsed = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect(String(decoding: body, as: UTF8.self).contains("_unparsed_arguments"))
        #expect(parsed["messages"] != nil)
    }
}
