import Foundation

/// The tool phase of ``RunState/nextAction(tools:)``: the core tools decided whole, the policy
/// gateway, and a call's request, start, doubt and run.
extension RunState {
    /// The next step for the first pending tool call.
    func toolStep(_ tools: ToolCatalog) -> Decision {
        guard let p = pending.pendingTools.first else {
            return .emit([.runFailed(reason: "inconsistent state: no pending tool")])
        }
        if let write = pending.memoryWrite, write.call == p.call.id { return .writeMemory(write) }
        // One reading of the arguments for the gateway and the tool: a key named twice could be
        // judged as one value and run as another, and text the gateway cannot read as an object
        // would be judged as no arguments at all. Neither is run.
        if !p.requested, let repeated = p.call.parsed.repeatedKey {
            return .emit(
                notRun(p.call, "its arguments name '\(repeated.prefix(60))' more than once; give each argument once"))
        }
        if !p.requested, !p.call.parsed.isObject, CoreTool.decidedInCore(p.call.name) == nil {
            return .emit(
                notRun(
                    p.call,
                    "its arguments are not a complete JSON object (got: \(p.call.arguments.text.prefix(200))); if your "
                        + "answer was cut off at its output limit, call it again with shorter arguments (write a large "
                        + "file in parts)"))
        }
        // A core tool is decided here, whole: note and escalate always; the others when they are
        // offered to this run (one that is not goes on like any other call, and is refused below).
        let fleetTools = tools.profiles != nil || !fleet.children.isEmpty
        if !p.requested, let core = CoreTool.decidedInCore(p.call.name) {
            switch core {
            case .note: return .emit(noteEvents(p.call))
            case .escalate: return .emit(escalateEvents(p.call))
            case .remember where tools.idempotent[p.call.name] != nil: return .emit(rememberEvents(p.call))
            case .spawnAgents where fleetTools: return .emit(spawnEvents(p.call, profiles: tools.profiles))
            case .waitAgents where fleetTools: return .emit(waitStartEvents(p.call))
            case .remember, .spawnAgents, .waitAgents: break
            // Not decided here: recall is run by the runtime; the rest are never a worker's call.
            case .recall, .taskDone, .submitPlan, .submitVerdict, .writeHandoff, .submitProposals: break
            }
        }
        if fleetTools, let wait = fleet.wait, wait.call == p.call.id { return waitStep(wait) }
        // The gateway: a policy's rules, and budgets (a sub-agent's reservation needs no policy).
        if !p.requested, policy != nil || !gate.budgetOverrides.isEmpty, tools.idempotent[p.call.name] != nil {
            if let gate = gateway(p, traits: tools.traits[p.call.name] ?? []) { return .emit(gate) }
        }
        if !p.requested {
            guard let idempotent = tools.idempotent[p.call.name] else {
                let known = tools.idempotent.keys.sorted().joined(separator: ", ")
                return .emit([
                    .toolRequested(call: p.call.id, name: p.call.name, idempotent: false),
                    .toolFinished(
                        call: p.call.id,
                        result: .failure("unknown tool '\(p.call.name)'; available tools: \(known)")),
                ])
            }
            return .emit([.toolRequested(call: p.call.id, name: p.call.name, idempotent: idempotent)])
        }
        if !p.started { return .emit([.toolStarted(call: p.call.id)]) }
        if p.interrupted && !p.idempotent {
            return .emit([
                .toolInDoubt(
                    call: p.call.id,
                    reason:
                        "the process stopped while '\(p.call.name)' was running; it is not idempotent, so it was not run again"
                )
            ])
        }
        let editHooks = hooks(.afterEdit)
        if !editHooks.isEmpty, tools.traits[p.call.name]?.contains(.writesPath) == true {
            return .runToolThenHooks(
                p.call, hooks: editHooks, paths: Self.pathArgument(p.call, workspace: workspace).map { [$0] } ?? [])
        }
        return .runTool(p.call)
    }

