import Crypto
public import Foundation
public import NightshiftCore

/// The file `nightshift export` writes and `nightshift import` reads: a run and its sub-agents
/// (its tree) as JSON lines of their stored records, exactly as stored, so that every hash
/// recomputes in any store.
///
/// ```
/// {"nightshift_export":{"format":1,"root":"R","runs":["R","R.m1.1.1"],"time":…,"publicKey":"…"}}
/// {"blob":{"key":"<sha-256 hex>","bytes":"<base64>"}}                       each blob once
/// {"record":{"run":"R","seq":1,"time":…,"kind":"run_created","hash":"<hex>","blobs":[…],"body":"<base64>"}}
/// {"snapshot":{"run":"R","seq":…,"state":"<base64>"}}                       when the run has one
/// {"checkpoint":{…}}                                                       one per run, the root's last
/// ```
///
/// `body` is the canonical bytes the hash covers; `time` and `kind` are there for people to read
/// and are never believed (they are decoded from the body again). Each checkpoint is an audit
/// ``Checkpoint`` of one run's head, signed with the audit key, so the file's last line is what
/// `audit verify --checkpoint` reads too.
public enum RunExportFile {
    /// The format this binary writes and reads.
    public static let format = 1

    struct Header: Codable {
        var format: Int
        var root: String
        var runs: [String]
        var time: Int64
        var publicKey: String
    }
    struct Record: Codable {
        var run: String
        var seq: Int64
        var time: Int64
        var kind: String
        var hash: String
        var blobs: [String]
        var body: Data
    }
    struct Blob: Codable {
        var key: String
        var bytes: Data
    }
    struct StoredSnapshot: Codable {
        var run: String
        var seq: Int64
        var state: Data
    }
    /// One line: exactly one of these is set.
    struct Line: Codable {
        var header: Header?
        var blob: Blob?
        var record: Record?
        var snapshot: StoredSnapshot?
        var checkpoint: Checkpoint?

        enum CodingKeys: String, CodingKey {
            case header = "nightshift_export"
            case blob, record, snapshot, checkpoint
        }
    }

    /// The lines of `runs` (the root first), each run's checkpoint signed with `key`.
    static func write(
        _ runs: [RunRecords], key: Curve25519.Signing.PrivateKey, time: Timestamp
    ) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out = Data()
        func add(_ line: Line) throws {
            out.append(try encoder.encode(line))
            out.append(0x0A)
        }
        let publicKey = key.publicKey.rawRepresentation.hexString
        try add(
            Line(
                header: Header(
                    format: format, root: runs[0].run.rawValue, runs: runs.map(\.run.rawValue),
                    time: time.milliseconds, publicKey: publicKey)))
        var written = Set<String>()
        for r in runs {
            for key in r.blobs.keys.sorted() where written.insert(key).inserted {
                try add(Line(blob: Blob(key: key, bytes: r.blobs[key]!)))
            }
            for e in r.records {
                try add(
                    Line(
                        record: Record(
                            run: r.run.rawValue, seq: e.seq, time: e.time.milliseconds, kind: e.kind, hash: e.hash.hex,
                            blobs: e.blobKeys, body: e.body)))
            }
            if let s = r.snapshot {
                try add(Line(snapshot: StoredSnapshot(run: r.run.rawValue, seq: s.seq, state: Data(s.state))))
            }
        }
        // The root's checkpoint last: the line `audit verify --checkpoint` reads.
        for r in runs.reversed() {
            try add(
                Line(checkpoint: try Checkpoint.make(run: r.run, seq: r.summary.headSeq, hash: r.headHash, key: key)))
        }
        return out
    }

    /// What a file holds, before any of it is believed.
    struct Parsed {
        var header: Header
        var records: [String: [Record]] = [:]
        var blobs: [String: Data] = [:]
        var snapshots: [String: Snapshot] = [:]
        var checkpoints: [String: Checkpoint] = [:]
        /// The run whose checkpoint is the last line.
        var lastCheckpoint: String?
    }

    /// Reads the lines of `data`, which must begin with the export's header and end, after a
    /// newline, with a checkpoint: anything else is not an export, or a truncated one.
    /// - Throws: ``RuntimeError`` `.invalidInput`, one line naming `file`.
    static func parse(_ data: Data, file: String) throws -> Parsed {
        let decoder = JSONDecoder()
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        guard let first = lines.first,
            let line = try? decoder.decode(Line.self, from: Data(first)), let header = line.header
        else {
            throw RuntimeError(
                .invalidInput,
                "\(file) is not a Nightshift run export (it must begin with a {\"nightshift_export\": …} line, "
                    + "as `nightshift export` writes)")
        }
        guard header.format == format else {
            throw RuntimeError(
                .invalidInput,
                "\(file) is an export of format \(header.format); this nightshift reads format \(format)")
        }
        guard lines.last?.isEmpty == true else {
            throw RuntimeError(
                .invalidInput, "\(file) is truncated: its last line is cut short (an export ends with a newline)")
        }
        lines.removeLast()
        var parsed = Parsed(header: header)
        for (n, bytes) in lines.enumerated().dropFirst() {
            guard let line = try? decoder.decode(Line.self, from: Data(bytes)) else {
                throw RuntimeError(.invalidInput, "\(file):\(n + 1): not a line of a run export (edited or cut)")
            }
            parsed.lastCheckpoint = nil
            if let r = line.record {
                parsed.records[r.run, default: []].append(r)
            } else if let b = line.blob {
                parsed.blobs[b.key] = b.bytes
            } else if let s = line.snapshot {
                parsed.snapshots[s.run] = Snapshot(seq: s.seq, state: [UInt8](s.state))
            } else if let c = line.checkpoint {
                guard parsed.checkpoints[c.run] == nil else {
                    throw RuntimeError(.invalidInput, "\(file):\(n + 1): a second checkpoint of run \(c.run)")
                }
                parsed.checkpoints[c.run] = c
                parsed.lastCheckpoint = c.run
            } else {
                throw RuntimeError(.invalidInput, "\(file):\(n + 1): not a line of a run export (edited or cut)")
            }
        }
        guard parsed.lastCheckpoint == header.root else {
            throw RuntimeError(
                .invalidInput,
                "\(file) is truncated: it does not end with the signed checkpoint of run \(header.root)")
        }
        return parsed
    }
}
