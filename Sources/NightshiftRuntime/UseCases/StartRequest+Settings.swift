import Foundation
import NightshiftConfig
public import NightshiftCore

extension StartRequest {
    /// Fills the request from the settings in force: the files they name, each read once and
    /// checked (a file found in a project only when a person trusted it), the pinned agent
    /// profiles, the profile `agent` with its choices under what the command line and the
    /// environment give, and where every setting came from (recorded in the run).
    /// - Throws: ``RuntimeError`` naming a file that cannot be used (untrusted, missing, invalid).
    public mutating func configure(from settings: Settings, agent: String? = nil) throws {
        useWorktree = settings.flag(.worktree) ?? true
        let mcpFile = try settings.read(.mcp)
        if let file = mcpFile {
            do {
                servers = try MCPConfigFile.parse(
                    file.text, file: file.source,
                    searchPath: ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
            } catch { throw RuntimeError(.invalidInput, "\(error)") }
        }
        policy = try settings.read(.policy)
        guidance = try settings.read(.guidance)
        baseline = settings.flag(.baseline) ?? true
        contextWindow = settings.number(.contextWindow)
        maxOutput = settings.number(.maxOutput)
        compactAt = settings.share(.compactAt) ?? compactAt
        resetAt = settings.share(.resetAt) ?? resetAt
        maxAttempts = settings.number(.maxAttempts) ?? maxAttempts
        maxTurns = settings.number(.maxTurns) ?? maxTurns
        stopOnBlocked = settings.flag(.stopOnBlocked) ?? false
        hooks = settings.hooks
        budgets = settings.budgets
        budgetsFrom = settings.budgetOrigin
        agentsFolder = settings.agentsFolder
        profiles = try settings.profiles()
        embeddings = settings.text(.embeddings)
        embeddingsMinSimilarity = settings.share(.embeddingsMinSimilarity)
        store = settings.store
        models = try settings.modelConfig()
        sandbox = settings.sandbox
        trust = settings.trust.store
        sources = settings.sources
        if settings.trust.trustProject, let project = settings.project {
            sources.append(
                SettingSource(key: "trust", value: "--trust-project", source: "\(project.source) used untrusted"))
        }
        /// Set on the command line or in the environment: over a profile's choice.
        func given(_ key: ConfigKey) -> Bool {
            settings.layers.contains {
                ($0.name == "command line" || $0.name == "environment") && $0.layer.values[key] != nil
            }
        }
        policyNamed = given(.policy)
        if let agent {
            // The profile's choices, under what the command line and the environment say.
            guard let profile = profiles.first(where: { $0.name == agent }) else {
                let known = profiles.map(\.name).joined(separator: ", ")
                throw RuntimeError(
                    .notFound,
                    "no agent profile '\(agent)' in \(settings.agentsFolder)"
                        + (known.isEmpty ? " (it has none)" : " (it has: \(known))"))
            }
            self.profile = profile
            if !given(.policy), let p = profile.policy { policy = p }
            if !given(.guidance), let g = profile.guidance { guidance = g }
            if budgets.isEmpty, let b = profile.budget {
                budgets = [.run: b]
                budgetsFrom = "profile \(profile.name)"
            }
            if let model = profile.model, !given(.model) { models.model = model }
        }
        // What is sealed in the run's workspace where it lies there.
        configurationPaths =
            [
                settings.projectRoot.map { $0 + "/.nightshift" }, settings.agentsFolder, policy?.source,
                guidance?.source, mcpFile?.source, models.pricing?.source,
            ]
            .compactMap { $0 } + profiles.flatMap { [$0.policy?.source, $0.guidance?.source].compactMap { $0 } }
            + servers.map(\.command)
    }
}
