import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite
#if canImport(Glibc)
import Glibc
#endif

/// The composition root: the one place that picks concrete adapters and wires them.
enum Composition {
    static func openStore(_ options: StoreOptions) throws -> SQLiteEventStore {
        try SQLiteEventStore(path: options.db, configuration: .init(busyTimeout: .seconds(options.lockTimeout)))
    }

    /// For commands that only look at or continue existing runs: never creates an empty database.
    static func openExistingStore(_ options: StoreOptions) throws -> SQLiteEventStore {
        guard FileManager.default.fileExists(atPath: options.db) else {
            throw CLIError("no database at \(options.db): start a run first (nightshift demo, nightshift run) or pass --db")
        }
        return try openStore(options)
    }

    /// Parses `--model`. Only `scripted:FILE` exists until real providers land.
    static func model(_ spec: String) throws -> any ModelProvider {
        guard spec.hasPrefix("scripted:") else {
            throw CLIError("unknown model '\(spec)': this build knows only 'scripted:FILE' (a scenario file played by the scripted test double)")
        }
        let path = String(spec.dropFirst("scripted:".count))
        guard !path.isEmpty else { throw CLIError("--model scripted: needs a scenario file, e.g. --model scripted:scenario.yaml") }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        return ScriptedModelWithPath(ScriptedModel(scenario: try ScenarioFile.load(path: absolute)), path: absolute)
    }

    static func harness(store: any EventStore, model: any ModelProvider, printer: TimelinePrinter?) -> Harness {
        let stopAt = ProcessInfo.processInfo.environment["NIGHTSHIFT_TEST_STOP_AFTER_SEQ"].flatMap(Int64.init)
        return Harness(store: store, model: model, tools: ToolBox.standard(), checks: ShellCheckRunner(),
                       observer: { envelope in
                           printer?.print(envelope)
                           // Test hook (crash tests): freeze right after this event is committed, so the
                           // test can SIGKILL the process at an exact event boundary.
                           if let stopAt, envelope.seq == stopAt { raise(SIGSTOP) }
                       })
    }

    /// A fresh run id: time-ordered and unique enough for one database.
    static func newRunID() -> RunID {
        let ms = Int64(Date().timeIntervalSince1970 * 1000)
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        return RunID("r\(String(ms, radix: 36))\(suffix)")
    }
}

/// The scripted model, labelled with the scenario's full path so `resume` can find it again.
struct ScriptedModelWithPath: ModelProvider {
    let inner: ScriptedModel
    let path: String
    init(_ inner: ScriptedModel, path: String) { self.inner = inner; self.path = path }
    var label: String { "scripted:\(path)" }
    func respond(to request: ModelRequest) async throws -> ModelResponse { try await inner.respond(to: request) }
}

/// A one-line error for the user; exits 1.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
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
func reportErrors<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch let e as ValidationError {
        throw e
    } catch {
        FileHandle.standardError.write(Data("nightshift: error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// Writes a line to stdout unbuffered, so lines from every part of the CLI stay in order.
func say(_ text: String = "") {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
