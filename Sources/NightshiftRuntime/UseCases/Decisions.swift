public import NightshiftCore

/// A human's decisions on a run: approve or deny a call or a plan, change a budget, answer an
/// escalation. The one home of their rules, for every front end (the CLI today; a server or a
/// fleet driver later): the log must verify from its first event, the run must be waiting for
/// exactly this decision, the decider must be one of the policy's approvers, and the event is
/// appended once, deciding again on the new state if another writer got there first.
public struct Decisions: Sendable {
    public let store: any EventStore
    /// Who decides: established by the front end (the CLI uses the OS user), never typed by the caller.
    public let decider: String

    public init(store: any EventStore, decider: String) {
        self.store = store
        self.decider = decider
    }

    /// Approves call `call` (e.g. "m3.1"), or the plan waiting for review (`call` "plan").
    /// - Parameter seen: the SHA-256 (hex) of the arguments the person was shown, when the front end
    ///   knows it (a page opened hours ago): refused if the call waiting now has other arguments.
    ///   For the plan, the version the person was shown ("3"): refused if another waits now.
    @discardableResult
    public func approve(
        _ run: RunID, call: String, note: String = "", seen: String? = nil
    ) async throws(DecisionError) -> RunState {
        if call == "plan" { return try await decidePlan(run, approved: true, note: note, seen: seen) }
        return try await decideCall(run, call: call, approved: true, note: note, seen: seen)
    }

    /// Denies call `call`, or the plan (the planner then makes a new version). The reason is what
    /// the model or planner reads instead of a result: it may not be blank.
    @discardableResult
    public func deny(
        _ run: RunID, call: String, reason: String, seen: String? = nil
    ) async throws(DecisionError) -> RunState {
        guard !Self.isBlank(reason) else {
            throw DecisionError(.invalid, "a denial needs a reason that says why; it may not be blank")
        }
        if call == "plan" { return try await decidePlan(run, approved: false, note: reason, seen: seen) }
        return try await decideCall(run, call: call, approved: false, note: reason, seen: seen)
    }

    /// A budget change as a person asks for it (dollars as text, minutes), checked: at least one
    /// limit, none negative, dollars that parse, wall time within a century. Every front end reads
    /// a budget request through this.
    public static func budgetChange(
        cost: String?, tokens: Int?, toolCalls: Int?, steps: Int?, wallMinutes: Int?
    ) throws(DecisionError) -> Budget {
        guard cost != nil || tokens != nil || toolCalls != nil || steps != nil || wallMinutes != nil else {
            throw DecisionError(.invalid, "name at least one limit: cost, tokens, tool calls, steps or wall minutes")
        }
        for v in [tokens, toolCalls, steps, wallMinutes].compactMap({ $0 }) where v < 0 {
            throw DecisionError(.invalid, "limits must not be negative")
        }
        if let wallMinutes, wallMinutes > Budget.maxWallMinutes {
            throw DecisionError(.invalid, "wall minutes must be at most \(Budget.maxWallMinutes) (a century)")
        }
        var pico: Int64?
        if let cost {
            guard let p = Money.parseUSD(cost) else { throw DecisionError(.invalid, "cost takes dollars like 5.00") }
            pico = p
        }
        return Budget(
            tokens: tokens, costPicoUSD: pico, toolCalls: toolCalls, steps: steps,
            wallSeconds: wallMinutes.map { $0 * 60 })
    }

    /// Changes the run's or the per-task budget; unset limits keep their values.
    @discardableResult
    public func setBudget(_ run: RunID, scope: BudgetScope, change: Budget) async throws(DecisionError) -> RunState {
        if let problem = change.outOfRange { throw DecisionError(.invalid, "the budget: \(problem)") }
        return try await append(run) { state throws(DecisionError) in
            if scope == .run, let parent = state.settings.parent {
                throw DecisionError(
                    .notAllowed,
                    "\(run) is a sub-agent: its run budget is its reservation from \(parent.run), which cannot grow; "
                        + "raise \(parent.run)'s budget and let it spawn again, or set a --task budget")
            }
            var b = state.gate.budgetOverrides[scope] ?? Budget()
            b.tokens = change.tokens ?? b.tokens
            b.costPicoUSD = change.costPicoUSD ?? b.costPicoUSD
            b.toolCalls = change.toolCalls ?? b.toolCalls
            b.steps = change.steps ?? b.steps
            b.wallSeconds = change.wallSeconds ?? b.wallSeconds
            return .budgetSet(scope: scope, budget: b, by: decider)
        }
    }

    /// Guidance the agent's next contexts include (an answer to an escalation).
    @discardableResult
    public func answer(_ run: RunID, text: String) async throws(DecisionError) -> RunState {
        guard !Self.isBlank(text) else { throw DecisionError(.invalid, "the guidance text is empty") }
        return try await append(run) { _ in .guidanceGiven(text: text, by: decider) }
    }

    /// The refusal of a decision on a log that went back, with the way on.
    static func rolledBack(_ run: RunID, _ what: String) -> String {
        what + "; no decision was recorded. Restore the lost file, or accept the loss with nightshift resume \(run) "
            + "--accept-rollback, then decide again"
    }

    /// Whether a text says nothing: empty, or only spaces, line breaks, control and format characters.
    public static func isBlank(_ text: String) -> Bool {
        !text.unicodeScalars.contains { s in
            !s.properties.isWhitespace && s.properties.generalCategory != .control
                && s.properties.generalCategory != .format
        }
    }

