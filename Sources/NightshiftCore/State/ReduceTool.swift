extension RunState {
    /// Tool calls of a model response: requested, started, finished or in doubt.
    mutating func reduceTool(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .toolRequested(call, name, idempotent):
            guard phase == .runningTools, let k = pending.pendingTools.firstIndex(where: { !$0.requested }) else {
                throw fail("no proposed tool call awaits a request")
            }
            guard pending.pendingTools[k].call.id == call, pending.pendingTools[k].call.name == name else {
                throw fail(
                    "the next proposed call is \(pending.pendingTools[k].call.id) (\(pending.pendingTools[k].call.name))"
                )
            }
            pending.pendingTools[k].requested = true
            pending.pendingTools[k].idempotent = idempotent
            // Only where a breaker counts repeats: off the step path (and out of snapshots) otherwise.
            if policy?.breakers.repeatedCall != nil {
                let key = name + " " + pending.pendingTools[k].call.arguments.text
                gate.repeatCount = key == gate.lastCallKey ? gate.repeatCount + 1 : 1
                gate.lastCallKey = key
            }

        case let .toolStarted(call):
            guard let k = pending.pendingTools.firstIndex(where: { $0.call.id == call }), k == 0 else {
                throw fail("\(call) is not the next pending tool call")
            }
            guard pending.pendingTools[k].requested, !pending.pendingTools[k].started else {
                throw fail("\(call) is not requested or already started")
            }
            pending.pendingTools[k].started = true

        case let .toolFinished(call, result):
            guard let k = pending.pendingTools.firstIndex(where: { $0.call.id == call }), k == 0,
                pending.pendingTools[k].requested
            else {
                throw fail("\(call) is not the next requested tool call")
            }
            pending.pendingTools.removeFirst()
            if pending.memoryWrite?.call == call { pending.memoryWrite = nil }
            if fleet.wait?.call == call {
                fleet.wait = nil
                fleet.polledAtResume = nil
            }
            toolCalls += 1
            if let i = current { tasks[i].toolCalls += 1 }
            shiftState.shiftTokens += estimateTokens(bytes: result.output.text.utf8.count + 32)
            gate.consecutiveToolErrors = result.ok ? 0 : gate.consecutiveToolErrors + 1
            afterTool()

        case let .toolInDoubt(call, _):
            guard let k = pending.pendingTools.firstIndex(where: { $0.call.id == call }), k == 0,
                pending.pendingTools[k].started
            else {
                throw fail("\(call) was not started")
            }
            let p = pending.pendingTools.removeFirst()
            pending.unreportedInDoubt.append(
                InDoubtNotice(call: call, name: p.call.name, arguments: p.call.arguments.text))
            toolCalls += 1
            if let i = current { tasks[i].toolCalls += 1 }
            afterTool()
        default: throw fail("not a tool event: \(event.kind)")
        }
    }
}
