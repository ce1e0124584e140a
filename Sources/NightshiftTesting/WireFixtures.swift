import Foundation

/// Streamed responses in the providers' wire formats, for tests that drive whole runs.
public enum OpenAIWire {
    static func chunk(_ delta: String, finish: String? = nil) -> String {
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":\(delta),\"finish_reason\":\(finish.map { "\"\($0)\"" } ?? "null")}]}\n\n"
    }

    /// One tool call (arguments split in two pieces), a usage chunk, [DONE].
    public static func toolCall(
        _ name: String, _ argumentsJSON: String, promptTokens: Int = 500, completionTokens: Int = 20
    ) -> [String] {
        // Split the text first, then escape each piece: a cut inside an escape sequence would not be JSON.
        func escape(_ s: Substring) -> String {
            s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        }
        let cut = argumentsJSON.index(argumentsJSON.startIndex, offsetBy: argumentsJSON.count / 2)
        let (a, b) = (escape(argumentsJSON[..<cut]), escape(argumentsJSON[cut...]))
        return [
            chunk(#"{"role":"assistant","content":"Working."}"#),
            chunk(
                #"{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"\#(name)","arguments":"\#(a)"}}]}"#
            ),
            chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"\#(b)"}}]}"#),
            chunk("{}", finish: "tool_calls"),
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":\(promptTokens),\"completion_tokens\":\(completionTokens),\"total_tokens\":\(promptTokens + completionTokens)}}\n\n",
            "data: [DONE]\n\n",
        ]
    }

    /// The worker claims the task done.
    public static func done(_ summary: String) -> [String] {
        toolCall("task_done", "{\"summary\":\"\(summary)\"}")
    }
}
