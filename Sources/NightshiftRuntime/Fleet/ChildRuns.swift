import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import Synchronization

/// Makes sub-agents' runs from the profiles pinned when the fleet's root started (the
/// ``ChildRunMaker`` of every run that may spawn). A child gets its own log, linked to its parent;
/// its own workspace (a worktree on its own branch, started from the parent's branch, or an empty
/// folder beside the parent's when the parent works outside git); its profile's model, policy and
/// guidance as pinned (else the parent's, as recorded in the parent's log, never read from a
/// file); the parent's recorded sandbox, prices and sealed paths; and its reservation as its run
/// budget. Its context is its task and profile alone. Nothing here reads the profiles folder or a
/// policy file: a coordinator that rewrites them in its workspace changes nothing.
///
/// A coding fleet's worker is made the same way, as the profile `worker` when the registry has
/// one and else with the parent's model, policy and guidance; its plan is its task with the
/// parent's init script, and the checks it must keep passing as guards.
struct ChildRuns: ChildRunMaker {
    let store: any EventStore
    let registry: [PinnedProfile]
    /// Where children's workspaces go when the parent has no worktree root of its own.
    let workspacesRoot: String
    /// The workspace provider for a home (a child's worktree goes beside its parent's).
    let workspaces: @Sendable (String) -> any WorkspaceProvider
    /// Parents' policies in force, found in their logs, by parent and hash (read once a process).
    private let policies = PolicyCache()
    /// Why no sub-agent can be made for this run (it was started before profiles were pinned in
    /// runs): its spawns end failed with this reason, which its coordinator reads.
    let refusal: String?

    /// Nil when there are no profiles (the run is then not offered spawn_agents), unless the run
    /// is a coding fleet (`workers`), whose workers need no profile, or `refusal` says why none can be made.
    init?(
        store: any EventStore, registry: [PinnedProfile], worktreesRoot: String, workers: Bool = false,
        refusal: String? = nil, workspaces: @escaping @Sendable (String) -> any WorkspaceProvider
    ) {
        self.workspaces = workspaces
        guard !registry.isEmpty || workers || refusal != nil else { return nil }
        self.refusal = refusal
        self.store = store
        self.registry = registry
        self.workspacesRoot = Workspace.canonical(worktreesRoot)
    }

    var profiles: [SpawnableProfile] {
        registry.map {
            SpawnableProfile(
                name: $0.name, description: $0.description, version: $0.version, budget: $0.budget,
                maxConcurrent: $0.maxConcurrent)
        }
    }

    /// The policy in force in `parent`, as its log recorded it (the last `policy_set`).
    func parentPolicy(_ parent: RunState) async throws -> Event? {
        guard let hash = parent.gate.policyHash else { return nil }
        let key = parent.run.rawValue + "\u{0}" + hash
        if let known = policies.events.withLock({ $0[key] }) { return known }
        var found: Event?
        for e in try await store.readAll(parent.run) {
            if case let .policySet(_, _, h, _) = e.event, h == hash { found = e.event }
        }
        guard let found else {
            throw RuntimeError(.lost, "the policy in force in \(parent.run) (\(hash.prefix(12))) is not in its log")
        }
        policies.events.withLock { $0[key] = found }
        return found
    }

