import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftRuntime

#if canImport(Glibc)
import Glibc
#endif

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a small offline demo: a project with failing tests, a three-task plan, the scripted model.",
        discussion: """
            Creates a sample Python project with failing tests in a temporary folder, writes a plan with real \
            checks and a scenario for the scripted model (a test double: no network, no real model), and runs it \
            to completion, printing the timeline. One task's first done-claim fails its check on purpose, to show \
            the harness sending the failure back. Needs python3.

            --kill-after N kills the process (SIGKILL) right after event N is committed, so you can watch \
            `nightshift resume RUN` continue the run from its log.
            """)

    @OptionGroup var store: StoreOptions
    @Option(
        help: ArgumentHelp("Where to create the sample project. Defaults to a new temporary folder.", valueName: "DIR"))
    var dir: String?
    @Option(
        help: ArgumentHelp(
            "Kill this process with SIGKILL right after event N is committed (to try resume).", valueName: "N"))
    var killAfter: Int64?
    @Flag(name: .shortAndLong, help: "Print only the outcome.") var quiet = false

    mutating func run() async throws {
        let reason = try await reportErrors { () async throws -> StopReason in
            let root: String
            if let dir {
                root = URL(fileURLWithPath: dir).standardizedFileURL.path
                if FileManager.default.fileExists(atPath: root),
                    !((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).isEmpty
                {
                    throw CLIError("--dir \(root) exists and is not empty: pass a new or empty folder")
                }
            } else {
                root =
                    FileManager.default.temporaryDirectory.appendingPathComponent(
                        "nightshift-demo-\(getpid())-\(Int(Date().timeIntervalSince1970))"
                    ).path
            }
            let project = Workspace.canonical(root + "/project")
            try DemoFiles.write(root: root, project: project)
            await DemoFiles.commitProject(project)
            say("Nightshift demo — sample project in \(project)")
            say("plan: \(root)/plan.yaml   scenario (scripted test double): \(root)/scenario.yaml\n")

            let plan = try PlanFile.load(path: root + "/plan.yaml")
            let printer = quiet ? nil : TimelinePrinter()
            let kill = killAfter
            let observer = RunObserver(
                event: { e in
                    printer?.print(e)
                    if e.seq == kill {
                        writeOut(
                            "\n[demo] killing this process with SIGKILL after event \(e.seq), as asked (--kill-after)\n"
                        )
                        Glibc.kill(getpid(), SIGKILL)
                    }
                },
                notice: { say("note: \($0)\n") })
            let config = try store.resolved()
            let resumeArg = store.again
            let (runID, reason) = try await DemoRun.run(
                DemoRun.Request(plan: plan, project: project, scenario: root + "/scenario.yaml", store: config),
                observer: observer,
                created: { writeOut("run id: \($0)   (if killed: nightshift resume \($0)\(resumeArg))\n\n") })
            if reason == .finished { await printReport(runID, config) }
            await printOutcome(runID, reason, again: store.again, config: config)
            say("The workspace now holds the fixed project and PROGRESS.md (a view written from the log): \(project)")
            say("Try a crash: nightshift demo --kill-after 18, then nightshift resume RUN")
            return reason
        }
        throw exitStatus(for: reason)
    }
}

