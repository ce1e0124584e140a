/// Plain configuration values the use cases take. Front ends fill them from wherever their
/// settings come from (the CLI from its options); nothing here knows about argument parsing.

/// Where the event logs live.
public struct StoreConfig: Sendable, Equatable {
    /// The SQLite database file.
    public var db: String
    /// How long to wait for another process's write lock.
    public var lockTimeoutSeconds: Int
    public init(db: String = StoreConfig.defaultPath, lockTimeoutSeconds: Int = 5) {
        self.db = db
        self.lockTimeoutSeconds = lockTimeoutSeconds
    }
    /// The database a project uses unless told otherwise: in a folder of its own, so the sandbox
    /// can hide that folder when it lies in the workspace.
    public static let defaultPath = ".nightshift/nightshift.db"
}

/// Which models a run uses and where their keys and prices come from.
public struct ModelConfig: Sendable, Equatable {
    /// The spec for every role (e.g. `openai:gpt-4o`, `scripted:scenario.yaml`); nil on resume
    /// keeps the one the run was started with.
    public var model: String?
    /// `ROLE=SPEC` entries: another model for one role.
    public var roleModels: [String]
    /// A file of `NAME=VALUE` lines with API keys (wins over the environment).
    public var keyFile: String?
    /// A YAML file of price overrides.
    public var pricing: String?
    /// API keys from the user's own configuration file: used when neither the key file nor the
    /// environment has the variable.
    public var keys: [String: String] = [:]
    public init(model: String? = nil, roleModels: [String] = [], keyFile: String? = nil, pricing: String? = nil) {
        self.model = model
        self.roleModels = roleModels
        self.keyFile = keyFile
        self.pricing = pricing
    }
}

/// How tool commands and checks are isolated.
public struct SandboxConfig: Sendable, Equatable {
    /// Run commands without bubblewrap (recorded in the log).
    public var unsandboxed: Bool
    /// Give sandboxed commands the network (a policy that says otherwise wins).
    public var allowNetwork: Bool
    /// Host paths bound read-only into the sandbox.
    public var readOnlyPaths: [String]
    public init(unsandboxed: Bool = false, allowNetwork: Bool = false, readOnlyPaths: [String] = []) {
        self.unsandboxed = unsandboxed
        self.allowNetwork = allowNetwork
        self.readOnlyPaths = readOnlyPaths
    }
}
