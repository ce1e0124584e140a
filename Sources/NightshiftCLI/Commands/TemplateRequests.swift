import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftRuntime

/// How `serve` and `worker` make the start request of a run no person started at a terminal (the
/// API, a webhook, a schedule): as `nightshift run` in the template's workspace would, with the
/// command's model and sandbox options. The workspace's project configuration applies only when
/// a person trusted it (`nightshift trust`); `--trust-project` is never carried over, because a
/// long-lived server would then obey whatever an agent wrote in a workspace since.
struct TemplateRequests: Sendable {
    let models: ModelOptions
    let sandbox: SandboxOptions
    let home: WorkspaceHomeOptions
    let fleet: FleetOptions
    let lockTimeout: Int
    /// The database the runtime keeps (a scheduled dream reviews its runs).
    let store: StoreConfig

    func request(_ template: RunTemplate, _ source: StartRequest.Source) throws -> StartRequest {
        var layer = try models.layer()
        sandbox.add(to: &layer)
        home.add(to: &layer)
        let settings = try Self.settings(in: template.workspace, commandLine: layer)
        var r = StartRequest(source: source, workspace: template.workspace)
        if case .goal = source { r.reviewPlan = template.reviewPlan ?? false }
        r.user = Governance.user
        r.fleetConcurrency = fleet.concurrency
        try r.configure(from: settings, agent: template.agent)
        r.store.lockTimeoutSeconds = lockTimeout
        return r
    }

    /// A scheduled dream: as `nightshift dream` in the template's workspace would (its dreamer
    /// model, its policy for applying proposals), over the runtime's database.
    func dream(_ template: RunTemplate, by: String) async throws -> String {
        var layer = try models.layer()
        sandbox.add(to: &layer)
        let settings = try Self.settings(in: template.workspace, commandLine: layer)
        var store = self.store
        store.lockTimeoutSeconds = lockTimeout
        let outcome = try await Dreaming.run(
            Dreaming.Request(scopes: template.dream ?? []), store: store, models: try settings.modelConfig(),
            policy: try settings.read(.policy), by: by)
        guard let d = outcome.dream else { return "nothing new to dream over" }
        return "\(d.id): reviewed \(d.reviewed.count) run(s); \(d.proposals.count) proposal(s), "
            + "\(outcome.applied.count) applied by the policy"
    }

    /// The settings in force for a run in `workspace`, as `nightshift run` there would read them:
    /// its project's configuration (trusted only), the person's own file, the environment. A
    /// relative path in the environment (`NIGHTSHIFT_POLICY=policy.yaml`) is this process's,
    /// from where it was started, never a file of the workspace.
    static func settings(in workspace: String, commandLine: ConfigLayer) throws -> Settings {
        var environment = ProcessInfo.processInfo.environment
        let here = FileManager.default.currentDirectoryPath
        for (key, name) in Settings.environmentNames where key.isPath {
            if let value = environment[name], !value.isEmpty {
                environment[name] = ConfigFile.resolve(value, base: here)
            }
        }
        return try Settings.resolve(
            commandLine: commandLine, workingFolder: workspace, environment: environment,
            trust: ConfigTrust(store: FileTrustStore(folder: FileTrustStore.defaultFolder(environment))))
    }

    /// Whether a run could start in `template`'s workspace now (its configuration trusted, its
    /// agent there): `schedule add` says so at once rather than at every slot.
    static func check(_ template: RunTemplate) throws {
        guard template.dream == nil else { return }
        var r = StartRequest(source: .goal(template.goal ?? "check"), workspace: template.workspace)
        try r.configure(from: try settings(in: template.workspace, commandLine: ConfigLayer()), agent: template.agent)
    }

    /// The runtime's starts: API runs work in `workspace`; resumes are the worker's.
    func starts(workspace: String, resume: WorkerRequests) -> RunStarts {
        RunStarts(workspace: workspace, make: request, resume: resume.request, dream: dream)
    }
}
