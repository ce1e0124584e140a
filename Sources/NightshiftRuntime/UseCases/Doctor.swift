import Foundation
public import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftModels

/// What works on this machine for the settings in force, and what does not, each with its fix:
/// the sandbox, the process cap, git, the store, each model (a tiny request, its cost said
/// first, unless model calls are off), each MCP server (started, its tools listed), the audit key.
public enum Doctor {
    /// `note`: said before something is done (what a model probe may cost); not a verdict.
    public enum Severity: String, Sendable { case ok, warn, fail, note }

    public struct Finding: Sendable, Equatable {
        public var check: String
        public var severity: Severity
        public var detail: String
        /// What to do about it, when it is not ok.
        public var fix: String?
    }

    public static func examine(
        _ settings: Settings, modelCalls: Bool, environment: [String: String] = [:],
        report: @Sendable (Finding) -> Void = { _ in }
    ) async -> [Finding] {
        var findings: [Finding] = []
        func add(_ f: Finding) {
            findings.append(f)
            report(f)
        }
        if let untrusted = settings.untrusted {
            // Set aside: nothing it names is started, contacted or sent a key.
            add(
                Finding(
                    check: "configuration", severity: .fail, detail: untrusted.message,
                    fix: "review it with nightshift trust; until then nothing it says is used"))
        }
        add(sandbox(environment["NIGHTSHIFT_BWRAP"]))
        add(
            Isolation.processCap.map {
                Finding(check: "process cap", severity: .ok, detail: "\($0) caps each command's processes")
            }
                ?? Finding(
                    check: "process cap", severity: .warn,
                    detail:
                        "nothing caps a command's processes: no writable pids cgroup, and RLIMIT_NPROC does not bind root",
                    fix: "run Nightshift as an ordinary user, or where the cgroup v2 pids controller is writable"))
        add(await git())
        add(await store(settings.store))
        do {
            for f in await models(try settings.modelConfig(), modelCalls: modelCalls, report: report) { add(f) }
        } catch {
            add(Finding(check: "model", severity: .fail, detail: "\(error)", fix: "see the file named"))
        }
        for f in await toolServers(settings) { add(f) }
        add(auditKey())
        return findings
    }

    static func sandbox(_ bwrap: String?) -> Finding {
        switch Isolation.detect(bwrap: bwrap) {
        case let .success(isolation):
            return Finding(check: "sandbox", severity: .ok, detail: "\(isolation.label): commands run isolated")
        case let .failure(why):
            return Finding(
                check: "sandbox", severity: .fail, detail: why.reason,
                fix:
                    "apt-get install bubblewrap, and allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1); or pass --unsandboxed for trusted work only"
            )
        }
    }

