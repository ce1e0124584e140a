import Crypto
public import Foundation
public import NightshiftCore

/// `nightshift export` and `nightshift import`: a run and its sub-agents moved from one store to
/// another (a laptop's SQLite to a team's PostgreSQL, and back) as a signed file of their stored
/// records (``RunExportFile``).
public enum RunTransfer {
    /// An export made.
    public struct Exported: Sendable {
        /// The file's bytes.
        public var data: Data
        /// The runs in it, the root first.
        public var runs: [RunID]
        public var events: Int
        /// The public half of the key that signed it (hex): what an importer elsewhere trusts.
        public var publicKey: String
        /// Each run as written (its head: what a prune records).
        public var records: [RunRecords]
    }

    /// Where the trust for an import comes from.
    public struct Trust: Sendable {
        /// An Ed25519 public key (hex) trusted instead of the local audit key's.
        public var publicKey: String?
        /// The audit key file whose public half is trusted; nil: the default.
        public var keyFile: String?
        public init(publicKey: String? = nil, keyFile: String? = nil) {
            self.publicKey = publicKey
            self.keyFile = keyFile
        }
    }

    /// An import done.
    public struct Imported: Sendable {
        /// The runs written, the root first, as their index now has them.
        public var runs: [RunSummary]
        public var events: Int
    }

    /// The run and its sub-agents, recursively (each run's own log names the sub-agents it made),
    /// each checked whole, then signed with the audit key.
    /// - Parameter makeKey: make the key when missing (a person's command).
    /// - Throws: ``RuntimeError`` `.notFound` for an unknown run, `.invalidInput` for a log that
    ///   does not verify (nothing is signed).
    static func export(
        _ root: RunID, keyFile: String?, makeKey: Bool = true, store: any EventStore
    ) async throws -> Exported {
        try sign(try await tree(root, store: store), keyFile: keyFile, makeKey: makeKey)
    }

    /// The run and its sub-agents, recursively, the root first, each checked whole.
    /// - Throws: ``RuntimeError`` `.notFound` for an unknown run, `.invalidInput` for a log that
    ///   does not verify.
    static func tree(_ root: RunID, store: any EventStore) async throws -> [RunRecords] {
        guard try await store.summary(of: root) != nil else {
            throw RuntimeError(.notFound, "no run \(root) in this database (nightshift status lists the runs)")
        }
        var runs: [RunRecords] = []
        var queue = [root]
        var seen: Set<RunID> = [root]
        while !queue.isEmpty {
            let run = queue.removeFirst()
            let report = try await store.verifyChain(run)
            guard report.ok else {
                throw RuntimeError(
                    .invalidInput,
                    "run \(run) does not verify (event \(report.firstBadSeq ?? 0): \(report.problem ?? "")); "
                        + "nothing was exported")
            }
            let records: RunRecords
            do { records = try await store.records(of: run) } catch let error as StoreError {
                throw RuntimeError(.invalidInput, "run \(run) does not verify (\(error.message)); nothing was exported")
            }
            runs.append(records)
            let state = try RunState.fold(run, records.events)
            for child in state.fleet.children where !seen.contains(child.id) {
                if try await store.summary(of: child.id) != nil {
                    seen.insert(child.id)
                    queue.append(child.id)
                }
            }
        }
        return runs
    }

    /// `runs` in an export, signed with the audit key.
    static func sign(_ runs: [RunRecords], keyFile: String?, makeKey: Bool) throws -> Exported {
        let path = keyFile ?? AuditKey.defaultPath
        guard makeKey || FileManager.default.fileExists(atPath: path) else {
            throw RuntimeError(.notFound, "there is no audit key at \(path) to sign the export with")
        }
        let key = try AuditKey.load(path, create: makeKey)
        let data = try RunExportFile.write(runs, key: key, time: Adapters.clock.now())
        return Exported(
            data: data, runs: runs.map(\.run), events: runs.reduce(0) { $0 + $1.records.count },
            publicKey: key.publicKey.rawRepresentation.hexString, records: runs)
    }

    /// Reads an export and writes its runs, all or none, after checking everything in it: every
    /// hash recomputed from the genesis (the file's are never taken), every blob against its key,
    /// every run's checkpoint signed by the trusted key and naming the head the records end with,
    /// and the tree whole (each sub-agent's parent in the file, each sub-agent a run made in it).
    /// Nothing is driven: a run that was running stays so until `nightshift resume`.
    /// - Throws: ``RuntimeError`` `.invalidInput` (one line: what is wrong, and nothing was
    ///   written), `.exists` when a run of the file is already in the store.
    static func `import`(from file: String, trust: Trust, store: () throws -> any EventStore) async throws -> Imported {
        // All of the file is checked before the store is opened (a new database is made only for runs that verify).
        let runs = try read(from: file, trust: trust)
        do { try await store().restore(runs) } catch let error as StoreError where error.code == .runExists {
            throw RuntimeError(.exists, error.message)
        }
        return Imported(runs: runs.map(\.summary), events: runs.reduce(0) { $0 + $1.records.count })
    }

