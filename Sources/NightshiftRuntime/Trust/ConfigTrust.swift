import Foundation
public import NightshiftCore
import NightshiftHands
import Synchronization

/// How a configuration file reached a command: named by a person, or found where an agent could
/// have put it.
public enum ConfigProvenance: Sendable, Equatable {
    /// On the command line, in the environment, or in the person's own configuration file: the
    /// person chose it by naming it. `by` says where (`--policy`, `NIGHTSHIFT_POLICY`, `FILE:LINE`).
    case named(by: String)
    /// Found in a project (the project's `.nightshift/config.yaml` found from the working folder
    /// up, a file a project's configuration names, the profiles folder found there): used only
    /// when a person trusted its exact content. `how` says where it came from, for the record.
    case found(how: String)
}

/// Reads the files that configure Nightshift. A file a person named is theirs; a file that was
/// found is used only when its path and content hash are in the trust store (or the command was
/// given `--trust-project`, which the run records). Each file is read once and handed on as text,
/// so the content checked is the content used.
public struct ConfigTrust: Sendable {
    public let store: any TrustStore
    /// `--trust-project`: use found files as they are, this once (recorded in a run's settings).
    public let trustProject: Bool

    /// Every file read through this value, with how it came (for `nightshift trust`, which
    /// reviews what a command would read); nil: not kept.
    public let seen: ReadLog?

    public init(store: any TrustStore, trustProject: Bool = false, seen: ReadLog? = nil) {
        self.store = store
        self.trustProject = trustProject
        self.seen = seen
    }

    /// The files a ``ConfigTrust`` read, in order.
    public final class ReadLog: Sendable {
        private let files = Mutex<[(file: PinnedFile, provenance: ConfigProvenance, what: String)]>([])
        public init() {}
        public var all: [(file: PinnedFile, provenance: ConfigProvenance, what: String)] { files.withLock { $0 } }
        func add(_ file: PinnedFile, _ provenance: ConfigProvenance, _ what: String) {
            files.withLock { list in
                if !list.contains(where: { $0.file.source == file.source }) { list.append((file, provenance, what)) }
            }
        }
    }

    /// The largest configuration file read: a configuration is not a corpus.
    public static let limit = 4 << 20

    /// The path trust is recorded under: the file's real path (links resolved), so one file has
    /// one entry however it is reached.
    public static func key(_ path: String) -> String { Workspace.canonical(path) }

    /// Reads `path` for `what` ("the policy"). A found file must be trusted as it is now.
    /// - Throws: ``RuntimeError`` `.untrusted` naming the file and the command that trusts it;
    ///   `.notFound` / `.invalidInput` when it cannot be read.
    public func read(_ path: String, _ provenance: ConfigProvenance, what: String) throws -> PinnedFile {
        if case .found = provenance { try Self.refuseLink(path, what: what) }
        let text = try Self.readText(path, what: what)
        // Named as the person or the file named it (a link is not replaced by its target in what
        // is said and recorded); trusted by its real path.
        let pinned = PinnedFile(
            source: URL(fileURLWithPath: path).standardizedFileURL.path, sha256: Payload(text).sha256Hex, text: text)
        seen?.add(pinned, provenance, what)
        if case .found = provenance { try require(pinned, what: what) }
        return pinned
    }

    /// Refuses `file` unless a person trusted exactly its content (or `--trust-project` was given).
    public func require(_ file: PinnedFile, what: String) throws {
        if trustProject { return }
        let trusted: Bool
        let key = Self.key(file.source)
        do { trusted = try store.isTrusted(key, sha256: file.sha256) } catch {
            throw RuntimeError(.unavailable, "\(error)")
        }
        if trusted { return }
        let last = try? store.lastTrusted(key)
        let why =
            last.map { "it changed since \($0.by) trusted it on \(Self.date($0.at))" }
            ?? "no person has trusted it (it may have been written by an agent)"
        throw RuntimeError(
            .untrusted,
            "\(what) \(file.source) is not trusted: \(why); review and trust it with nightshift trust \(file.source), "
                + "or pass --trust-project to use it as it is this once")
    }

    /// How `file` is trusted, for the record: `trusted by alice`, `--trust-project`, or the person
    /// who named it.
    public func describe(_ file: PinnedFile, _ provenance: ConfigProvenance) -> String {
        let hash = "sha256 \(file.sha256.prefix(12))"
        switch provenance {
        case let .named(by): return "\(hash), named by \(by)"
        case .found:
            if let last = try? store.lastTrusted(Self.key(file.source)), last.sha256 == file.sha256 {
                return "\(hash), trusted by \(last.by)"
            }
            return "\(hash), used with --trust-project"
        }
    }

    /// A found configuration file may not be a symbolic link: trust is for a file where it lies,
    /// and a link to a trusted file elsewhere would lend it that trust in another project.
    static func refuseLink(_ path: String, what: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { return }
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
        throw RuntimeError(
            .untrusted,
            "\(what) \(path) is a symbolic link (to \(target)); a configuration file found in a project must be "
                + "the file itself: put it there, or name the file you mean (--config, --policy, …)")
    }

    static func readText(_ path: String, what: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw RuntimeError(.notFound, "cannot read \(what) \(path): no such file")
        }
        guard !isDir.boolValue else { throw RuntimeError(.invalidInput, "\(what) \(path) is a folder, not a file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RuntimeError(.invalidInput, "cannot read \(what) \(path): check its permissions")
        }
        guard data.count <= limit else {
            throw RuntimeError(
                .invalidInput, "\(what) \(path) is \(data.count) bytes; a configuration file is at most 4 MiB")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RuntimeError(.invalidInput, "\(what) \(path) is not UTF-8 text")
        }
        return text
    }

    static func date(_ t: Timestamp) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: Double(t.milliseconds) / 1000))
    }
}
