import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

struct FileAccessError: Error { var message: String }

enum FileAccess {
    /// Reads a regular file without following a final symlink; refuses files with several hard links
    /// (one of them may live outside the workspace).
    static func readRegularFile(_ path: String, limit: Int) -> Result<Data, FileAccessError> {
        // O_NONBLOCK: opening a named pipe would otherwise wait for a writer forever (and, the tool
        // being idempotent, again on every resume). The type is checked on the open descriptor.
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            if errno == ENXIO { return .failure(FileAccessError(message: "not a regular file (a socket or device)")) }
            return .failure(
                FileAccessError(message: errno == ENOENT ? "no such file" : String(cString: strerror(errno))))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(FileAccessError(message: String(cString: strerror(errno)))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            return .failure(
                FileAccessError(
                    message: "not a regular file (\(FileAccess.kind(st.st_mode))); file tools read only regular files"))
        }
        guard st.st_nlink <= 1 else {
            return .failure(FileAccessError(message: "refused: the file has several hard links"))
        }
        guard Int(st.st_size) <= limit else {
            return .failure(
                FileAccessError(
                    message:
                        "the file is \(st.st_size) bytes, over the \(limit)-byte limit; read a line range with shell (sed -n)"
                ))
        }
        var data = Data(count: Int(st.st_size))
        let n = data.withUnsafeMutableBytes { read(fd, $0.baseAddress, Int(st.st_size)) }
        guard n >= 0 else { return .failure(FileAccessError(message: String(cString: strerror(errno)))) }
        return .success(data.prefix(n))
    }

    /// A file type in words, for refusals.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a folder"
        case S_IFIFO: "a named pipe"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }

    /// Writes through a temporary file and rename, so a hard link or symlink at the destination
    /// is replaced rather than written through.
    static func writeAtomically(_ path: String, _ data: Data, workspace: Workspace) -> Result<Void, FileAccessError> {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch { return .failure(FileAccessError(message: "cannot create folder: \(error.localizedDescription)")) }
        // The folder may have been created through a path checked above; re-check its real location.
        guard let realDir = Workspace.realPath(dir),
            realDir == workspace.root || realDir.hasPrefix(workspace.root + "/")
        else {
            return .failure(FileAccessError(message: "refused: the folder is outside the workspace"))
        }
        var st = stat()
        if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            return .failure(FileAccessError(message: "is a folder"))
        }
        let tmp = realDir + "/.nightshift-write-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .failure(FileAccessError(message: String(cString: strerror(errno)))) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, data.count) }
        close(fd)
        guard written == data.count else {
            unlink(tmp)
            return .failure(FileAccessError(message: errno == ENOSPC ? "the disk is full" : "short write"))
        }
        guard rename(tmp, realDir + "/" + url.lastPathComponent) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(tmp)
            return .failure(FileAccessError(message: message))
        }
        return .success(())
    }
}