    /// The runs of the export in `file`, every one checked as ``import(from:trust:store:)`` says.
    static func read(from file: String, trust: Trust) throws -> [RunRecords] {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw RuntimeError(.notFound, "cannot read \(file)")
        }
        return try read(data, file: file, trust: trust)
    }

    static func read(_ data: Data, file: String, trust: Trust) throws -> [RunRecords] {
        let parsed = try RunExportFile.parse(data, file: file)
        let header = parsed.header
        let trusted = try trustedKey(trust, file: file)
        guard Set(header.runs).count == header.runs.count, header.runs.first == header.root else {
            throw RuntimeError(.invalidInput, "\(file): its header does not list its runs once each, the root first")
        }
        let named = Set(header.runs)
        for run in Set(parsed.records.keys).union(parsed.checkpoints.keys).union(parsed.snapshots.keys)
        where !named.contains(run) {
            throw RuntimeError(.invalidInput, "\(file) holds records of run \(run), which its header does not list")
        }
        var runs: [RunRecords] = []
        for id in header.runs {
            let run = RunID(id)
            guard let checkpoint = parsed.checkpoints[id] else {
                throw RuntimeError(.invalidInput, "\(file) is truncated: run \(id) has no signed checkpoint")
            }
            let lines = parsed.records[id] ?? []
            var records: [(seq: Int64, body: Data, hash: [UInt8], blobKeys: [String])] = []
            for line in lines {
                guard let hash = Data(hex: line.hash) else {
                    throw RuntimeError(.invalidInput, "\(file): run \(id)'s event \(line.seq) has no hash")
                }
                records.append((line.seq, line.body, [UInt8](hash), line.blobs))
            }
            let verified: RunRecords
            do {
                verified = try RunRecords(
                    run: run, records: records, blobs: parsed.blobs, snapshot: parsed.snapshots[id])
            } catch {
                throw RuntimeError(.invalidInput, "\(file): \(error.message); nothing was imported")
            }
            if let bad = checkpoint.verifySignature(trusted: trusted) {
                throw RuntimeError(
                    .invalidInput,
                    "\(file): run \(id): \(bad)\(checkpoint.publicKey == trusted.rawRepresentation.hexString ? "" : " (pass --trust-key \(checkpoint.publicKey) if you trust it)"); nothing was imported"
                )
            }
            guard checkpoint.seq == verified.summary.headSeq, checkpoint.hash == verified.headHash.hex else {
                throw RuntimeError(
                    .invalidInput,
                    "\(file): run \(id)'s signed checkpoint names event \(checkpoint.seq) with hash \(checkpoint.hash.prefix(16))…, "
                        + "but its records end at event \(verified.summary.headSeq) with \(verified.headHash.hex.prefix(16))… "
                        + "(edited or cut); nothing was imported")
            }
            runs.append(verified)
        }
        // The tree whole: a sub-agent's parent comes with it, and a sub-agent a run made comes with that run.
        for r in runs.dropFirst() where !(r.parent.map { named.contains($0.rawValue) } ?? false) {
            throw RuntimeError(
                .invalidInput, "\(file): run \(r.run) is not a sub-agent of a run in the file; nothing was imported")
        }
        for r in runs {
            let state: RunState
            do { state = try RunState.fold(r.run, r.events) } catch {
                throw RuntimeError(
                    .invalidInput, "\(file): run \(r.run)'s log does not fold (\(error)); nothing was imported")
            }
            for child in state.fleet.children where child.created && !named.contains(child.id.rawValue) {
                throw RuntimeError(
                    .invalidInput,
                    "\(file): run \(r.run)'s sub-agent \(child.id) is missing from the file; nothing was imported")
            }
        }
        return runs
    }

    /// The one key an import trusts: `--trust-key`, else the local audit key's public half.
    static func trustedKey(_ trust: Trust, file: String) throws -> Curve25519.Signing.PublicKey {
        if let hex = trust.publicKey {
            guard let raw = Data(hex: hex), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
                throw RuntimeError(.invalidInput, "--trust-key must be an Ed25519 public key: 64 hex digits")
            }
            return key
        }
        let path = trust.keyFile ?? AuditKey.defaultPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw RuntimeError(
                .invalidInput,
                "no audit key at \(path) to check \(file)'s signatures against: pass --trust-key HEX, the public key "
                    + "`nightshift export` printed where it was made")
        }
        return try AuditKey.load(path, create: false).publicKey
    }
}