/// The demo's sample project, plan and scenario.
enum DemoFiles {
    static func write(root: String, project: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: project + "/tests", withIntermediateDirectories: true)
        let files: [String: String] = [
            project + "/calc.py": """
            \"\"\"A tiny calculator with a bug and a missing function.\"\"\"


            def add(a, b):
                return a - b

            """,
            project + "/tests/__init__.py": "",
            project + "/.gitignore": "__pycache__/\n",
            project + "/tests/test_legacy.py": """
            import unittest


            class TestLegacy(unittest.TestCase):
                def test_known_failure(self):
                    self.fail("known failure, tracked elsewhere: not part of this plan")


            if __name__ == "__main__":
                unittest.main()

            """,
            project + "/tests/test_add.py": """
            import unittest
            from calc import add


            class TestAdd(unittest.TestCase):
                def test_add(self):
                    self.assertEqual(add(2, 3), 5)
                    self.assertEqual(add(-1, 1), 0)


            if __name__ == "__main__":
                unittest.main()

            """,
            project + "/tests/test_multiply.py": """
            import unittest
            import calc


            class TestMultiply(unittest.TestCase):
                def test_multiply(self):
                    self.assertEqual(calc.multiply(3, 4), 12)
                    self.assertEqual(calc.multiply(0, 7), 0)
                    self.assertEqual(calc.multiply(5, -2), -10)


            if __name__ == "__main__":
                unittest.main()

            """,
            root + "/plan.yaml": """
            title: Fix the calculator
            # Plan-wide checks: one that already fails before any work (recorded, does not block),
            # and any that pass must keep passing.
            guards:
              - python3 -m unittest -q tests.test_legacy
            tasks:
              - id: fix-add
                description: add(a, b) returns the wrong result. Fix it so tests/test_add.py passes.
                checks:
                  - command: python3 -m unittest -q tests.test_add
              - id: add-multiply
                description: Add multiply(a, b) to calc.py so tests/test_multiply.py passes.
                checks:
                  - command: python3 -m unittest -q tests.test_multiply
                  - command: python3 -m unittest -q tests.test_add
              - id: document
                description: Write USAGE.md describing add and multiply.
                checks:
                  - command: grep -q multiply USAGE.md && grep -q add USAGE.md
                rubric:
                  - USAGE.md shows an example call with its result for each function

            """,
            root + "/scenario.yaml": """
            # Scenario for the scripted model: a TEST DOUBLE that plays these turns in order.
            # No network and no real model are involved.
            tasks:
              fix-add:
                - say: Let me see the project and the failing test.
                  tools:
                    - list_files: {}
                    - read_file: {path: calc.py}
                - say: add() subtracts. Fixing it and running the test.
                  tools:
                    - write_file:
                        path: calc.py
                        content: &calc_add |
                          \"\"\"A tiny calculator.\"\"\"


                          def add(a, b):
                              return a + b
                    - shell: {command: python3 -m unittest -q tests.test_add}
                - say: The add test passes.
                  done: add() now returns a + b
                # Played only when a crash left an earlier call in doubt (it is never run twice): redo the change.
                - say: An earlier call's outcome is unknown after a crash, so I write the fix again.
                  tools:
                    - write_file: {path: calc.py, content: *calc_add}   # the same text as above (a YAML alias)
                  done: add() returns a + b (rewritten after the crash)
              add-multiply:
                - say: Adding multiply as repeated addition.
                  tools:
                    - write_file:
                        path: calc.py
                        content: |
                          \"\"\"A tiny calculator.\"\"\"


                          def add(a, b):
                              return a + b


                          def multiply(a, b):
                              total = 0
                              for _ in range(b):
                                  total = add(total, a)
                              return total
                  done: multiply() added
                - say: Negative factors break the loop. Using the operator instead.
                  handoff:
                    learned: range(b) is empty for negative b; the operator handles every sign
                    left: USAGE.md
                  tools:
                    - write_file:
                        path: calc.py
                        content: &calc_multiply |
                          \"\"\"A tiny calculator.\"\"\"


                          def add(a, b):
                              return a + b


                          def multiply(a, b):
                              return a * b
                    - shell: {command: python3 -m unittest -q tests.test_multiply tests.test_add}
                  done: multiply() uses a * b; negative factors work
                - say: An earlier call's outcome is unknown after a crash, so I write calc.py again.
                  tools:
                    - write_file: {path: calc.py, content: *calc_multiply}
                  done: multiply() uses a * b (rewritten after the crash)
              document:
                - tools:
                    - write_file:
                        path: USAGE.md
                        content: |
                          # calc

                          - `add(a, b)` returns the sum of a and b.
                          - `multiply(a, b)` returns the product of a and b.
                  done: USAGE.md written
                - say: The judge wants examples. Adding one per function.
                  tools:
                    - write_file:
                        path: USAGE.md
                        content: &usage_examples |
                          # calc

                          - `add(a, b)` returns the sum of a and b: `add(2, 3)` is `5`.
                          - `multiply(a, b)` returns the product of a and b: `multiply(5, -2)` is `-10`.
                  done: USAGE.md has an example per function
                - say: An earlier call's outcome is unknown after a crash, so I write USAGE.md again.
                  tools:
                    - write_file: {path: USAGE.md, content: *usage_examples}
                  done: USAGE.md has an example per function (rewritten after the crash)
            # The judge (also scripted here) grades only the diff and the check results.
            judge:
              document:
                - verdict: rework
                  reasons: [USAGE.md shows no example call or result for add or multiply]
                - verdict: pass
                - verdict: pass

            """,
        ]
        for (path, text) in files {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
    }

    /// Puts the sample project under git, so the judge reads a real diff of the work.
    static func commitProject(_ project: String) async {
        await GitWorkspace.initialCommit(project, message: "sample project")
    }
}
