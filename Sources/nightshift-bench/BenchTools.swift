import ArgumentParser
import Foundation
import NightshiftCLI
import NightshiftCore
import NightshiftHands
import NightshiftHarness

extension Bench {
    struct Tools: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: """
                Tool overhead: a sandboxed `shell` call running `true`, and a `read_file`, against running the same directly; \
                and the harness's deadline around each call.
                """)

        @Option(help: "Calls per figure (median and p99 are reported).") var calls: Int = 200
        @Flag(help: "Print one JSON object per line instead of a table.") var json = false

        func run() async throws {
            try await reportErrors {
                let out = BenchOutput(json: json)
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "nightshift-bench-tools-\(getpid())"
                ).path
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try String(repeating: "line of text\n", count: 300).write(
                    toFile: dir + "/file.txt", atomically: true, encoding: .utf8)
                let isolation: Isolation
                switch Isolation.detect() {
                case let .success(i): isolation = i
                case let .failure(why): throw CLIError("bubblewrap is needed for this benchmark: \(why.reason)")
                }
                func time(_ body: () async -> Void) async -> [Double] {
                    var xs: [Double] = []
                    for _ in 0..<calls {
                        let t = ContinuousClock.now
                        await body()
                        xs.append(ms(ContinuousClock.now - t))
                    }
                    return xs.sorted()
                }
                let sandboxed = ToolBox.standard(isolation: isolation),
                    direct = ToolBox.standard(isolation: .none(reason: "bench baseline"))
                let shellCall = ToolCall(id: CallID("b.1"), name: "shell", arguments: #"{"command":"true"}"#)
                let readCall = ToolCall(id: CallID("b.2"), name: "read_file", arguments: #"{"path":"file.txt"}"#)
                let sShell = await time { _ = await sandboxed.run(shellCall, workspace: dir) }
                let dShell = await time { _ = await direct.run(shellCall, workspace: dir) }
                let raw = await time {
                    _ = await ProcessRunner.run(argv: ["/bin/true"], environment: [:], cwd: dir, timeout: .seconds(10))
                }
                let read = await time { _ = await sandboxed.run(readCall, workspace: dir) }
                let directRead = await time { _ = try? String(contentsOfFile: dir + "/file.txt", encoding: .utf8) }
                // The harness's deadline around every call of a real tool runner (a task and a timer).
                let guarded = await time { _ = await ToolDeadline.run(limit: .seconds(60)) { 1 } }
                let bare = await time { _ = await { @Sendable () async -> Int in 1 }() }
                func p(_ xs: [Double], _ q: Double) -> Double { xs[min(xs.count - 1, Int(Double(xs.count) * q))] }
                for (name, xs, base) in [
                    ("shell true, sandboxed", sShell, raw), ("shell true, unsandboxed", dShell, raw),
                    ("read_file 4 KB", read, directRead), ("harness deadline per call", guarded, bare),
                ] {
                    out.emit(
                        [
                            "workload": "tools", "figure": name, "median_ms": round3(p(xs, 0.5)),
                            "p99_ms": round3(p(xs, 0.99)),
                            "baseline_median_ms": round3(p(base, 0.5)),
                            "ratio": round1(p(xs, 0.5) / max(p(base, 0.5), 0.001)), "calls": calls,
                        ],
                        table: String(
                            format: "%-26@ median %.3f ms, p99 %.3f ms  (direct: median %.3f ms; ×%.1f)",
                            name, p(xs, 0.5), p(xs, 0.99), p(base, 0.5), p(xs, 0.5) / max(p(base, 0.5), 0.001)))
                }
                try? FileManager.default.removeItem(atPath: dir)
            }
        }
    }
}
