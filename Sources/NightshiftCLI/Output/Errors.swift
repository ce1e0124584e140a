import ArgumentParser
import NightshiftCore
import NightshiftRuntime

/// A one-line error for the user; exits 1.
public struct CLIError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Maps a stop reason to the documented exit status.
func exitStatus(for reason: StopReason) -> ExitCode {
    switch reason {
    case .finished: .success
    case .paused: ExitCode(3)
    case .failed: ExitCode(4)
    }
}

/// Prints errors the way every command does: one line on stderr, no stack trace.
public func reportErrors<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch let e
        as ValidationError
    {
        throw e
    } catch let e as RuntimeError where e.code == .busy {
        // Another live process drives the run: exit 5, so scripts can tell "busy" from a failure.
        writeErr("nightshift: \(e.message)\n")
        throw ExitCode(5)
    } catch let e as RuntimeError where e.code == .stopped {
        // Asked to stop by a signal: said, then the process ends by that signal (StopSignals).
        writeErr("nightshift: \(e.message)\n")
        StopSignals.endIfSignalled()
        throw ExitCode.failure
    } catch let e as StoreError where e.code == .leaseLost {
        writeErr("nightshift: \(e.message)\n")
        throw ExitCode(5)
    } catch {
        writeErr("nightshift: error: \(error)\n")
        throw ExitCode.failure
    }
}

/// Writes a line to stdout unbuffered, so lines from every part of the CLI stay in order.
public func say(_ text: String = "") {
    writeOut((text + "\n"))
}
