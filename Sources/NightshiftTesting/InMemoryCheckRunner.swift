public import NightshiftCore
import Synchronization

/// The check runner's twin: each command's exit status and output come from a table, as a shell
/// would give them, with the port's contract kept (a command the table does not know is "not
/// found", status 127; output beyond the limit keeps its start and its end). Every run is counted,
/// so a test can show a check ran exactly when it should.
public final class InMemoryCheckRunner: CheckRunner, Sendable {
    public struct Outcome: Sendable {
        public var exitCode: Int32
        public var output: String
        public init(exitCode: Int32, output: String = "") {
            self.exitCode = exitCode
            self.output = output
        }
    }

    private let table: Mutex<[String: Outcome]>
    private let ran = Mutex<[String]>([])
    public let outputBytes: Int

    public init(_ table: [String: Outcome] = [:], outputBytes: Int = 16 * 1024) {
        self.table = Mutex(table)
        self.outputBytes = outputBytes
    }

    /// Changes what `command` gives from now on (the agent's work made a check pass).
    public func set(_ command: String, _ outcome: Outcome) { table.withLock { $0[command] = outcome } }

    /// Every command run, in order.
    public var commands: [String] { ran.withLock { $0 } }

    public func run(_ check: Check, workspace: String) async -> CheckResult {
        ran.withLock { $0.append(check.command) }
        let outcome =
            table.withLock { $0[check.command] }
            ?? Outcome(exitCode: 127, output: "sh: 1: \(check.command.split(separator: " ").first ?? ""): not found\n")
        return CheckResult(exitCode: outcome.exitCode, output: Self.bounded(outcome.output, outputBytes), durationMs: 0)
    }

    /// Half the limit from the start and half from the end, the cut said between them, like the real runner.
    static func bounded(_ text: String, _ limit: Int) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count > limit else { return text }
        let half = max(limit / 2, 1)
        return String(decoding: bytes.prefix(half), as: UTF8.self)
            + "\n[… \(bytes.count - 2 * half) bytes of output cut …]\n"
            + String(decoding: bytes.suffix(half), as: UTF8.self)
    }
}
