import ArgumentParser
import Foundation
import NightshiftCore
import NightshiftHarness
import NightshiftRuntime
import NightshiftSQLite

#if canImport(Glibc)
import Glibc
#endif

/// A long-running process that continues paused runs as soon as a human has acted on them
/// (approved or denied a call, raised a budget, answered an escalation), so nobody has to type
/// `resume`. Waiting runs still hold nothing: the worker only polls the run index.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Continue paused runs as soon as a human decides (approve, deny, budget, answer), and drive fleets. Runs until stopped.",
        discussion: """
            Every --poll-ms the worker looks at the runs. It resumes, with the models each was started with: a \
            paused run whose latest event is a human's (approval_decided, budget_set, guidance_given); a run \
            waiting for its sub-agents once its wait would end; and a sub-agent no live process drives (made \
            and never driven, or its process died). A run another live process holds is left to it, so \
            several workers can share one database. Stop it with Ctrl-C or SIGTERM at any time: a run it was \
            driving continues from its log on the next resume or worker, like after any crash.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var models: ModelOptions
    @OptionGroup var sandbox: SandboxOptions
    @Option(help: "Milliseconds between looks at the run index.") var pollMs: Int = 500
    @Flag(help: "Look once, resume what is ready, and exit.") var once = false
    @OptionGroup var fleet: FleetOptions

    func validate() throws {
        guard pollMs >= 10 else { throw ValidationError("--poll-ms must be at least 10") }
    }

    mutating func run() async throws {
        try await reportErrors {
            let store = try Adapters.openExistingStore(try store.resolved())
            say("worker (pid \(getpid())) watching \(self.store.dbPath)")
            var failedAt: [RunID: Int64] = [:]  // runs that could not be resumed, until their log moves
            while !Task.isCancelled {
                for ready in try await ReadyRuns.list(store: store) where failedAt[ready.run] != ready.headSeq {
                    say("resuming \(ready.run) \(ready.why)")
                    var request = ResumeRequest(run: ready.run, by: "nightshift worker (pid \(getpid()))")
                    let settings = try self.store.settings(try models.layer().adding(sandbox))
                    request.store = settings.store
                    request.store.lockTimeoutSeconds = self.store.lockTimeout
                    request.models = settings.models.keepingRecorded(models)
                    request.sandbox = settings.sandbox
                    request.decider = Governance.user
                    request.fleetConcurrency = fleet.concurrency
                    do {
                        let outcome = try await ResumeRun.resume(request, observer: RunObserver(notice: notice))
                        say("run \(ready.run) \(outcome.reason.text)")
                    } catch let busy as RuntimeError where busy.code == .busy {
                        // Another live process drives it: not a failure, and not ours to take.
                        say("run \(ready.run) skipped: \(busy.message)")
                        failedAt[ready.run] = ready.headSeq  // tried again once its log moves
                    } catch {
                        // One run's trouble (a missing key, a vanished workspace) must not stop the others.
                        say("run \(ready.run) could not be resumed: \(error)")
                        failedAt[ready.run] = ready.headSeq
                    }
                }
                if once { return }
                try await Task.sleep(for: .milliseconds(pollMs))
            }
        }
    }
}
