import Foundation
public import NightshiftCore

/// Plain configuration values the use cases take. Front ends fill them from wherever their
/// settings come from (the CLI from its options); nothing here knows about argument parsing.

/// Where the event logs live.
public struct StoreConfig: Sendable, Equatable {
    /// The SQLite database file (when ``postgres`` is nil).
    public var db: String
    /// A PostgreSQL database's address (`postgres://USER@HOST:PORT/DATABASE`, its password from
    /// `PGPASSWORD` or `~/.pgpass`): when set, every run lives there instead of in ``db``, and
    /// workers on many hosts share it.
    public var postgres: String?
    /// How long to wait for another process's write lock.
    public var lockTimeoutSeconds: Int
    /// For a database the person did not name (the default, or a project's configuration's): the
    /// trust store that must know it as one Nightshift made for them. A database is data an agent
    /// or a repository can supply, and its runs' records say how to run commands (unsandboxed, with
    /// which servers and keys): only one Nightshift made here, or one a person named, is obeyed.
    /// Nil: the person named it (`--db`, `NIGHTSHIFT_DB`, their own file).
    public var mustBeKnownTo: (any TrustStore)?
    /// This process's workspace home: where it makes runs' worktrees (the configuration's
    /// `workspaces`). Nil: `worktrees/` beside the database. A run is recorded by its repository
    /// and branch, so a process with another home continues it by making the worktree again there.
    public var workspaces: String?
    public init(db: String = StoreConfig.defaultPath, lockTimeoutSeconds: Int = 5, workspaces: String? = nil) {
        self.db = db
        self.lockTimeoutSeconds = lockTimeoutSeconds
        self.workspaces = workspaces
    }

    /// The folder this process makes worktrees in (absolute).
    public var worktreesRoot: String {
        URL(
            fileURLWithPath: workspaces
                ?? URL(fileURLWithPath: db).deletingLastPathComponent().appendingPathComponent("worktrees").path
        ).standardizedFileURL.path
    }

    /// Where the runs live, for messages: the PostgreSQL address, or the SQLite file.
    public var location: String { postgres ?? db }

    public static func == (a: StoreConfig, b: StoreConfig) -> Bool {
        a.db == b.db && a.postgres == b.postgres && a.lockTimeoutSeconds == b.lockTimeoutSeconds
            && a.workspaces == b.workspaces
            && (a.mustBeKnownTo == nil) == (b.mustBeKnownTo == nil)
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
    /// Price overrides (a YAML file's content, read and checked by whoever filled this in); nil:
    /// the shipped list prices.
    public var pricing: PinnedFile?
    /// API keys from the user's own configuration file: used when neither the key file nor the
    /// environment has the variable.
    public var keys: [String: String] = [:]
    public init(model: String? = nil, roleModels: [String] = [], keyFile: String? = nil, pricing: PinnedFile? = nil) {
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
    /// Where `unsandboxed` came from ("--unsandboxed", "FILE:LINE (sha256 …)"), for the record.
    public var unsandboxedBy: String?
    public init(
        unsandboxed: Bool = false, allowNetwork: Bool = false, readOnlyPaths: [String] = [],
        unsandboxedBy: String? = nil
    ) {
        self.unsandboxed = unsandboxed
        self.allowNetwork = allowNetwork
        self.readOnlyPaths = readOnlyPaths
        self.unsandboxedBy = unsandboxedBy
    }

    /// The choice a run records when it starts.
    public var choice: SandboxChoice {
        SandboxChoice(
            unsandboxed: unsandboxed, allowNetwork: allowNetwork, readOnly: readOnlyPaths,
            unsandboxedBy: unsandboxed ? unsandboxedBy ?? "--unsandboxed" : nil)
    }

    /// The run's recorded choice with what this process's command line adds (a flag can only turn
    /// a setting on; nothing a file says later changes a run).
    public static func recorded(_ choice: SandboxChoice?, adding flags: SandboxConfig) -> SandboxConfig {
        let base = choice ?? SandboxChoice()
        var c = SandboxConfig(
            unsandboxed: base.unsandboxed || flags.unsandboxed, allowNetwork: base.allowNetwork || flags.allowNetwork,
            readOnlyPaths: base.readOnly + flags.readOnlyPaths.filter { !base.readOnly.contains($0) })
        c.unsandboxedBy =
            base.unsandboxed
            ? (base.unsandboxedBy ?? "the run's settings") + " (recorded when the run started)"
            : flags.unsandboxed ? flags.unsandboxedBy ?? "--unsandboxed" : nil
        return c
    }
}
