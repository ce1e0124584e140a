import Crypto
public import Foundation
import Synchronization

/// Text that may be large (model output, tool output, file contents).
///
/// Small text is stored inline in its event. Text larger than ``inlineLimit`` bytes is stored
/// once, content-addressed, in the store's blob table, and the event holds only its SHA-256 and
/// size — so the hash chain still covers it and no later event re-copies it.
public struct Payload: Sendable, Equatable, Hashable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var text: String
    public init(_ text: String) { self.text = text }
    public init(stringLiteral value: String) { self.text = value }
    public var description: String { text }

    /// Bytes above which text leaves the event for the blob table. Fixed: it shapes canonical bytes.
    public static let inlineLimit = 4096

    private enum Keys: String, CodingKey { case blob, size }

    public func encode(to encoder: any Encoder) throws {
        let bytes = Data(text.utf8)
        if bytes.count > Self.inlineLimit {
            let key = Payload.blobKey(bytes)
            if let sink = encoder.userInfo[.nightshiftBlobSink] as? BlobSink { sink.add(key, bytes) }
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(key, forKey: .blob)
            try c.encode(bytes.count, forKey: .size)
        } else {
            var c = encoder.singleValueContainer()
            try c.encode(text)
        }
    }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let s = try? single.decode(String.self) {
            text = s
            return
        }
        let c = try decoder.container(keyedBy: Keys.self)
        let key = try c.decode(String.self, forKey: .blob)
        guard let source = decoder.userInfo[.nightshiftBlobSource] as? BlobSource, let bytes = source.blobs[key] else {
            throw DecodingError.dataCorruptedError(forKey: .blob, in: c, debugDescription: "blob \(key) is missing")
        }
        guard Payload.blobKey(bytes) == key else {
            throw DecodingError.dataCorruptedError(
                forKey: .blob, in: c, debugDescription: "blob \(key) does not match its hash")
        }
        text = String(decoding: bytes, as: UTF8.self)
    }

    /// The content address of a blob: lowercase hex SHA-256.
    public static func blobKey(_ bytes: Data) -> String { SHA256.hash(data: bytes).hexString }
}

/// Collects blobs while an event is encoded (the reference encoder's side channel: `Codable`
/// offers no other way out of `encode(to:)`). Locked, so sharing one is safe, not just rare.
public final class BlobSink: Sendable {
    private let collected = Mutex<[String: Data]>([:])
    public init() {}
    public var blobs: [String: Data] { collected.withLock { $0 } }
    public func add(_ key: String, _ bytes: Data) { collected.withLock { $0[key] = bytes } }
}

/// Supplies blobs while an event is decoded. Immutable once built.
public final class BlobSource: Sendable {
    public let blobs: [String: Data]
    public init(_ blobs: [String: Data]) { self.blobs = blobs }
}

extension CodingUserInfoKey {
    public static let nightshiftBlobSink = CodingUserInfoKey(rawValue: "nightshift.blobSink")!
    public static let nightshiftBlobSource = CodingUserInfoKey(rawValue: "nightshift.blobSource")!
}

extension Sequence where Element == UInt8 {
    var hexString: String {
        var s = ""
        s.reserveCapacity(64)
        for b in self {
            let hex = "0123456789abcdef".utf8
            s.unicodeScalars.append(UnicodeScalar(hex[hex.index(hex.startIndex, offsetBy: Int(b >> 4))]))
            s.unicodeScalars.append(UnicodeScalar(hex[hex.index(hex.startIndex, offsetBy: Int(b & 15))]))
        }
        return s
    }
}

extension Payload {
    /// SHA-256 of the text, hex: what an approval binds to.
    public var sha256Hex: String { SHA256.hash(data: Data(text.utf8)).hexString }
}
