import Foundation
import NightshiftConfig
public import NightshiftCore

/// A person's review of configuration files (`nightshift trust`): what each file is, whether its
/// content is the one trusted, and what changed since; then the record that a person trusts it.
public enum TrustFiles {
    public enum Status: Sendable, Equatable {
        /// Its exact content is the one trusted.
        case trusted
        /// No person has trusted any content of it.
        case new
        /// It changed since a person trusted it: the lines that differ (nil: too long to compare).
        case changed(since: TrustedFile, lines: [LineDiff.Line]?)
    }

    public struct Item: Sendable {
        public var file: PinnedFile
        /// What it is ("the policy").
        public var what: String
        public var status: Status
        /// Whether a command uses it only when trusted (it was found, not named by a person).
        public var needsTrust: Bool
    }

    /// The files a command here would read as configuration: the project's file and every file it
    /// names, the agent profiles and the files they name. `resolve` gives the settings read with
    /// the trust it is handed (every file is read as it is, none refused, to be shown).
    public static func inForce(resolve: (ConfigTrust) throws -> Settings, store: any TrustStore) throws -> [Item] {
        let log = ConfigTrust.ReadLog()
        let settings = try resolve(ConfigTrust(store: store, trustProject: true, seen: log))
        for key in [ConfigKey.policy, .guidance, .mcp, .pricing] { _ = try settings.read(key) }
        _ = try settings.profiles()
        return try log.all.map { file, provenance, what in
            var item = try review(file, what: what, store: store)
            if case .named = provenance { item.needsTrust = false }
            return item
        }
    }

    /// The files at `paths`, named by the person reviewing them.
    public static func named(_ paths: [String], store: any TrustStore) throws -> [Item] {
        try paths.map { path in
            try review(
                ConfigTrust(store: store).read(path, .named(by: "nightshift trust"), what: "the file"),
                what: "the file",
                store: store)
        }
    }

    static func review(_ file: PinnedFile, what: String, store: any TrustStore) throws -> Item {
        let status: Status
        let key = ConfigTrust.key(file.source)
        if try store.isTrusted(key, sha256: file.sha256) {
            status = .trusted
        } else if let last = try store.lastTrusted(key) {
            status = .changed(since: last, lines: last.text.flatMap { LineDiff.changes(from: $0, to: file.text) })
        } else {
            status = .new
        }
        return Item(file: file, what: what, status: status, needsTrust: true)
    }

    /// Records that `by` trusts each item's content as it was read (not as the file may be now).
    public static func record(_ items: [Item], store: any TrustStore, by: String, at: Timestamp) throws {
        for item in items where item.status != .trusted {
            do { try store.trust(ConfigTrust.key(item.file.source), text: item.file.text, by: by, at: at) } catch {
                throw RuntimeError(.unavailable, "\(error)")
            }
        }
    }
}
