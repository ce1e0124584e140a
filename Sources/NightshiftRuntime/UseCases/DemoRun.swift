import Foundation
import NightshiftConfig
public import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite

/// `nightshift demo`'s run: a plan worked in a sample project the front end wrote, with the
/// scripted model (a test double) playing the model, on the embedded defaults. The demo runs
/// only its own scripted commands, so without bubblewrap it says so (a notice, and the log's
/// isolation line) and goes on.
public enum DemoRun {
    public struct Request: Sendable {
        public var plan: Plan
        /// The sample project: a git repository the demo just made, worked in place.
        public var project: String
        /// The scripted model's scenario file (absolute).
        public var scenario: String
        public var store: StoreConfig

        public init(plan: Plan, project: String, scenario: String, store: StoreConfig) {
            self.plan = plan
            self.project = project
            self.scenario = scenario
            self.store = store
        }
    }

    /// Creates the run (`created` is told its id before the first step, so a front end can say how
    /// to resume it) and drives it to its first stop.
    public static func run(
        _ request: Request, observer: RunObserver, created: @Sendable (RunID) -> Void
    ) async throws -> (run: RunID, reason: StopReason) {
        let model = ScriptedModelWithPath(
            ScriptedModel(scenario: try ScenarioFile.load(path: request.scenario)), path: request.scenario)
        let store = try Adapters.openStore(request.store)
        let isolation: Isolation
        switch Isolation.detect() {
        case let .success(i): isolation = i
        case let .failure(why):
            observer.notice("\(why.reason); the demo's own commands run unsandboxed (recorded in the log)")
            isolation = .none(reason: "demo without bubblewrap: \(why.reason)")
        }
        // The sample project is a repository the demo just made; its git directory is fixed now,
        // before any tool runs, like a `run --no-worktree` in a repository.
        let gitLocation = await GitWorkspace.discover(request.project)
        let harness = Adapters.harness(
            store: store, model: model, observer: observer.event, isolation: isolation,
            git: gitLocation.map { .repository($0) } ?? .none)
        let runID = Adapters.newRunID()
        try await harness.create(
            runID, title: request.plan.title, plan: request.plan, workspace: request.project,
            settings: RunSettings(maxAttempts: 3, loop: LoopSettings(), git: gitLocation))
        created(runID)
        let reason = try await Leasing.withLease(runID, store: store) { lease in
            try await harness.drive(runID, announce: [.isolationSet(mode: isolation.label)], lease: lease)
        }
        return (runID, reason)
    }
}
