import Foundation
public import NightshiftCore
import NightshiftSQLite

/// `audit export`: a run's full record as JSON lines (every event as `log --json` prints it, a
/// summary line), ending with a checkpoint of its head signed with the audit key. A log that does
/// not verify is never signed.
public enum AuditExport {
    public struct Export: Sendable {
        public var text: String
        public var events: Int
        /// The event the checkpoint signs.
        public var signedSeq: Int64
    }

    /// - Parameter keyFile: the audit key; nil: the default path.
    /// - Parameter makeKey: make the key when it is missing (a person's `audit export`); false:
    ///   a missing key is an error (a server's read makes no file).
    /// - Throws: ``RuntimeError`` `.notFound` for an unknown run or a missing key, `.invalidInput`
    ///   for a log that does not verify.
    static func export(
        _ run: RunID, keyFile: String?, makeKey: Bool = true, store: any EventStore, db: String
    ) async throws -> Export {
        guard try await store.summary(of: run) != nil else {
            throw RuntimeError(.notFound, "no run \(run) in this database (nightshift status lists the runs)")
        }
        let report = try await store.verify(run)
        guard report.ok else {
            throw RuntimeError(
                .invalidInput,
                "run \(run) does not verify (event \(report.firstBadSeq ?? 0): \(report.problem ?? "")); not signing it"
            )
        }
        let envelopes = try await store.readAll(run)
        let state = try RunState.fold(run, envelopes)
        let path = keyFile ?? AuditKey.defaultPath
        guard makeKey || FileManager.default.fileExists(atPath: path) else {
            throw RuntimeError(
                .notFound, "there is no audit key yet to sign with: `nightshift audit export RUN` makes one (\(path))")
        }
        let signingKey = try AuditKey.load(path, create: makeKey)
        var text = ""
        for e in envelopes { text += JSONLine.render(e) + "\n" }
        let summary: [String: Any] = [
            "summary": [
                "run": run.rawValue, "events": envelopes.count, "status": state.status.rawValue,
                "costPicoUSD": state.costPicoUSD, "inputTokens": state.usage.input,
                "outputTokens": state.usage.output, "toolCalls": state.toolCalls,
                "policyHash": state.gate.policyHash ?? "", "guidanceHash": state.gate.guidanceHash ?? "",
            ]
        ]
        text +=
            String(
                decoding: try JSONSerialization.data(
                    withJSONObject: summary, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
            + "\n"
        let checkpoint = try Checkpoint.make(run: run, seq: state.lastSeq, hash: state.lastHash, key: signingKey)
        struct Line: Encodable { var checkpoint: Checkpoint }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        text += String(decoding: try encoder.encode(Line(checkpoint: checkpoint)), as: UTF8.self) + "\n"
        return Export(text: text, events: envelopes.count, signedSeq: state.lastSeq)
    }
}
