import Crypto
import Foundation

extension ToolSpec {
    /// The worker proposes a memory. Decided in the core like `note`: the proposal is an event of
    /// the run's log, and it enters the memory bank only when a person accepts it.
    public static let remember = ToolSpec(
        name: "remember",
        description:
            "Propose a memory for later runs: one short lesson, fact, procedure or preference about this project "
            + "(what a future shift should know, not what you did). A person reviews it before it is kept.",
        idempotent: true,
        parametersSchema:
            #"{"type":"object","properties":{"text":{"type":"string"},"kind":{"type":"string","enum":["lesson","fact","procedure","preference"]},"scope":{"type":"string","enum":["project","user","agent"]},"tags":{"type":"array","items":{"type":"string"}}},"required":["text"]}"#
    )
}

extension RunState {
    /// The memory a proposal becomes when accepted: derived from the run and the call, so it can
    /// be accepted (or declined) once.
    public static func proposalID(run: RunID, call: CallID) -> MemoryID {
        let digest = SHA256.hash(data: Data("\(run.rawValue)\n\(call.rawValue)".utf8))
        return MemoryID("mem-" + digest.prefix(8).map { String(format: "%02x", $0) }.joined())
    }

    /// `remember`: checked like any memory and recorded as a proposal with the call's result, in
    /// one append. Nothing reaches the bank from here.
    func rememberEvents(_ call: ToolCall) -> [Event] {
        let requested = Event.toolRequested(call: call.id, name: call.name, idempotent: true)
        func refuse(_ m: String) -> [Event] {
            [requested, .toolFinished(call: call.id, result: .failure("remember: " + m))]
        }
        guard let memory = settings.memory else { return refuse("this run keeps no memories") }
        let arguments: RememberArguments
        switch call.decode(RememberArguments.self) {
        case let .success(a): arguments = a
        case let .failure(problem):
            return refuse(
                #"the arguments must be {"text": "...", "kind": "lesson", "scope": "project"}: "# + problem.message)
        }
        let text = arguments.text.trimmingCharacters(in: .whitespacesAndNewlines)
        let kindName = arguments.kind ?? MemoryKind.lesson.rawValue
        guard let kind = MemoryKind(rawValue: kindName) else {
            return refuse("kind must be one of: \(MemoryKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let scopeName = arguments.scope ?? MemoryScope.Kind.project.rawValue
        guard let scopeKind = MemoryScope.Kind(rawValue: scopeName),
            let scope = memory.scopes.first(where: { $0.kind == scopeKind })
        else {
            let offered = memory.scopes.map(\.kind.rawValue).joined(separator: ", ")
            return refuse("scope must be one of this run's: \(offered)")
        }
        let tags = arguments.tags?.values ?? []
        do { try MemoryRules.check(text: text, tags: tags) } catch { return refuse(error.message) }
        let id = Self.proposalID(run: run, call: call.id)
        if policy?.allowsMemoryWrite(scope.kind, kind) == true {
            // Written into the bank next (``Decision/writeMemory``); the result follows the write.
            return [
                requested, .toolStarted(call: call.id),
                .memoryProposed(call: call.id, scope: scope, kind: kind, text: text, tags: tags),
            ]
        }
        return [
            requested, .toolStarted(call: call.id),
            .memoryProposed(call: call.id, scope: scope, kind: kind, text: text, tags: tags),
            .toolFinished(
                call: call.id,
                result: ToolResult(
                    ok: true,
                    output: Payload(
                        "proposed as \(id) (\(kind), \(scope.kind.rawValue)); a person reviews it before later runs see it"
                    ))),
        ]
    }
}
