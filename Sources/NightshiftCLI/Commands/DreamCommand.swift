import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftRuntime

struct DreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dream",
        abstract: "Review finished runs with the dreamer role and propose memories and guidance edits for review.",
        discussion: """
            The dreamer reads what finished runs of the scopes went through since the last dream (failed attempts \
            and their fixes, the judge's rework reasons, escalations and answers, denied calls, compaction summaries), \
            the scopes' memories and the guidance files in force, and proposes: new memories, revisions, merges of \
            duplicates, expiries, and guidance edits (shown as diffs). Each proposal names its sources (run and event) \
            and the dreamer's reason, and waits in nightshift inbox: approve ID, or deny ID --reason. The policy's \
            memory.write may let new memories of some kinds and scopes apply without review; revisions, merges, \
            expiries and guidance edits always wait for a person. A dream is recorded whole in the memory log or not \
            at all: one that was interrupted is made again by running this again.
            """)
    @OptionGroup var store: StoreOptions
    @OptionGroup var models: ModelOptions
    @Option(
        help: ArgumentHelp(
            "A scope to review and propose into (user:NAME, agent:PROFILE, project:PATH). Repeatable. Default: this folder's project and your user.",
            valueName: "SCOPE"))
    var scope: [String] = []
    @Option(
        help: ArgumentHelp(
            "Only runs active since: an age (90m, 36h, 7d, 2w) or a UTC date or time (2026-11-20, 2026-11-20T08:00:00Z). Default: every run not yet reviewed.",
            valueName: "WHEN"))
    var since: String?
    @Option(
        help: ArgumentHelp(
            "The policy (YAML) whose memory.write says which new memories apply without review (default: the configuration's policy).",
            valueName: "FILE"))
    var policy: String?
    @Flag(help: "Print the dream as JSON.") var json = false

    func validate() throws {
        for s in scope { _ = try MemoryText.scope(s) }
        if let since, Dreaming.Request.since(since, now: 0) == nil {
            throw ValidationError("--since '\(since)' is neither an age (36h, 7d) nor a date (2026-11-20)")
        }
    }

    mutating func run() async throws {
        try await reportErrors {
            var layer = try models.layer()
            layer.set(.policy, policy.map { .text($0) }, from: "--policy")
            let settings = try store.settings(layer)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let scopes =
                try scope.isEmpty
                ? await Dreaming.scopes(directory: FileManager.default.currentDirectoryPath, user: Governance.user)
                : scope.map(MemoryText.scope)
            let request = Dreaming.Request(
                scopes: scopes, since: since.flatMap { Dreaming.Request.since($0, now: now) })
            var config = settings.store
            config.lockTimeoutSeconds = store.lockTimeout
            let outcome = try await Dreaming.run(
                request, store: config, models: try settings.modelConfig(), policy: try settings.read(.policy),
                by: Governance.user)
            if json {
                say(MemoryText.json(DreamJSON(dream: outcome.dream, applied: outcome.applied)))
                return
            }
            if !outcome.applied.isEmpty {
                say("applied by the policy: \(outcome.applied.map(\.rawValue).joined(separator: ", "))")
            }
            guard let dream = outcome.dream else {
                say(
                    "nothing new to review in \(scopes.map(\.description).joined(separator: ", ")): no finished run since the last dream"
                )
                return
            }
            let events = dream.reviewed.count
            say(
                "\(dream.id): reviewed \(events) run\(events == 1 ? "" : "s") with \(dream.model)\(MemoryText.spent(dream))"
            )
            for d in dream.interrupted ?? [] {
                say(
                    "  \(d.id), started \(MemoryText.time(d.time)) by \(d.by), asked \(d.model) and was never recorded (the process was killed): what that call cost is unknown"
                )
            }
            for p in dream.proposals {
                let state = outcome.applied.contains(p.id) ? "applied" : "waits"
                say("  \(p.id)  \(state)  \(p.action.summary)")
                for line in p.action.diff { say("      \(line)") }
                say("      why: \(p.reason)  (from \(p.sources.map { "\($0.run)#\($0.seq)" }.joined(separator: ", ")))")
            }
            for d in dream.dropped { say("  dropped: \(d)") }
            if dream.proposals.isEmpty { say("  no proposals") }
            if dream.proposals.contains(where: { !outcome.applied.contains($0.id) }) {
                say("review them: nightshift inbox; nightshift approve ID, or nightshift deny ID --reason WHY")
            }
        }
    }
}

/// `nightshift dream --json`: the dream (null when nothing was new) and what the policy applied.
struct DreamJSON: Encodable {
    var dream: Dream?
    var applied: [MemoryID]
}

/// A dream proposal in `inbox --json` and `memory proposals --json`.
struct DreamProposalJSON: Encodable {
    var kind = "dream_proposal"
    var id: MemoryID
    var dream: String
    var status: ProposalState.Status
    var action: DreamAction
    var summary: String
    var reason: String
    var sources: [ReviewedRun]
    init(_ p: ProposalState) {
        id = p.proposal.id
        dream = p.dream
        status = p.status
        action = p.proposal.action
        summary = p.proposal.action.summary
        reason = p.proposal.reason
        sources = p.proposal.sources
    }
}
