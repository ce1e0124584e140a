public import NightshiftCore

/// Making a request fit the model's window by construction: the request and the room for its
/// answer (`max_tokens`) never exceed the window, whatever the history holds. Sizes are estimated
/// from bytes (the provider's bytes per token) with a margin, since the server's tokenizer is not
/// at hand; a server that still finds the request too large refuses it with HTTP 400, which
/// pauses the run with what to change.
extension RenderedPrompt {
    /// The least room an answer gets: less than this, and the request is trimmed further.
    public static let minimumOutput = 256

    /// Estimated tokens of the whole request: system prompt, task block, turns and tool schemas,
    /// plus a few tokens a message for the chat template.
    public func estimatedTokens(bytesPerTokenX100: Int) -> Int {
        var bytes = system.utf8.count + taskBlock.utf8.count
        var messages = 2
        for turn in turns {
            messages += 1
            switch turn {
            case let .assistant(text, calls):
                bytes +=
                    text.utf8.count + calls.reduce(0) { $0 + $1.name.utf8.count + $1.arguments.text.utf8.count + 16 }
            case let .toolResult(call, name, _, output):
                bytes += call.rawValue.utf8.count + name.utf8.count + output.utf8.count
            case let .user(text): bytes += text.utf8.count
            }
        }
        for tool in tools {
            bytes += tool.name.utf8.count + tool.description.utf8.count + tool.parametersSchema.utf8.count
        }
        return (bytes * 100 + bytesPerTokenX100 - 1) / max(bytesPerTokenX100, 1) + messages * 8
    }

    /// This prompt, made to fit `limits`, and the answer cap to send with it. In order, until it
    /// fits with the full cap: long texts in older turns are cut to their head and tail; the oldest
    /// exchanges (an answer with its results) leave, a note saying so in their place; the last
    /// turns' texts are cut too. Then the cap is what is left, down to ``minimumOutput``.
    /// - Throws: ``ModelError`` `tooLarge` (needs attention) when even the system prompt, the task
    ///   and the last exchange leave no room for an answer.
    public func fitted(_ limits: RequestLimits?) throws(ModelError) -> (prompt: RenderedPrompt, maxOutput: Int?) {
        guard let limits else { return (self, nil) }
        let margin = max(64, limits.window / 25)
        let room = limits.window - margin
        let bpt = limits.bytesPerTokenX100
        var p = self
        func fits(_ output: Int) -> Bool { p.estimatedTokens(bytesPerTokenX100: bpt) + output <= room }
        let full = min(limits.maxOutput, max(room / 2, Self.minimumOutput))
        if fits(limits.maxOutput) { return (p, limits.maxOutput) }
        // 1. Long outputs and texts of all but the last two turns: head and tail.
        p.turns = p.turns.enumerated().map { n, turn in n >= p.turns.count - 2 ? turn : Self.cut(turn, to: 2_000) }
        // 2. The oldest exchanges leave, whole (a result is never sent without its call).
        var dropped = 0
        while !fits(full), let end = p.firstExchangeEnd(), end < p.turns.count - 1 {
            p.turns.removeFirst(end)
            dropped += end
        }
        if dropped > 0 {
            p.turns.insert(
                .user(
                    "(Nightshift) \(dropped) earlier turns of this shift are left out: they did not fit the model's window."
                ),
                at: 0)
        }
        // 3. Whatever is left is cut harder, the last turns included.
        if !fits(full) { p.turns = p.turns.map { Self.cut($0, to: 1_000) } }
        let left = room - p.estimatedTokens(bytesPerTokenX100: bpt)
        let output = min(limits.maxOutput, left)
        guard output >= min(Self.minimumOutput, limits.maxOutput) else {
            throw ModelError(
                "the request for this call needs about \(p.estimatedTokens(bytesPerTokenX100: bpt)) tokens even cut to "
                    + "its least (system prompt, task, last turn), which leaves no room for an answer in the model's "
                    + "window of \(limits.window) tokens: give the model a larger context (the server's context size, "
                    + "then context.window or --context-window), or shorten the guidance and the task",
                code: .tooLarge, needsAttention: true)
        }
        return (p, output)
    }

    /// How many turns the oldest exchange takes: the first turn and the tool results and notes
    /// that follow it, up to the next answer of the model.
    func firstExchangeEnd() -> Int? {
        guard !turns.isEmpty else { return nil }
        var end = 1
        while end < turns.count {
            if case .assistant = turns[end] { break }
            end += 1
        }
        return end
    }

    /// `turn` with a text or output longer than `limit` bytes cut to its head and tail.
    static func cut(_ turn: Turn, to limit: Int) -> Turn {
        func shorter(_ text: String) -> String {
            let bytes = Array(text.utf8)
            guard bytes.count > limit else { return text }
            // Cut at scalar boundaries, by bytes: never by Characters, one of which can be any
            // length (a letter with thousands of combining marks would not shrink at all).
            func continuation(_ i: Int) -> Bool { i > 0 && i < bytes.count && bytes[i] & 0xC0 == 0x80 }
            var headEnd = limit / 2
            while continuation(headEnd) { headEnd -= 1 }
            var tailStart = bytes.count - limit / 2
            while continuation(tailStart) { tailStart += 1 }
            return String(decoding: bytes[..<headEnd], as: UTF8.self)
                + "\n[… \(bytes.count - headEnd - (bytes.count - tailStart)) bytes left out to fit the model's window …]\n"
                + String(decoding: bytes[tailStart...], as: UTF8.self)
        }
        switch turn {
        case let .assistant(text, calls):
            // Arguments too long to keep (a whole file written) are left out whole: a cut one is not JSON.
            let kept = calls.map { call in
                call.arguments.text.utf8.count <= limit
                    ? call
                    : ToolCall(
                        id: call.id, name: call.name,
                        arguments: Payload(
                            "{\"_left_out\":\"\(call.arguments.text.utf8.count) bytes of arguments, left out to fit the model's window\"}"
                        ))
            }
            return .assistant(text: shorter(text), calls: kept)
        case let .toolResult(call, name, ok, output):
            return .toolResult(call: call, name: name, ok: ok, output: shorter(output))
        case let .user(text): return .user(shorter(text))
        }
    }
}
