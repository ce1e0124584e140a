import Foundation
public import NightshiftCore
import NightshiftHands

#if canImport(Glibc)
import Glibc
#endif

/// The databases Nightshift made for a person, by path and file identity, kept in their trust
/// store. A database that turns up where one is looked for by default (a repository's
/// `.nightshift/`, a folder an agent wrote in) holds runs whose records say how to run commands:
/// it is obeyed only when Nightshift made that very file, or the person names it.
public enum KnownDatabase {
    /// The trust store's key for the database at `path`.
    static func key(_ path: String) -> String { "database:" + ConfigTrust.key(path) }

    /// What identifies the file: its device and inode. A copy, a restore or a replacement put in
    /// its place is another file; bytes written *into* it keep its inode, but writing into the
    /// database takes write access to it, which the agent's sandbox and file tools never have (and
    /// which would be the whole database anyway). An inode freed by deleting the database may be
    /// reused by a later file at the same path, which again takes write access to the database's
    /// folder (sealed from the agent). A stronger mark, an id stored in the database, is left for
    /// when databases move between hosts.
    static func identity(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "nightshift database, device \(st.st_dev), inode \(st.st_ino)"
    }

    /// Records the database at `path` as one the person uses.
    public static func remember(_ path: String, in store: any TrustStore, by: String = "nightshift") throws {
        guard let identity = identity(path) else {
            throw RuntimeError(.notFound, "no database at \(path)")
        }
        try store.trust(key(path), text: identity, by: by, at: Timestamp(milliseconds: 0))
    }

    /// Refuses the database at `path` unless it is one recorded.
    static func require(_ path: String, known: any TrustStore) throws {
        guard let identity = identity(path) else { return }
        let trusted: Bool
        do { trusted = try known.isTrusted(key(path), sha256: Payload(identity).sha256Hex) } catch {
            throw RuntimeError(.unavailable, "\(error)")
        }
        guard !trusted else { return }
        throw RuntimeError(
            .untrusted,
            "the database \(path) is not one Nightshift made for you here (a copy, a restore, one that came with a "
                + "repository, or one an agent wrote), so nothing in it is obeyed: if it is yours, name it with --db, "
                + "or record it with nightshift trust --database \(path)")
    }
}
