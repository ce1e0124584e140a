import Crypto
public import Foundation

/// Turns envelopes into canonical bytes and chains their hashes. Shared by every store so that
/// a log written by one verifies under another, in any process, on any platform.
///
/// Canonical bytes: JSON with sorted keys, no escaped slashes, integers only (events carry no
/// floating-point numbers), large payloads replaced by their blob reference.
public enum EventCodec {
    /// The schema version written into every new envelope.
    public static let schemaVersion = 1
    /// The "previous hash" of a run's first event.
    public static let genesisHash = [UInt8](repeating: 0, count: 32)

    struct Stored: Codable {
        var run: RunID
        var seq: Int64
        var time: Timestamp
        var actor: EventActor
        var v: Int
        var event: Event
    }

    /// An encoded envelope ready to store: canonical body, chain hash, and blobs it references.
    public struct Encoded: Sendable {
        public var envelope: EventEnvelope
        public var body: Data
        public var blobs: [String: Data]
    }

    /// Canonical bytes of an event at a position, before chaining. They do not depend on the
    /// previous hash, so a store can encode outside its write lock and only chain inside it.
    public struct Body: Sendable {
        public var event: Event
        public var run: RunID
        public var seq: Int64
        public var time: Timestamp
        public var bytes: Data
        public var blobs: [String: Data]

        /// The envelope once chained after `previousHash`.
        public func chained(after previousHash: [UInt8]) -> Encoded {
            let hash = EventCodec.chain(previousHash, bytes)
            return Encoded(
                envelope: EventEnvelope(
                    run: run, seq: seq, time: time, actor: event.actor,
                    schemaVersion: EventCodec.schemaVersion, event: event, hash: hash),
                body: bytes, blobs: blobs)
        }
    }

    /// Encodes `event`'s canonical bytes at position `seq`.
    public static func body(_ event: Event, run: RunID, seq: Int64, time: Timestamp) throws -> Body {
        var writer = CanonicalWriter()
        writer.stored(run: run, seq: seq, time: time, version: schemaVersion, event: event)
        return Body(event: event, run: run, seq: seq, time: time, bytes: Data(writer.bytes), blobs: writer.blobs)
    }

    /// The same bytes through `JSONEncoder` and the synthesised `Codable` conformances: the
    /// reference the fast writer is tested against.
    public static func referenceBody(_ event: Event, run: RunID, seq: Int64, time: Timestamp) throws -> Body {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let sink = BlobSink()
        encoder.userInfo[.nightshiftBlobSink] = sink
        let bytes = try encoder.encode(
            Stored(run: run, seq: seq, time: time, actor: event.actor, v: schemaVersion, event: event))
        return Body(event: event, run: run, seq: seq, time: time, bytes: bytes, blobs: sink.blobs)
    }

    /// Encodes `event` at position `seq` after `previousHash`.
    public static func encode(
        _ event: Event, run: RunID, seq: Int64, time: Timestamp, previousHash: [UInt8]
    ) throws -> Encoded {
        try body(event, run: run, seq: seq, time: time).chained(after: previousHash)
    }

    /// SHA-256(previous ‖ body).
    public static func chain(_ previous: [UInt8], _ body: Data) -> [UInt8] {
        var h = SHA256()
        h.update(data: previous)
        h.update(data: body)
        return Array(h.finalize())
    }

    /// Why a stored record cannot be trusted.
    public enum Fault: Error, Equatable, Sendable {
        case hashMismatch
        case undecodable(String)
        case wrongPosition(expected: Int64, found: Int64)
    }

    /// Decodes and verifies one stored record: its hash must chain from `previousHash`, its body
    /// must decode, and it must claim the position it is stored at.
    public static func decode(
        body: Data, hash: [UInt8], previousHash: [UInt8], run: RunID, seq: Int64,
        blobs: BlobSource? = nil
    ) -> Result<EventEnvelope, Fault> {
        decode(body: body, hash: hash, previousHash: previousHash, run: run, seq: seq, decoder: decoder(blobs: blobs))
    }

    /// A decoder for a batch of events that share `blobs` (making one per event costs as much as a small event's decoding).
    public static func decoder(blobs: BlobSource?) -> JSONDecoder {
        let decoder = JSONDecoder()
        if let blobs { decoder.userInfo[.nightshiftBlobSource] = blobs }
        return decoder
    }

    public static func decode(
        body: Data, hash: [UInt8], previousHash: [UInt8], run: RunID, seq: Int64,
        decoder: JSONDecoder
    ) -> Result<EventEnvelope, Fault> {
        guard chain(previousHash, body) == hash else { return .failure(.hashMismatch) }
        let decoded: Stored
        do { decoded = try decoder.decode(Stored.self, from: body) } catch {
            return .failure(.undecodable(String(describing: error).prefix(300).description))
        }
        guard decoded.run == run, decoded.seq == seq else {
            return .failure(.wrongPosition(expected: seq, found: decoded.seq))
        }
        return .success(
            EventEnvelope(
                run: decoded.run, seq: decoded.seq, time: decoded.time, actor: decoded.actor,
                schemaVersion: decoded.v, event: decoded.event, hash: hash))
    }
}

extension Array where Element == UInt8 {
    /// Lowercase hex, for display and JSON export.
    public var hex: String { self.hexString }
}

extension EventCodec {
    /// A store's records of one run after `after`, in seq order, decoded and each checked against
    /// the hash before it (`previous`: the hash of event `after`): what every store's read does.
    /// - Throws: ``StoreError`` `.corrupt` naming the first missing or bad seq.
    public static func decodeRecords(
        _ records: [(seq: Int64, body: Data, hash: Data)], of run: RunID, after: Int64, previous: [UInt8],
        blobs: BlobSource
    ) throws -> [EventEnvelope] {
        var previous = previous
        var out: [EventEnvelope] = []
        out.reserveCapacity(records.count)
        var expected = after + 1
        let reader = EventCodec.decoder(blobs: blobs)
        for (seq, body, hash) in records {
            guard seq == expected else {
                throw StoreError(.corrupt, "run \(run): event \(expected) is missing", seq: expected)
            }
            switch EventCodec.decode(
                body: body, hash: [UInt8](hash), previousHash: previous, run: run, seq: seq, decoder: reader)
            {
            case .success(let e): out.append(e)
            case .failure(let fault):
                throw StoreError(.corrupt, "run \(run): event \(seq) is corrupt (\(fault))", seq: seq)
            }
            previous = [UInt8](hash)
            expected += 1
        }
        return out
    }
}