    /// The policy gateway for the next proposed call: nil when it may be requested now; otherwise
    /// the events that decide it (a refusal, a pause for approval, a tripped breaker, a budget).
    func gateway(_ p: PendingTool, traits: ToolTraits) -> [Event]? {
        switch (p.verdict, p.approved) {
        case (nil, _):
            if let stop = breakerOrBudget(forModelCall: false, nextCall: p.call) { return stop }
            guard let policy else { return nil }  // budgets only: no rules to apply
            let key = p.call.name + " " + p.call.arguments.text
            if gate.deniedCalls.contains(key) {
                let why =
                    "the agent proposed again a call that was denied: \(p.call.name) \(p.call.arguments.text.prefix(200))"
                return [
                    .toolDecided(call: p.call.id, effect: .deny, rule: "denied before", reason: why),
                    .toolRequested(call: p.call.id, name: p.call.name, idempotent: false),
                    .toolFinished(
                        call: p.call.id,
                        result: .failure("refused: this exact call was denied before; a human has been asked")),
                    .escalated(task: current.map { tasks[$0].id }, reason: why),
                    .runPaused(
                        reason: "escalated: \(why); answer, and resume",
                        kind: .escalation),
                ]
            }
            let verdict = policy.decide(
                tool: p.call.name, arguments: p.call.parsed, traits: traits, workspace: workspace)
            var events: [Event] = [
                .toolDecided(call: p.call.id, effect: verdict.effect, rule: verdict.rule, reason: verdict.reason)
            ]
            switch verdict.effect {
            case .allow: break
            case .deny:
                events += [
                    .toolRequested(call: p.call.id, name: p.call.name, idempotent: false),
                    .toolFinished(
                        call: p.call.id, result: .failure("refused by policy (\(verdict.rule)): \(verdict.reason)")),
                ]
            case .ask:
                events.append(.runPaused(reason: approvalReason(p.call, verdict.reason), kind: .approval))
            }
            return events
        case (.ask?, nil):
            return [.runPaused(reason: approvalReason(p.call, p.verdictReason ?? ""), kind: .approval)]
        case (.ask?, false?):
            return [
                .toolRequested(call: p.call.id, name: p.call.name, idempotent: false),
                .toolFinished(call: p.call.id, result: .failure("not run: \(p.approvalNote ?? "denied")")),
            ]
        default:
            return nil  // allowed, or approved
        }
    }

    /// A call refused before it is requested: its request and its failure, in one append.
    func notRun(_ call: ToolCall, _ why: String) -> [Event] {
        [
            .toolRequested(call: call.id, name: call.name, idempotent: false),
            .toolFinished(call: call.id, result: .failure("\(call.name): not run: \(why)")),
        ]
    }

    func approvalReason(_ call: ToolCall, _ why: String) -> String {
        "awaiting approval of \(call.id): \(call.name) \(call.arguments.text.prefix(200)) (\(why))"
    }

    /// The `escalate` tool: the agent asks for a human. Decided here like `note`; the run pauses after it.
    func escalateEvents(_ call: ToolCall) -> [Event] {
        let requested = Event.toolRequested(call: call.id, name: call.name, idempotent: true)
        guard let reason = call.decoded(EscalateArguments.self)?.reason.trimmingCharacters(in: .whitespacesAndNewlines),
            !reason.isEmpty
        else {
            return [
                requested,
                .toolFinished(call: call.id, result: .failure("escalate: the arguments must be {\"reason\": \"...\"}")),
            ]
        }
        let kept = String(reason.prefix(ToolSpec.noteLimit))
        return [
            requested, .toolStarted(call: call.id), .escalated(task: current.map { tasks[$0].id }, reason: kept),
            .toolFinished(
                call: call.id, result: ToolResult(ok: true, output: "escalated; the run waits for a human's answer")),
            .runPaused(
                reason:
                    "escalated by the agent: \(kept.prefix(300)); answer, and resume",
                kind: .escalation),
        ]
    }

    /// The `note` tool runs inside the decision: its whole effect is an event, committed with its
    /// request and result in one append, so it can never be half done or in doubt.
    func noteEvents(_ call: ToolCall) -> [Event] {
        let requested = Event.toolRequested(call: call.id, name: call.name, idempotent: true)
        guard let raw = call.decoded(NoteArguments.self)?.text else {
            return [
                requested,
                .toolFinished(call: call.id, result: .failure("note: the arguments must be {\"text\": \"...\"}")),
            ]
        }
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            return [requested, .toolFinished(call: call.id, result: .failure("note: the text is empty"))]
        }
        let limit = ToolSpec.noteLimit
        let kept = text.count > limit ? String(text.prefix(limit)) + " […]" : text
        let task = current.map { tasks[$0].id }
        return [
            requested, .toolStarted(call: call.id), .noteAdded(task: task, text: kept),
            .toolFinished(
                call: call.id,
                result: ToolResult(
                    ok: true,
                    output: Payload(
                        "noted" + (text.count > limit ? " (cut to \(limit) characters)" : "")
                            + "; the handoff note carries it to later turns and tasks"))),
        ]
    }
}