    func make(_ request: ChildToMake) async throws -> String {
        if let refusal { throw RuntimeError(.invalidInput, refusal) }
        let id = request.child.id
        // Made before a crash: found, never made twice.
        if try await store.summary(of: id) != nil { return try await store.state(of: id).workspace }
        let worker = request.child.call == RunState.dispatchCall
        let profile = registry.first(where: { $0.name == request.child.profile })
        if profile == nil, !worker {
            throw RuntimeError(
                .notFound, "no agent profile '\(request.child.profile)' among those pinned when the run started")
        }
        let parent = request.parent
        var events: [Event] = []
        var workspace: String
        var worktreeOf: String?
        if let repository = parent.settings.worktreeOf, let branch = parent.branch {
            // Beside the parent's worktree, from the parent's branch as it is now.
            let beside = workspaces(URL(fileURLWithPath: parent.workspace).deletingLastPathComponent().path)
            // Its log does not exist, so nothing was done in a worktree a crash left: it is made anew.
            let w = try await beside.provision(repository: repository, run: id, from: branch, remake: true)
            workspace = w.path
            worktreeOf = repository
            events.append(.workspaceProvisioned(path: w.path, branch: w.branch, base: w.commit))
        } else {
            workspace = GitWorkspace.plannedPath(run: id, worktreesRoot: workspacesRoot)
            try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
            workspace = Workspace.canonical(workspace)
        }
        var settings = RunSettings(
            maxAttempts: parent.settings.maxAttempts, stopOnBlocked: false,
            maxTurnsPerAttempt: parent.settings.maxTurnsPerAttempt, toolServers: parent.settings.toolServers,
            worktreeOf: worktreeOf,
            loop: parent.settings.loop.map { loop in
                var l = loop
                l.reviewPlan = false
                return l
            }, hooks: parent.settings.hooks)
        settings.profile = profile?.reference
        settings.parent = request.link
        // A child that may spawn spawns from the same pinned profiles.
        if !registry.isEmpty, AgentProfile.allows(profile?.tools, ToolSpec.spawnAgents.name) {
            settings.agents = parent.settings.agents
            settings.pinnedProfiles = registry
        }
        settings.sandbox = parent.settings.sandbox
        settings.sealed = parent.settings.sealed
        settings.pricing = parent.settings.pricing
        settings.sources = parent.settings.sources
        settings.policyNamed = parent.settings.policyNamed
        // The parent's project and user memories; the profile's own bank instead of the parent's.
        settings.memory = parent.settings.memory.map { memory in
            var m = memory
            m.scopes = m.scopes.filter { $0.kind != .agent } + (profile.map { [MemoryScope(.agent, $0.name)] } ?? [])
            return m
        }
        let model = profile?.model ?? parent.model
        let title =
            "\(request.child.profile): "
            + String(request.task.description.split(separator: "\n").first?.prefix(70) ?? "")
        // A worker keeps to what passed before (its guards) and prepares its worktree as the plan says.
        let plan =
            worker
            ? Plan(
                title: title, tasks: [request.task], initScript: parent.plan?.initScript,
                guards: parent.workerGuards(for: request.child.task).nilIfEmpty)
            : Plan(title: title, tasks: [request.task])
        var created: [Event] = [
            .runCreated(title: title, workspace: workspace, model: model, settings: settings), .planSet(plan: plan),
        ]
        // The profile's policy, unless the person named the run's own (then theirs holds throughout
        // the fleet). Either way a sub-agent spawns no deeper, no more and with no more network than
        // its parent's policy lets the parent. The event records the file's text and hash as they
        // are and the policy as bounded (what is enforced); its source stays the file's path, which
        // sealing reads.
        let inherited = try await parentPolicy(parent)
        if let pinned = profile?.policy, parent.settings.policyNamed != true {
            guard
                case .policySet(let policy, let source, let hash, let text) = try PolicyWatcher.event(
                    pinned, workspace: workspace)
            else { throw RuntimeError(.invalidInput, "the policy of the profile \(request.child.profile)") }
            let parentNetwork = parent.policy?.network ?? (parent.settings.sandbox?.allowNetwork ?? false)
            created.append(
                .policySet(
                    policy: policy.bounded(byParent: parent.policy, parentHasNetwork: parentNetwork), source: source,
                    hash: hash, text: text))
        } else if let inherited {
            created.append(inherited)
        }
        if let pinned = profile?.guidance {
            created.append(try GuidanceFile.event(pinned))
        } else if let spec = parent.gate.guidanceSpec {
            created.append(
                .guidanceSet(
                    source: parent.gate.guidanceSource ?? "the guidance of \(parent.run)",
                    hash: parent.gate.guidanceHash ?? PolicyWatcher.sha256(spec), text: Payload(spec)))
        }
        if !request.child.budget.isEmpty {
            created.append(.budgetSet(scope: .run, budget: request.child.budget, by: "reservation from \(parent.run)"))
        }
        created += events
        var check = RunState(run: id)
        for e in created { try check.applyUncommitted(e) }
        do {
            try await store.append(created, to: id, expectedSeq: 0)
        } catch let e as StoreError where e.code == .sequenceConflict || e.code == .runExists {
            // Made meanwhile by another process driving the same parent: that one stands.
            return try await store.state(of: id).workspace
        }
        return workspace
    }
}

extension Array {
    /// Nil for an empty array (a plan without guards records none).
    var nilIfEmpty: Self? { isEmpty ? nil : self }
}

/// Parents' policies found in their logs, shared by the copies of one maker.
final class PolicyCache: Sendable {
    let events = Mutex<[String: Event]>([:])
}
