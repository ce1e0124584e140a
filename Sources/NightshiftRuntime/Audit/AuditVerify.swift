import Crypto
import Foundation
public import NightshiftCore
import NightshiftSQLite

/// `audit verify`: every chain recomputed, the head witness compared, the snapshot checked against
/// the log, the memory log's chain, and a signed checkpoint matched against the log. Each finding
/// is one line a front end shows as it is; `ok` says whether it is a clean bill.
public enum AuditVerify {
    public struct Request: Sendable {
        /// The runs to verify; nil: every run in the database, every run only a head witness
        /// remembers, and the memory log.
        public var runs: [RunID]?
        /// A checkpoint file (an export, or its last line) to match one run's log against.
        public var checkpoint: String?
        /// The Ed25519 public key (hex) trusted for the checkpoint; nil: the audit key file's.
        public var publicKey: String?
        /// The audit key file whose public half is trusted; nil: the default.
        public var keyFile: String?

        public init(runs: [RunID]?, checkpoint: String? = nil, publicKey: String? = nil, keyFile: String? = nil) {
            self.runs = runs
            self.checkpoint = checkpoint
            self.publicKey = publicKey
            self.keyFile = keyFile
        }
    }

    public struct Finding: Sendable, Equatable {
        /// A run id, or "memory log".
        public var subject: String
        public var ok: Bool
        /// What was found, for a person ("ok — 12 events, head 1a2b…", "BROKEN at event 7 — …").
        public var text: String
        public var line: String { "\(subject): \(text)" }
    }

    /// - Throws: ``RuntimeError`` `.notFound` for a named run neither the database nor a witness
    ///   knows, `.invalidInput` for a checkpoint of another run or an unusable public key.
    static func verify(_ request: Request, store: any RunDatabase, db: String) async throws -> [Finding] {
        var out: [Finding] = []
        func add(_ subject: String, _ ok: Bool, _ text: String) {
            out.append(Finding(subject: subject, ok: ok, text: text))
        }
        let everyRun = try await store.runs().map(\.id)
        let known = Set(everyRun)
        let ids = request.runs ?? everyRun
        // Runs the database lost entirely, that only their head witness remembers.
        for id in (request.runs == nil ? try await store.witnessedRuns() : ids) where !known.contains(id) {
            if let lost = try await Leasing.lostRun(id, store: store) {
                add(id.rawValue, false, "LOST — \(lost)")
            } else if let pruned = try await store.pruning(of: id) {
                add(id.rawValue, true, "pruned — \(Self.text(pruned))")
            }
        }
        for id in ids {
            // With a checkpoint, a run that is gone is the extreme of a rollback: a verdict, not an error.
            if let checkpoint = request.checkpoint, !known.contains(id), let c = try? Checkpoint.read(checkpoint) {
                add(id.rawValue, false, "MISSING — the checkpoint saw \(c.seq) events; this database has no such run")
                continue
            }
            guard known.contains(id) else {
                if try await store.witnessedHead(of: id) == nil, try await store.pruning(of: id) == nil {
                    throw RuntimeError(.notFound, "no run \(id) in this database (nightshift status lists the runs)")
                }
                continue  // reported as LOST above
            }
            let report = try await store.verify(id)
            let rollback = try await Leasing.rollback(id, store: store)
            if let rollback { add(id.rawValue, false, "ROLLED BACK — \(rollback.message)") }
            let snapshot = report.ok ? try await store.snapshotDisagreement(id) : nil
            if rollback != nil, report.ok {
                // The chain of what is left verifies; the run is not ok, and is not said to be.
            } else if let snapshot {
                add(
                    id.rawValue, false,
                    "SNAPSHOT DISAGREES — \(snapshot) (every reader ignores it and folds the log; the chain itself is intact)"
                )
            } else if report.ok {
                add(id.rawValue, true, "ok — \(report.events) events, head \(report.headHash.hex.prefix(16))…")
            } else {
                add(id.rawValue, false, "BROKEN at event \(report.firstBadSeq!) — \(report.problem ?? "")")
            }
        }
        if request.runs == nil {
            // The memory bank's log is chained like a run's: its records are checked too.
            let memory = try await store.memoryBank.verifyLog()
            if let bad = memory.firstBad {
                add(
                    "memory log", false,
                    "BROKEN at record \(bad) — a record does not match its hash or the one before it")
            } else {
                add("memory log", true, "ok — \(memory.records) records")
            }
        }
        if let checkpoint = request.checkpoint, let id = ids.first {
            out.append(try await match(checkpoint, run: id, request: request, store: store))
        }
        return out
    }

    /// A pruning as the retention log has it, for a person.
    static func text(_ p: PrunedRun) -> String {
        let when = Date(timeIntervalSince1970: Double(p.time.milliseconds) / 1000).formatted(.iso8601)
        return "removed at event \(p.headSeq) (head \(p.headHash.prefix(16))…) on \(when) by \(p.by); its export: "
            + "\(p.exportFile) (sha256 \(p.exportSHA256.prefix(16))…)"
    }

    /// The signed checkpoint against the run's log as it stands.
    static func match(
        _ file: String, run id: RunID, request: Request, store: any RunDatabase
    ) async throws -> Finding {
        let c = try Checkpoint.read(file)
        let trusted: Curve25519.Signing.PublicKey
        if let publicKey = request.publicKey {
            guard let raw = Data(hex: publicKey), let k = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
            else {
                throw RuntimeError(.invalidInput, "the trusted public key must be 64 hex digits")
            }
            trusted = k
        } else {
            trusted = try AuditKey.load(request.keyFile ?? AuditKey.defaultPath, create: false).publicKey
        }
        if c.run != id.rawValue { throw RuntimeError(.invalidInput, "the checkpoint is for run \(c.run), not \(id)") }
        if let bad = c.verifySignature(trusted: trusted) {
            return Finding(subject: id.rawValue, ok: false, text: "CHECKPOINT REJECTED — \(bad)")
        }
        let head = try await store.summary(of: id)?.headSeq ?? 0
        var at: EventEnvelope?
        do {
            at = head < c.seq ? nil : try await store.read(id, after: c.seq - 1, limit: 1).first
        } catch let error as StoreError where error.code == .corrupt {
            return Finding(
                subject: id.rawValue, ok: false,
                text: "CHECKPOINT NOT MATCHED — the signed event \(c.seq) cannot be read: \(error.message)")
        }
        guard let at else {
            return Finding(
                subject: id.rawValue, ok: false,
                text:
                    "TRUNCATED — the checkpoint of \(Date(timeIntervalSince1970: Double(c.time) / 1000)) saw \(c.seq) events; the log now has \(head)"
            )
        }
        guard at.hash.hex == c.hash else {
            return Finding(
                subject: id.rawValue, ok: false,
                text: "ROLLED BACK OR REWRITTEN — event \(c.seq) no longer has the hash the checkpoint signed")
        }
        return Finding(
            subject: id.rawValue, ok: true,
            text: "checkpoint ok — event \(c.seq) still has the signed hash; \(head - c.seq) events since")
    }
}
