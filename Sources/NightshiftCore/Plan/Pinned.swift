/// Configuration as a person put it in force when a run started, recorded in the run by content.
/// The run, its resumes and every sub-agent under it use these recorded texts: nothing a run
/// uses is read again from a file the agent could have written since.

/// A configuration file's content: where it was read, its SHA-256, and its text.
public struct PinnedFile: Sendable, Codable, Equatable {
    /// The file it was read from (for people; never read again to decide anything).
    public var source: String
    /// Lowercase hex SHA-256 of `text`.
    public var sha256: String
    public var text: String

    public init(source: String, sha256: String, text: String) {
        self.source = source
        self.sha256 = sha256
        self.text = text
    }
}

/// An agent profile as it was when the run (or the run at the root of its fleet) started: what a
/// coordinator may spawn, each with the policy and guidance texts it names.
public struct PinnedProfile: Sendable, Codable, Equatable {
    public var name: String
    public var description: String
    /// The profile's version (SHA-256 over its file and the files it names, as ``AgentProfile``).
    public var version: String
    public var model: String?
    /// Globs over tool names; nil: every tool.
    public var tools: [String]?
    public var budget: Budget?
    public var maxConcurrent: Int?
    public var policy: PinnedFile?
    public var guidance: PinnedFile?

    public init(
        name: String, description: String, version: String, model: String? = nil, tools: [String]? = nil,
        budget: Budget? = nil, maxConcurrent: Int? = nil, policy: PinnedFile? = nil, guidance: PinnedFile? = nil
    ) {
        self.name = name
        self.description = description
        self.version = version
        self.model = model
        self.tools = tools
        self.budget = budget
        self.maxConcurrent = maxConcurrent
        self.policy = policy
        self.guidance = guidance
    }

    /// What a run started as this profile records of it.
    public var reference: AgentProfile.Reference { AgentProfile.Reference(name: name, version: version, tools: tools) }
}

/// How the run's commands are isolated, as chosen when it started. A resumed run keeps this
/// choice; only a flag on the command that resumes it adds to it (never a file found later).
public struct SandboxChoice: Sendable, Codable, Equatable {
    /// Commands run with no isolation at all.
    public var unsandboxed: Bool
    /// Sandboxed commands get the network (a policy that says otherwise wins).
    public var allowNetwork: Bool
    /// Host paths bound read-only into the sandbox.
    public var readOnly: [String]
    /// Where `unsandboxed` came from when it is on ("--unsandboxed", "FILE:LINE (sha256 …)").
    public var unsandboxedBy: String?

    public init(
        unsandboxed: Bool = false, allowNetwork: Bool = false, readOnly: [String] = [], unsandboxedBy: String? = nil
    ) {
        self.unsandboxed = unsandboxed
        self.allowNetwork = allowNetwork
        self.readOnly = readOnly
        self.unsandboxedBy = unsandboxedBy
    }
}

/// One setting in force when the run started, with where it came from: `--flag`, an environment
/// variable, `FILE:LINE (sha256 …)` for a configuration file, or `default`.
public struct SettingSource: Sendable, Codable, Equatable {
    public var key: String
    public var value: String
    public var source: String

    public init(key: String, value: String, source: String) {
        self.key = key
        self.value = value
        self.source = source
    }
}
