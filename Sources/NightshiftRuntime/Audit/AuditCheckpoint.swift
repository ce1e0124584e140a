public import Crypto
public import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

/// A signed statement "run R had S events, and the hash of event S was H". Kept outside the
/// database (in an export, or a file of its own), it lets `audit verify --checkpoint` prove that
/// the log was not truncated or rolled back since: a hash chain alone cannot show a missing tail.
public struct Checkpoint: Codable, Equatable {
    public var run: String
    public var seq: Int64
    public var hash: String
    /// When the checkpoint was made (ms since 1970).
    public var time: Int64
    /// The Ed25519 public key that signed it (hex), and the signature over `message` (hex).
    public var publicKey: String
    public var signature: String

    /// What is signed: versioned, one field per line, so no two checkpoints share a message.
    public var message: Data { Data("nightshift-checkpoint v1\n\(run)\n\(seq)\n\(hash)\n\(time)\n".utf8) }

    public static func make(
        run: RunID, seq: Int64, hash: [UInt8], key: Curve25519.Signing.PrivateKey
    ) throws -> Checkpoint {
        var c = Checkpoint(
            run: run.rawValue, seq: seq, hash: hash.hex, time: Adapters.clock.now().milliseconds,
            publicKey: key.publicKey.rawRepresentation.hexString, signature: "")
        c.signature = try key.signature(for: c.message).hexString
        return c
    }

    /// Checks the signature against `trusted` (the local key's public half, or one given by hex).
    public func verifySignature(trusted: Curve25519.Signing.PublicKey) -> String? {
        guard publicKey == trusted.rawRepresentation.hexString else {
            return
                "the checkpoint was signed by another key (\(publicKey.prefix(16))…), not the trusted one (\(trusted.rawRepresentation.hexString.prefix(16))…)"
        }
        guard let sig = Data(hex: signature), trusted.isValidSignature(sig, for: message) else {
            return "the checkpoint's signature is not valid"
        }
        return nil
    }

    /// The checkpoint in a file: a checkpoint of its own, or the last `checkpoint` line of an export.
    public static func read(_ path: String) throws -> Checkpoint {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RuntimeError(.notFound, "cannot read the checkpoint file \(path)")
        }
        struct Line: Decodable { var checkpoint: Checkpoint }
        for line in text.split(separator: "\n").reversed() {
            if let l = try? JSONDecoder().decode(Line.self, from: Data(line.utf8)) { return l.checkpoint }
        }
        throw RuntimeError(
            .invalidInput,
            "\(path) holds no checkpoint (a line {\"checkpoint\": …}, as `nightshift audit export` writes)")
    }
}

/// The audit signing key: Ed25519, generated on first use, kept in a file of its own (mode 0600),
/// never in the database, so whoever can rewrite the database cannot also re-sign its history.
public enum AuditKey {
    public static var defaultPath: String {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.config")
        return base + "/nightshift/audit-ed25519.key"
    }

    public static func load(_ path: String, create: Bool) throws -> Curve25519.Signing.PrivateKey {
        if let data = FileManager.default.contents(atPath: path) {
            guard
                let raw = Data(
                    hex: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
                let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
            else {
                throw RuntimeError(.invalidInput, "\(path) is not an audit key (64 hex digits)")
            }
            return key
        }
        guard create else {
            throw RuntimeError(
                .invalidInput,
                "no audit key at \(path): nothing was ever signed with it (nightshift audit export makes one)")
        }
        let key = Curve25519.Signing.PrivateKey()
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw RuntimeError(.unavailable, "cannot create the audit key \(path): \(String(cString: strerror(errno)))")
        }
        let hex = key.rawRepresentation.hexString + "\n"
        _ = hex.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        return key
    }
}

extension Data {
    public init?(hex: String) {
        guard hex.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            guard let b = UInt8(hex[i..<j], radix: 16) else { return nil }
            bytes.append(b)
            i = j
        }
        self.init(bytes)
    }
    public var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