    static func git() async -> Finding {
        let r = await ProcessRunner.run(
            argv: ["/usr/bin/env", "git", "--version"], environment: ["PATH": "/usr/local/bin:/usr/bin:/bin"],
            cwd: "/", timeout: .seconds(10))
        guard r.exitCode == 0 else {
            return Finding(
                check: "git", severity: .fail, detail: "git is not installed",
                fix: "apt-get install git (worktrees per run, commits and the judge's diff need it)")
        }
        return Finding(check: "git", severity: .ok, detail: r.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func store(_ config: StoreConfig) async -> Finding {
        if config.postgres != nil {
            // Connected and its schema checked (made, or brought up to this binary's, on first use).
            do {
                let store = try Adapters.openStore(config)
                let runs = try await store.runs(status: nil, limit: 1, offset: 0).total
                let clock = try await store.leaseClock().map {
                    abs($0.milliseconds - Adapters.clock.now().milliseconds)
                }
                let skew =
                    clock.map {
                        $0 > 2000
                            ? "; this host's clock is \($0 / 1000) s off the database's (leases use the database's)"
                            : ""
                    } ?? ""
                return Finding(
                    check: "store", severity: .ok, detail: "\(store.location) answers: \(runs) runs\(skew)")
            } catch {
                return Finding(
                    check: "store", severity: .fail, detail: "\(error)",
                    fix: "check the address, the server, and PGPASSWORD or ~/.pgpass")
            }
        }
        let fm = FileManager.default
        if fm.fileExists(atPath: config.db) {
            do {
                _ = try Adapters.openExistingStore(config)
                return Finding(check: "store", severity: .ok, detail: "\(config.db) opens")
            } catch {
                return Finding(
                    check: "store", severity: .fail, detail: "\(config.db) does not open: \(error)",
                    fix: "check its permissions, or restore it from a copy")
            }
        }
        var folder = URL(fileURLWithPath: config.db).deletingLastPathComponent().standardizedFileURL.path
        while !fm.fileExists(atPath: folder), folder != "/" {
            folder = URL(fileURLWithPath: folder).deletingLastPathComponent().path
        }
        guard fm.isWritableFile(atPath: folder) else {
            return Finding(
                check: "store", severity: .fail, detail: "\(config.db) cannot be created: \(folder) is not writable",
                fix: "pass --db PATH (or db: in the configuration) somewhere writable")
        }
        return Finding(check: "store", severity: .ok, detail: "no database yet; the first run creates \(config.db)")
    }

    static func models(
        _ config: ModelConfig, modelCalls: Bool, report: @Sendable (Finding) -> Void
    ) async -> [Finding] {
        var specs: [(role: String, spec: String)] = []
        if let model = config.model { specs.append(("every role", model)) }
        for entry in config.roleModels {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            specs.append((String(entry[..<eq]), String(entry[entry.index(after: eq)...])))
        }
        guard !specs.isEmpty else {
            return [
                Finding(
                    check: "model", severity: .warn, detail: "no model is configured",
                    fix: "set model: in .nightshift/config.yaml, or pass --model")
            ]
        }
        var findings: [Finding] = []
        for (role, text) in specs {
            let check = "model \(text) (\(role))"
            var one = config
            one.model = text
            one.roleModels = []
            var http = ModelHTTPSettings()
            http.maxAttempts = 1
            if text.hasPrefix("scripted:") {
                // The scripted test double plays a scenario's turns: loading it is the whole check.
                do {
                    _ = try await Adapters.models(one)
                    findings.append(
                        Finding(check: check, severity: .ok, detail: "the scripted test double; its scenario loads"))
                } catch {
                    findings.append(
                        Finding(check: check, severity: .fail, detail: "\(error)", fix: "fix the scenario file"))
                }
                continue
            }
            // A client made for this check only is shut down after it, awaited.
            var made: ModelHTTPClient?
            do {
                let (provider, client) = try await Adapters.models(one, http: http)
                made = client
                guard modelCalls else {
                    findings.append(
                        Finding(
                            check: check, severity: .ok,
                            detail: "configured, key found (no call made: --no-model-calls)"))
                    try? await client?.shutdown()
                    continue
                }
                report(Finding(check: check, severity: .note, detail: "sending one probe: " + estimate(text, config)))
                let response = try await provider.respond(to: probe)
                let cost = response.costPicoUSD.map { "cost \(Money.format($0))" } ?? "unpriced"
                findings.append(
                    Finding(
                        check: check, severity: .ok,
                        detail:
                            "answered (\(response.usage.input) tokens in, \(response.usage.output) out, \(cost))"))
            } catch {
                findings.append(
                    Finding(
                        check: check, severity: .fail, detail: "\(error)",
                        fix:
                            "check the spec, the key (environment, --key-file or keys:) and that the server is reachable"
                    ))
            }
            try? await made?.shutdown()
        }
        return findings
    }

    /// The smallest request that shows a model answers: one short instruction, no tools, and an
    /// answer cap of 16 tokens (a model that rambles is stopped there, not after thousands).
    static let probe: ModelRequest = {
        var r = ModelRequest(
            run: RunID("doctor"), call: CallID("m1"), role: .worker,
            task: PlanTask(id: TaskID("doctor"), description: "Reply with the single word OK.", checks: []),
            attempt: 1, turn: 0, notices: [], progressNote: nil, feedback: nil, transcript: [], tools: [])
        r.limits = RequestLimits(window: 8192, maxOutput: 16)
        return r
    }()

    /// What the probe may cost, said before it is sent: about 100 tokens in and 20 out, at list price.
    static func estimate(_ text: String, _ config: ModelConfig) -> String {
        var pricing = PricingTable.defaults
        if let file = config.pricing, let table = try? PricingFile.parse(file.text, file: file.source) {
            pricing = pricing.merging(table)
        }
        let name: String? =
            switch try? ModelSpec.parse(text) {
            case let .openAI(model, _, _)?, let .anthropic(model, _, _)?: model
            default: nil
            }
        let usage = TokenUsage(input: 100, output: 16)
        guard let name, let cost = pricing.cost(usage, model: name) else {
            return "about 100 tokens in and at most 16 out (no list price known for this model)"
        }
        return "about 100 tokens in and at most 16 out, about \(Money.format(cost)) at list price"
    }

    /// Starts each configured MCP server and lists its tools: always in the sandbox (whatever the
    /// settings say of `unsandboxed`: a check runs nothing unconfined), with only the variables the
    /// list names, from a list that was named by a person or trusted.
    static func toolServers(_ settings: Settings) async -> [Finding] {
        let servers: [ToolServer]
        do {
            guard let file = try settings.read(.mcp) else { return [] }
            servers = try MCPConfigFile.parse(
                file.text, file: file.source,
                searchPath: ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        } catch let e as RuntimeError where e.code == .untrusted {
            return [
                Finding(
                    check: "mcp", severity: .fail, detail: e.message + " (its servers were not started)",
                    fix: "review it with nightshift trust")
            ]
        } catch {
            return [Finding(check: "mcp", severity: .fail, detail: "\(error)", fix: "fix the file at the line named")]
        }
        var sandbox = settings.sandbox
        sandbox.unsandboxed = false
        let workspace = FileManager.default.temporaryDirectory
            .appendingPathComponent("nightshift-doctor-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workspace) }
        var findings: [Finding] = []
        for server in servers {
            let isolation: Isolation
            do { isolation = try Adapters.isolation(sandbox) } catch {
                findings.append(
                    Finding(
                        check: "mcp \(server.name)", severity: .fail, detail: "\(error)", fix: "see the sandbox line"))
                continue
            }
            do {
                let (runner, _) = try await MCPToolRunner.start(
                    [server], builtin: ToolBox(tools: []), isolation: isolation, workspace: workspace)
                let names = runner.specs.map(\.name)
                await runner.shutdown()
                findings.append(
                    Finding(
                        check: "mcp \(server.name)", severity: .ok,
                        detail:
                            "started in the sandbox; \(names.count) tools: \(names.prefix(8).joined(separator: ", "))"))
            } catch {
                findings.append(
                    Finding(
                        check: "mcp \(server.name)", severity: .fail, detail: "\(error)",
                        fix: "run its command by hand in the workspace to see why it stops"))
            }
        }
        return findings
    }

    static func auditKey() -> Finding {
        let path = AuditKey.defaultPath
        guard FileManager.default.fileExists(atPath: path) else {
            return Finding(
                check: "audit key", severity: .ok, detail: "none yet; `nightshift audit export` creates \(path)")
        }
        do {
            _ = try AuditKey.load(path, create: false)
            return Finding(check: "audit key", severity: .ok, detail: "\(path) loads")
        } catch {
            return Finding(
                check: "audit key", severity: .fail, detail: "\(error)",
                fix: "move the file away; a new key is made on the next export (old checkpoints then need the old key)")
        }
    }
}