    func decideCall(
        _ run: RunID, call: String, approved: Bool, note: String, seen: String? = nil
    ) async throws(DecisionError) -> RunState {
        try await append(run) { state throws(DecisionError) in
            guard let p = state.pending.pendingTools.first(where: { $0.call.id.rawValue == call }) else {
                throw DecisionError(
                    .notWaiting,
                    "call \(call) of run \(run) is not waiting for approval (nightshift inbox lists what waits)")
            }
            guard p.verdict == .ask, !p.requested else {
                throw DecisionError(.notWaiting, "call \(call) of run \(run) did not ask for approval")
            }
            guard p.approved == nil else {
                throw DecisionError(
                    .alreadyDecided, "call \(call) of run \(run) was already decided (\(p.approvalNote ?? ""))")
            }
            if let seen, seen.lowercased() != p.call.arguments.sha256Hex {
                throw DecisionError(
                    .changed,
                    "call \(call) of run \(run) now waits with other arguments than the ones shown: look again")
            }
            return .approvalDecided(
                call: p.call.id, approved: approved, by: decider, note: note, argumentsHash: p.call.arguments.sha256Hex)
        }
    }

    /// The plan as a whole (`run --review-plan`): approved, it is worked on; denied, the planner
    /// makes a new version with the reason as its input.
    func decidePlan(
        _ run: RunID, approved: Bool, note: String, seen: String? = nil
    ) async throws(DecisionError) -> RunState {
        try await append(run) { state throws(DecisionError) in
            guard state.plan != nil, state.settings.loop?.reviewPlan == true, state.goal != nil else {
                throw DecisionError(
                    .notWaiting,
                    "run \(run) has no plan waiting for review (only a run started with --goal and --review-plan has one)"
                )
            }
            guard !state.planning.planApproved, state.current == nil, !state.planning.replanning else {
                throw DecisionError(
                    .alreadyDecided, "plan version \(state.planning.planVersion) of run \(run) was already decided")
            }
            if let seen, seen != String(state.planning.planVersion) {
                throw DecisionError(
                    .changed,
                    "the plan waiting now is version \(state.planning.planVersion), not the version \(seen) that was shown: look again before deciding"
                )
            }
            return approved
                ? .planApproved(version: state.planning.planVersion, by: decider, note: note)
                : .planRejected(version: state.planning.planVersion, by: Decider(rawValue: decider), reason: note)
        }
    }

    /// Appends a human's event to `run`, re-reading the log if another writer appended first.
    /// `decide` sees the current state and returns the event, or throws why it is refused.
    func append(
        _ run: RunID, _ decide: (RunState) throws(DecisionError) -> Event
    ) async throws(DecisionError) -> RunState {
        do {
            guard try await store.summary(of: run) != nil else {
                throw DecisionError(.notFound, "no run \(run) (nightshift status lists the runs)")
            }
            // Nor to a log that went back from the head witnessed beside the database: the lost
            // events' work would be done again once the run goes on, and the decision's append
            // would move the witness over the loss. (The store refuses such an append too.)
            if let rollback = try await Leasing.rollback(run, store: store) {
                throw DecisionError(.rolledBack, Self.rolledBack(run, rollback.message))
            }
            // The most audit-sensitive event is never appended to a log that does not verify from
            // its first event (reading the state below checks only the snapshot's tail).
            let chain = try await store.verifyChain(run)
            if let bad = chain.firstBadSeq {
                throw DecisionError(
                    .brokenLog,
                    """
                    run \(run)'s log does not verify at event \(bad) (\(chain.problem ?? "broken chain")); no decision was recorded. \
                    See nightshift audit verify \(run)
                    """)
            }
            for _ in 0..<10 {
                var state = try await store.state(of: run)
                if state.isTerminal {
                    throw DecisionError(.ended, "run \(run) already \(state.status.rawValue); nothing to decide")
                }
                let event = try decide(state)
                if let approvers = state.policy?.approvers, !approvers.isEmpty, !approvers.contains(decider) {
                    throw DecisionError(
                        .notAllowed,
                        "\(decider) may not decide for run \(run): its policy names the approvers \(approvers.joined(separator: ", "))"
                    )
                }
                do {
                    for e in try await store.append([event], to: run, expectedSeq: state.lastSeq) { try state.apply(e) }
                    return state
                } catch let error as StoreError where error.code == .sequenceConflict {
                    continue  // the run moved on meanwhile: decide again on the new state
                } catch let error as StoreError where error.code == .rolledBack {
                    throw DecisionError(.rolledBack, Self.rolledBack(run, error.message))
                }
            }
            throw DecisionError(.busy, "run \(run) keeps changing; try again")
        } catch let error as DecisionError {
            throw error
        } catch {
            throw DecisionError(.store, "\(error)")
        }
    }
}

/// Why a decision was not recorded. `Code` is a struct over a private enum, so new codes do not
/// break callers' switches; the message is one line for a person.
public struct DecisionError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case notFound, notWaiting, alreadyDecided, notAllowed, ended, brokenLog, rolledBack, invalid, busy, store
            case changed
        }
        /// A stable name a front end may show or map (an HTTP problem's code).
        public var description: String { base.rawValue }
        private let base: Base
        private init(_ b: Base) { base = b }
        public static let notFound = Code(.notFound)
        /// Nothing of that kind waits for a decision.
        public static let notWaiting = Code(.notWaiting)
        public static let alreadyDecided = Code(.alreadyDecided)
        /// What waits is not what the person was shown (the arguments changed since).
        public static let changed = Code(.changed)
        /// The decider is not one of the policy's approvers.
        public static let notAllowed = Code(.notAllowed)
        /// The run finished or failed.
        public static let ended = Code(.ended)
        /// The log does not verify: nothing is appended to it.
        public static let brokenLog = Code(.brokenLog)
        /// The log went back from its head witness: nothing is appended until a person accepts the loss.
        public static let rolledBack = Code(.rolledBack)
        public static let invalid = Code(.invalid)
        public static let busy = Code(.busy)
        public static let store = Code(.store)
    }

    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
