import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

/// The trust store in the person's configuration folder (`~/.config/nightshift/trust/`): an index
/// of the latest trusted version of each file (`index.json`: path → SHA-256, who, when) and the
/// trusted contents by hash (`content/SHA256`), kept to show what changed at the next review.
/// Only the latest version a person trusted is trusted: trusting a new version supersedes the
/// last, so an agent that puts an older version back does not get it applied.
///
/// The folder is made private (0700, files 0600); a change is written to a temporary file and
/// renamed into place under an exclusive lock, so two `nightshift trust` at once lose nothing.
public struct FileTrustStore: TrustStore {
    public let folder: String

    public init(folder: String) { self.folder = folder }

    /// `$XDG_CONFIG_HOME/nightshift/trust`, else `~/.config/nightshift/trust`.
    public static func defaultFolder(_ environment: [String: String]) -> String {
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.config")
        return base + "/nightshift/trust"
    }

    private struct Entry: Codable {
        var sha256: String
        var by: String
        var at: Int64
    }

    private var indexPath: String { folder + "/index.json" }
    private func contentPath(_ sha: String) -> String { folder + "/content/" + sha }

    private func readIndex() throws -> [String: Entry] {
        guard let data = FileManager.default.contents(atPath: indexPath) else {
            if FileManager.default.fileExists(atPath: indexPath) {
                throw FileError(file: indexPath, message: "the trust store cannot be read: check its permissions")
            }
            return [:]
        }
        do { return try JSONDecoder().decode([String: Entry].self, from: data) } catch {
            throw FileError(
                file: indexPath,
                message:
                    "the trust store is damaged (not the JSON Nightshift writes): move it away and trust your files again"
            )
        }
    }

    public func isTrusted(_ path: String, sha256: String) throws -> Bool {
        try readIndex()[path]?.sha256 == sha256
    }

    public func lastTrusted(_ path: String) throws -> TrustedFile? {
        guard let e = try readIndex()[path] else { return nil }
        return file(path, e)
    }

    private func file(_ path: String, _ e: Entry) -> TrustedFile {
        let text = FileManager.default.contents(atPath: contentPath(e.sha256)).map {
            String(decoding: $0, as: UTF8.self)
        }
        return TrustedFile(path: path, sha256: e.sha256, text: text, by: e.by, at: Timestamp(milliseconds: e.at))
    }

    public func trust(_ path: String, text: String, by: String, at: Timestamp) throws {
        let sha = Payload(text).sha256Hex
        try locked {
            try write(Data(text.utf8), to: contentPath(sha))
            var index = try readIndex()
            index[path] = Entry(sha256: sha, by: by, at: at.milliseconds)
            try writeIndex(index)
        }
    }

    @discardableResult public func revoke(_ path: String) throws -> Bool {
        try locked {
            var index = try readIndex()
            guard index.removeValue(forKey: path) != nil else { return false }
            try writeIndex(index)
            return true
        }
    }

    public func entries() throws -> [TrustedFile] {
        let index = try readIndex()
        return index.keys.sorted().map { file($0, index[$0]!) }
    }

    private func writeIndex(_ index: [String: Entry]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try write(try encoder.encode(index), to: indexPath)
    }

    /// Runs `body` holding an exclusive lock on the store (a lock file beside the index).
    private func locked<T>(_ body: () throws -> T) throws -> T {
        try makeFolder(folder)
        try makeFolder(folder + "/content")
        let fd = open(folder + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure(folder + "/lock") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw failure(folder + "/lock") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    private func makeFolder(_ path: String) throws {
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            // A parent may be missing (a fresh configuration folder).
            do {
                try FileManager.default.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch { throw failure(path) }
        }
    }

    /// Writes `data` to `path` through a private temporary file and a rename.
    private func write(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw failure(tmp) }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, data.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == data.count, synced, rename(tmp, path) == 0 else {
            let error = failure(path)
            unlink(tmp)
            throw error
        }
    }

    private func failure(_ path: String) -> FileError {
        let why = errno == ENOSPC ? "the disk is full" : String(cString: strerror(errno))
        return FileError(file: path, message: "cannot write the trust store: \(why)")
    }
}
