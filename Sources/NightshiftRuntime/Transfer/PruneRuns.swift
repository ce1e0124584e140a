import Crypto
public import Foundation
public import NightshiftCore
import NightshiftHands

#if canImport(Glibc)
import Glibc
#endif

/// `nightshift prune`: ended runs whose last event is older than a date leave the database, each
/// tree (a top-level run and its sub-agents) exported first to a signed file (``RunExportFile``),
/// synced to disk, and only then deleted with a record in the retention log, in one transaction.
/// A prune killed anywhere leaves every run whole, or pruned and logged with its export on disk;
/// running it again finishes the rest.
public enum PruneRuns {
    public struct Request: Sendable {
        /// Runs whose last event is before this are pruned (it may not be in the future).
        public var before: Timestamp
        /// Where the exports go; nil: `pruned/` beside a SQLite database (required for PostgreSQL).
        public var exports: String?
        /// Say what would be pruned; export and delete nothing.
        public var dryRun: Bool
        /// The audit key that signs the exports (made if missing); nil: the default.
        public var keyFile: String?
        /// Who prunes (recorded in the retention log).
        public var by: String

        public init(before: Timestamp, exports: String?, dryRun: Bool, keyFile: String?, by: String) {
            self.before = before
            self.exports = exports
            self.dryRun = dryRun
            self.keyFile = keyFile
            self.by = by
        }
    }

    /// One tree: pruned (or, for a dry run, that would be), or kept and why.
    public struct Tree: Sendable {
        public var root: RunID
        public var runs: [RunID]
        public var lastEvent: Timestamp
        /// The export written (nil for a dry run or a tree kept).
        public var file: String?
        /// Why the tree was kept, or nil.
        public var kept: String?
    }

    /// - Throws: ``RuntimeError`` `.invalidInput` for a date in the future or a PostgreSQL store
    ///   without `exports`; what the store or the disk says otherwise (the trees pruned before stay pruned).
    static func prune(_ request: Request, store: any RunDatabase, db: StoreConfig) async throws -> [Tree] {
        let now = Adapters.clock.now()
        guard request.before <= now else {
            throw RuntimeError(
                .invalidInput,
                "--finished-before \(Self.text(request.before)) is in the future (now \(Self.text(now))); nothing was pruned"
            )
        }
        let folder: String
        if let exports = request.exports {
            folder = exports
        } else if db.postgres == nil {
            folder = URL(fileURLWithPath: db.db).deletingLastPathComponent().appendingPathComponent("pruned").path
        } else {
            throw RuntimeError(
                .invalidInput, "a PostgreSQL store needs --exports DIR: where each run's signed export is written first"
            )
        }
        let summaries = try await store.runs()
        let byID = Dictionary(summaries.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var trees: [Tree] = []
        var handled = Set<RunID>()
        // Oldest first, so a prune stopped halfway has removed the oldest.
        for summary in summaries.reversed()
        where summary.status.hasEnded && summary.updated < request.before && !handled.contains(summary.id) {
            // A sub-agent goes with its parent's tree; one whose parent is gone is a tree of its own.
            let first = try await store.read(summary.id, after: 0, limit: 1).first
            if case let .runCreated(_, _, _, settings) = first?.event, let parent = settings.parent?.run,
                byID[parent] != nil
            {
                continue
            }
            let tree = try await prune(summary.id, request: request, folder: folder, store: store, byID: byID)
            handled.formUnion(tree.runs)
            trees.append(tree)
        }
        return trees
    }

    static func prune(
        _ root: RunID, request: Request, folder: String, store: any RunDatabase, byID: [RunID: RunSummary]
    ) async throws -> Tree {
        let runs: [RunRecords]
        do { runs = try await RunTransfer.tree(root, store: store) } catch let error as RuntimeError
            where error.code == .invalidInput
        {
            return Tree(root: root, runs: [root], lastEvent: Timestamp(milliseconds: 0), kept: error.message)
        }
        var tree = Tree(
            root: root, runs: runs.map(\.run),
            lastEvent: runs.map(\.summary.updated).max() ?? Timestamp(milliseconds: 0))
        if let live = runs.first(where: { !$0.summary.status.hasEnded }) {
            tree.kept = "its sub-agent \(live.run) is \(live.summary.status)"
            return tree
        }
        guard tree.lastEvent < request.before else {
            tree.kept = "its sub-agents' last event is \(Self.text(tree.lastEvent))"
            return tree
        }
        if let parent = runs[0].parent, let s = byID[parent]?.status, !s.hasEnded {
            tree.kept = "its parent \(parent) is \(s)"
            return tree
        }
        if request.dryRun { return tree }
        let exported = try RunTransfer.sign(runs, keyFile: request.keyFile, makeKey: true)
        var path = folder + "/" + fileName(root) + ".jsonl"
        // The root pruned before (then imported again): its first export stays as the log records it.
        if try await store.pruning(of: root)?.exportFile == path {
            path = folder + "/" + fileName(root) + "-\(Adapters.clock.now().milliseconds).jsonl"
        }
        try write(exported.data, to: path, folder: folder)
        // Test hook (crash tests): the export is on disk, nothing is deleted yet.
        TestStop.at(.pruneExported)
        let digest = SHA256.hash(data: exported.data).map { String(format: "%02x", $0) }.joined()
        let time = Adapters.clock.now()
        let records = exported.records.map { r in
            PrunedRun(
                run: r.run, root: root, headSeq: r.summary.headSeq, headHash: r.headHash.hex, exportFile: path,
                exportSHA256: digest, time: time, by: request.by)
        }
        do { try await store.prune(records) } catch let error as StoreError
            where error.code == .stillNeeded || error.code == .sequenceConflict
        {
            // Refused, nothing deleted: the export no record names goes too.
            unlink(path)
            tree.kept = error.message
            return tree
        }
        tree.file = path
        return tree
    }

    /// The export's name (without `.jsonl`): the root's id when it is plain, else its hex (a name, never a path).
    static func fileName(_ run: RunID) -> String {
        let id = run.rawValue
        let plain =
            !id.isEmpty && id.count <= 200 && !id.hasPrefix(".")
            && id.unicodeScalars.allSatisfy {
                CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)
            }
            && id.unicodeScalars.allSatisfy(\.isASCII)
        return plain ? id : "x-" + Data(id.utf8).prefix(100).hexString
    }

    /// Written whole or not at all, and on disk before anything is deleted: a temporary file,
    /// synced, renamed over the name, and the folder synced.
    static func write(_ data: Data, to path: String, folder: String) throws {
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw RuntimeError(.unavailable, "cannot make the exports folder \(folder): \(error.localizedDescription)")
        }
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw RuntimeError(.unavailable, "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        var written = 0
        let ok = data.withUnsafeBytes { buffer -> Bool in
            while written < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw RuntimeError(.unavailable, "cannot write the export \(path): \(reason); nothing was pruned")
        }
        let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }

    static func text(_ time: Timestamp) -> String {
        Date(timeIntervalSince1970: Double(time.milliseconds) / 1000).formatted(.iso8601)
    }
}

extension RunStatus {
    /// Finished or failed: nothing will ever be appended by a drive.
    var hasEnded: Bool { self == .finished || self == .failed }
}
