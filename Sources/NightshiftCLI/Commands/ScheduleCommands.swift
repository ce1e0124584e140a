import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftRuntime

/// `nightshift schedule`: runs started at the slots of a cron expression.
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Start runs on a schedule (cron): add, list, show, pause, resume, remove.",
        discussion: """
            Schedules live in the database, never in a workspace, so no agent can add or change one. Every \
            `nightshift serve` and `nightshift worker` on the database keeps them; a slot starts at most one \
            run however many of them run (each slot is claimed in the database first). A slot's run is named \
            sched-NAME-YYYYMMDDTHHMMZ and records the schedule and the slot in its first event. The cron is \
            read in UTC unless --timezone names a zone. After downtime (no serve or worker running at a slot), \
            --catch-up skip (the default) starts nothing for the slots missed, and once starts one run for the \
            latest of them. The run is started as `nightshift run` would in --workspace, with the models \
            and sandbox of the process that keeps the schedule; the workspace's project configuration applies \
            only when you trusted it (nightshift trust).
            """,
        subcommands: [Add.self, List.self, Show.self, Pause.self, Resume.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a schedule.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Its name: letters, digits, '-' or '_'.") var name: String
        @Option(help: ArgumentHelp("When: five cron fields (\"0 2 * * 1-5\") or @hourly, @daily, @weekly…"))
        var cron: String
        @Option(help: ArgumentHelp("A plan file (YAML or JSON): read now, kept in the schedule.", valueName: "FILE"))
        var plan: String?
        @Option(help: "A goal the planner turns into a plan.") var goal: String?
        @Option(
            help: ArgumentHelp(
                "Dream instead of starting a run: over the finished runs of this memory scope (user:NAME, agent:PROFILE, project:PATH; repeatable), as `nightshift dream` does.",
                valueName: "SCOPE"))
        var dream: [String] = []
        @Flag(
            help:
                "With --goal: each run's plan waits for a person's review (nightshift approve RUN plan) before it runs."
        )
        var reviewPlan = false
        @Option(help: ArgumentHelp("The run's agent profile (of the workspace's agents).", valueName: "NAME"))
        var agent: String?
        @Option(help: ArgumentHelp("The folder the runs work in.", valueName: "DIR")) var workspace: String = "."
        @Option(help: ArgumentHelp("The IANA time zone the cron is read in.", valueName: "ZONE"))
        var timezone: String = "UTC"
        @Option(help: "After downtime: skip the missed slots, or run once for the latest.") var catchUp: String =
            "skip"

        func validate() throws {
            guard [plan != nil, goal != nil, !dream.isEmpty].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --plan FILE, --goal TEXT or --dream SCOPE")
            }
            for s in dream { _ = try MemoryText.scope(s) }
            if reviewPlan, goal == nil { throw ValidationError("--review-plan goes with --goal") }
            guard CatchUp(rawValue: catchUp) != nil else { throw ValidationError("--catch-up must be skip or once") }
        }

        mutating func run() async throws {
            try await reportErrors {
                let folder = URL(fileURLWithPath: workspace).standardizedFileURL.path
                var template = RunTemplate(
                    goal: goal, plan: try plan.map { try PlanFile.load(path: $0) },
                    dream: dream.isEmpty ? nil : try dream.map(MemoryText.scope), agent: agent, workspace: folder)
                if reviewPlan { template.reviewPlan = true }
                do { try TemplateRequests.check(template) } catch {
                    throw RuntimeError(
                        (error as? RuntimeError)?.code ?? .invalidInput,
                        "a run cannot start in \(folder) now, so no slot would: \(error)")
                }
                let entry = try await store.runtime().schedules().add(
                    name: name, cron: cron, timeZone: timezone, template: template,
                    catchUp: CatchUp(rawValue: catchUp) ?? .skip, by: Governance.user)
                say(
                    "schedule \(name) added: \(entry.schedule.cron) (\(entry.schedule.timeZone)); next slot "
                        + (entry.next.map { date($0) + " UTC" } ?? "never"))
                say("it fires while a `nightshift serve` or `nightshift worker` runs on this database")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the schedules, their next and last slots.")
        @OptionGroup var store: StoreOptions

        mutating func run() async throws {
            try await reportErrors {
                let entries = try await store.runtime().schedules().list()
                if entries.isEmpty {
                    say("no schedules (nightshift schedule add NAME --cron \"0 2 * * *\" --goal \"…\" makes one)")
                    return
                }
                say(pad("NAME", 20) + pad("CRON", 18) + pad("NEXT (UTC)", 21) + pad("LAST", 40) + "WORKS IN")
                for e in entries {
                    let s = e.schedule
                    let next = s.paused ? "paused" : e.next.map(date) ?? "never"
                    say(
                        pad(s.name, 20) + pad(s.cron + (s.timeZone == "UTC" ? "" : " \(s.timeZone)"), 18)
                            + pad(next, 21) + pad(e.last.map(slotLine) ?? "-", 40) + s.template.workspace)
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A schedule's latest slots and how each went.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The schedule's name.") var name: String
        @Option(help: "How many slots.") var limit: Int = 20

        mutating func run() async throws {
            try await reportErrors {
                let schedules = try store.runtime().schedules()
                guard let e = try await schedules.list().first(where: { $0.schedule.name == name }) else {
                    throw RuntimeError(.notFound, "no schedule named \(name) (nightshift schedule list)")
                }
                let s = e.schedule
                say(
                    "schedule \(s.name): \(s.cron) (\(s.timeZone)), catch-up \(s.catchUp.rawValue)\(s.paused ? ", paused" : "")"
                )
                say("added by \(s.createdBy) at \(date(s.created)) UTC; works in \(s.template.workspace)")
                say("starts: " + what(s.template))
                for slot in try await schedules.slots(of: name, limit: max(1, limit)) { say("  " + slotLine(slot)) }
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause a schedule: its slots start nothing.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The schedule's name.") var name: String
        mutating func run() async throws {
            try await reportErrors {
                try await store.runtime().schedules().setPaused(name, true)
                say("schedule \(name) paused")
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a paused schedule (the slots it missed while paused are not caught up).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The schedule's name.") var name: String
        mutating func run() async throws {
            try await reportErrors {
                try await store.runtime().schedules().setPaused(name, false)
                say("schedule \(name) resumed")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a schedule (its runs stay).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The schedule's name.") var name: String
        mutating func run() async throws {
            try await reportErrors {
                try await store.runtime().schedules().remove(name)
                say("schedule \(name) removed")
            }
        }
    }
}

/// What a schedule's slot does, in a few words.
func what(_ t: RunTemplate) -> String {
    if let scopes = t.dream { return "a dream over " + scopes.map(\.description).joined(separator: ", ") }
    return (t.goal.map { "goal \"\($0)\"" } ?? "plan \"\(t.plan?.title ?? "")\"") + (t.agent.map { " as \($0)" } ?? "")
}

/// A settled slot in one line: when, how, and its run or why none.
func slotLine(_ slot: ScheduleSlot) -> String {
    let what: String
    switch slot.outcome {
    case .started: what = slot.run.map { "started \($0)" } ?? "done"
    case .claimed: what = "claimed (no outcome recorded: the process ended while starting it)"
    case .skipped: what = "skipped"
    case .failed: what = "failed"
    }
    return "\(slot.slot.slotText) \(what)" + (slot.detail.map { ": \($0)" } ?? "")
}
