import Foundation
public import NightshiftCore

/// Setting a project up for Nightshift (`nightshift init`): three files in `.nightshift/` and two
/// lines in `.gitignore`. Existing files are kept unless `force`; nothing else is touched.
public enum ProjectSetup {
    public struct Result: Sendable, Equatable {
        /// One line per file: written, kept, or extended.
        public var lines: [String]
        public var written: [String]
    }

    /// The `.gitignore` lines that keep Nightshift's own state out of the repository.
    public static let ignored = [".nightshift/nightshift.db*", ".nightshift/worktrees/"]

    /// Writes the files; each configuration file it writes is trusted in `trust` (by `by`): a
    /// person asked for exactly this content. A file it keeps is not trusted by this.
    public static func write(
        into folder: String, force: Bool, trust: (any TrustStore)? = nil, by: String = "nightshift init",
        at: Timestamp = Timestamp(milliseconds: 0)
    ) throws -> Result {
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: folder).standardizedFileURL.appendingPathComponent(".nightshift")
        do {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw RuntimeError(.unavailable, "cannot create \(dir.path): \(error.localizedDescription)")
        }
        var lines: [String] = [], written: [String] = []
        for (name, text) in [
            ("config.yaml", configTemplate), ("policy.yaml", policyTemplate), ("guidance.md", guidanceTemplate),
        ] {
            let path = dir.appendingPathComponent(name).path
            if fm.fileExists(atPath: path), !force {
                lines.append("kept     .nightshift/\(name) (it exists; --force overwrites it)")
                continue
            }
            do {
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            } catch {
                throw RuntimeError(.unavailable, "cannot write \(path): \(error.localizedDescription)")
            }
            lines.append("wrote    .nightshift/\(name)" + (trust == nil ? "" : " (trusted)"))
            written.append(path)
            do { try trust?.trust(ConfigTrust.key(path), text: text, by: by, at: at) } catch {
                throw RuntimeError(.unavailable, "\(error)")
            }
        }
        let gitignore = URL(fileURLWithPath: folder).standardizedFileURL.appendingPathComponent(".gitignore").path
        let existing = (try? String(contentsOfFile: gitignore, encoding: .utf8)) ?? ""
        let present = Set(existing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        let missing = ignored.filter { !present.contains($0) }
        if missing.isEmpty {
            lines.append("kept     .gitignore (it already ignores the database and worktrees)")
        } else {
            let text =
                existing + (existing.isEmpty || existing.hasSuffix("\n") ? "" : "\n")
                + "# Nightshift's database and run worktrees\n" + missing.joined(separator: "\n") + "\n"
            do {
                try text.write(toFile: gitignore, atomically: true, encoding: .utf8)
            } catch {
                throw RuntimeError(.unavailable, "cannot write \(gitignore): \(error.localizedDescription)")
            }
            lines.append("extended .gitignore (+ \(missing.joined(separator: ", ")))")
            written.append(gitignore)
        }
        return Result(lines: lines, written: written)
    }

    static let configTemplate = """
        # Nightshift's settings for this project. Commit this file: it holds choices, never secrets (API keys
        # go in the environment, a --key-file, or under keys: in ~/.config/nightshift/config.yaml).
        # The command line wins over the environment, which wins over this file, which wins over your own
        # file and the defaults: `nightshift config` shows what is in force and where it came from.
        # Paths are relative to this project (the folder that holds .nightshift/).

        policy: .nightshift/policy.yaml
        guidance: .nightshift/guidance.md
        db: .nightshift/nightshift.db

        # The model for every role: openai:MODEL, anthropic:MODEL, openai-compatible:URL#MODEL,
        # anthropic-compatible:URL#MODEL, or scripted:FILE (the scripted test double).
        # model: openai:gpt-4o
        # roles:                       # another model for one role
        #   judge: anthropic:claude-sonnet-4-5
        # mcp: .nightshift/mcp.yaml    # MCP servers whose tools the agent may use
        # pricing: pricing.yaml        # price overrides, USD per million tokens
        # key_file: ~/.config/nightshift/keys.env

        # sandbox:
        #   unsandboxed: false         # true runs commands without bubblewrap (recorded in the log)
        #   allow_network: false
        #   read_only: []              # host paths bound read-only into the sandbox (a toolchain under /opt)
        # context:
        #   window: 128000             # default: by provider
        #   compact_at: 0.6
        #   reset_at: 0.85
        # limits:
        #   max_attempts: 3            # done claims per task before it is blocked
        #   max_turns: 200             # model turns per attempt
        # worktree: true               # false: work in the repository itself, not a worktree per run
        # baseline: true               # run every check once before the first task
        # stop_on_blocked: false

        """

    static let policyTemplate = """
        # What the agent may do without asking. The first rule that matches a call decides; a call no
        # rule matches gets `default`. After an edit, `nightshift trust` shows the change and applies it
        # from a run's next step (this file is outside the run's worktree). `nightshift run --help` and
        # the README describe every key.
        default: allow
        rules:
          - deny: shell
            command: "*rm -rf /*"
            reason: no recursive deletes outside the workspace
          - deny: shell
            command: "*rm -rf ~*"
            reason: no recursive deletes outside the workspace
          - deny: shell
            command: "*rm -rf ..*"
            reason: no recursive deletes outside the workspace
          - ask: shell
            command: "git push*"
            reason: pushing leaves this machine; a person decides
          - ask: "mcp__*"
            reason: tools of MCP servers act outside the workspace; a person decides
        protected:                     # the test ratchet: new files may be added here, existing ones never changed
          paths: ["tests/**", "test/**"]
          on_edit: deny
        budgets:
          run:  {cost_usd: 10.00, wall_minutes: 720, tool_calls: 3000}
          task: {cost_usd: 2.00, tool_calls: 400}
        breakers: {failed_checks: 4, tool_errors: 8, repeated_call: 5}

        """

    static let guidanceTemplate = """
        # Guidance for the agent

        This text is in every context the agent gets, recorded with its hash in the run's log. The agent
        cannot change it. Replace each section with what holds for this project.

        ## What you are for

        You work on this repository's tasks, one at a time, until each task's checks pass. Keep changes
        small and focused on the task; explain what you did in your notes.

        ## What you must never do

        - Change or delete existing tests to make them pass; add new tests instead.
        - Push, publish, deploy or send anything outside this machine.
        - Read or print credentials, or write them into files.
        - Delete files you did not create, outside what the task needs.

        ## When to escalate

        Use the escalate tool, with what you found, when the task is ambiguous or contradicts the code,
        when you need a permission or a decision that is not yours, or when you are stuck after a few
        different attempts.

        """
}
