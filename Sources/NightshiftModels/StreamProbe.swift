public import NightshiftCore

/// Runs recorded response bytes through the same parser and accumulators the providers use, for
/// benchmarks (the parsing cost of a call, with no network in the way).
public enum StreamProbe {
    /// Tool calls found in an OpenAI (`data: {…choices…}`) or Anthropic (typed events) stream.
    public static func toolCalls(in bytes: [UInt8]) throws -> Int {
        var parser = SSEParser()
        let events = parser.feed(bytes)
        do {
            if events.first?.data.contains("\"message_start\"") == true {
                var a = AnthropicAccumulator()
                for e in events { try a.consume(e) }
                return try a.response(configuredModel: "m").calls.count
            }
            var o = OpenAIAccumulator()
            for e in events { try o.consume(e) }
            return try o.response(configuredModel: "m").calls.count
        } catch let e as AttemptError {
            throw e.modelError
        }
    }

    /// Events parsed and decoded from an OpenAI stream.
    public static func events(in bytes: [UInt8]) throws -> Int {
        var parser = SSEParser()
        var o = OpenAIAccumulator()
        let events = parser.feed(bytes)
        do { for e in events { try o.consume(e) } } catch let e as AttemptError { throw e.modelError }
        return events.count
    }
}

extension AttemptError {
    var modelError: ModelError {
        switch self {
        case let .retryable(m, _): ModelError(m)
        case let .fatal(e): e
        }
    }
}
