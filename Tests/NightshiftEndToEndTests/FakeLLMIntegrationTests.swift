import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Both providers against fakellm (PyPI), a third-party server for the OpenAI and Anthropic
/// APIs that nobody here wrote, streaming tool calls included. `.ci/run` installs it into
/// `.venv`; in CI a missing fakellm fails the test instead of skipping it.
@Suite(.serialized, .enabled(if: FakeLLM.binary != nil || ProcessInfo.processInfo.environment["CI"] != nil))
struct FakeLLMIntegrationTests {
    static let rules = """
        version: 1
        rules:
          - name: write
            when: {turn: 1}
            respond:
              tool_calls:
                - name: write_file
                  arguments: {path: out.txt, content: "written through fakellm"}
          - name: done
            when: {turn: 2}
            respond:
              tool_calls:
                - name: task_done
                  arguments: {summary: "wrote out.txt"}
        """

    @Test(arguments: ["openai", "anthropic"])
    func aWholeRunDrivenByFakeLLM(provider: String) async throws {
        let root = tempDir("ns-fakellm")
        let (port, server) = try await FakeLLM.serve(rules: Self.rules, in: root)
        defer { server.kill() }

        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        try
            "tasks:\n  - id: write\n    description: write out.txt via \(provider)\n    checks:\n      - grep -q fakellm out.txt\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        let model =
            provider == "openai"
            ? "openai-compatible:http://127.0.0.1:\(port)/v1#gpt-4o"
            : "anthropic-compatible:http://127.0.0.1:\(port)#claude-sonnet-4-5"
        let r = try await nightshift(
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", root + "/ws", "--db", root + "/ns.db",
                "--id", "fk", "--model", model,
            ], env: ["NIGHTSHIFT_API_KEY": "not-used"])
        #expect(
            r.status == 0,
            "\(r.stdout)\(r.stderr)\n\((try? String(contentsOfFile: root + "/fakellm.log", encoding: .utf8)) ?? "")")
        #expect(try String(contentsOfFile: root + "/ws/out.txt", encoding: .utf8) == "written through fakellm")
        let store = try SQLiteEventStore(path: root + "/ns.db")
        let state = try RunState.fold(RunID("fk"), try await store.readAll(RunID("fk")))
        #expect(state.tasks.map(\.status) == [.done])
        #expect(state.spend.modelCalls == 2)
        // fakellm reports usage on its Anthropic wire only: there the tokens are read; on both, every call is in the ledger.
        #expect(state.spend.ledger.first?.calls == 2)
        if provider == "anthropic" { #expect((state.spend.ledger.first?.usage.input ?? 0) > 0) }
    }
}

extension FakeLLMIntegrationTests {
    /// The planner, the worker and the judge, each answering through the real wire format
    /// (streamed tool calls): fakellm tells the roles apart by their system prompts.
    static let loopRules = """
        version: 1
        rules:
          - name: planner
            when: {messages_contain: "You are the planner"}
            respond:
              tool_calls:
                - name: submit_plan
                  arguments:
                    title: Out
                    tasks:
                      - {id: write, description: write out.txt, checks: ["grep -q fakellm out.txt"], rubric: [the file says where it came from]}
          - name: judge
            when: {messages_contain: "You are the judge"}
            respond:
              tool_calls:
                - name: submit_verdict
                  arguments: {verdict: pass, reasons: []}
          - name: done
            when: {tool_result_contains: "wrote"}
            respond:
              tool_calls:
                - name: task_done
                  arguments: {summary: "wrote out.txt", learned: "fakellm streams tool calls"}
          - name: write
            when: {messages_contain: "You are the worker"}
            respond:
              tool_calls:
                - name: write_file
                  arguments: {path: out.txt, content: "written through fakellm"}
        """

    @Test(arguments: ["openai", "anthropic"])
    func aGoalRunWithPlannerAndJudgeDrivenByFakeLLM(provider: String) async throws {
        let root = tempDir("ns-fakellm-loop")
        let (port, server) = try await FakeLLM.serve(rules: Self.loopRules, in: root)
        defer { server.kill() }
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        let model =
            provider == "openai"
            ? "openai-compatible:http://127.0.0.1:\(port)/v1#gpt-4o"
            : "anthropic-compatible:http://127.0.0.1:\(port)#claude-sonnet-4-5"
        let r = try await nightshift(
            [
                "run", "--goal", "Write out.txt through fakellm.", "--workspace", root + "/ws", "--db", root + "/ns.db",
                "--id", "fl", "--model", model,
            ], env: ["NIGHTSHIFT_API_KEY": "not-used"])
        #expect(
            r.status == 0,
            "\(r.stdout)\(r.stderr)\n\((try? String(contentsOfFile: root + "/fakellm.log", encoding: .utf8)) ?? "")")
        let store = try SQLiteEventStore(path: root + "/ns.db")
        let events = try await store.readAll(RunID("fl")).map(\.event)
        #expect(
            events.contains {
                if case let .planSet(plan) = $0 {
                    plan.tasks.first?.rubric == ["the file says where it came from"]
                } else {
                    false
                }
            })
        #expect(events.contains(.judgeVerdict(task: TaskID("write"), attempt: 1, verdict: .pass, reasons: [])))
        #expect(
            events.contains {
                if case let .handoffWritten(_, .taskDone, h) = $0 {
                    h.learned == "fakellm streams tool calls"
                } else {
                    false
                }
            })
        let state = try RunState.fold(RunID("fl"), try await store.readAll(RunID("fl")))
        #expect(state.spend.ledger.map(\.role) == [.planner, .worker, .judge])
    }
}

enum FakeLLM {
    /// Starts fakellm on a free loopback port with `rules`; its log is `root/fakellm.log`.
    static func serve(rules: String, in root: String) async throws -> (UInt16, ChildProcess) {
        let binary = try #require(
            binary,
            "fakellm is not installed: run .ci/run or `python3 -m venv .venv && .venv/bin/pip install fakellm==0.3.5`")
        try rules.write(toFile: root + "/fakellm.yaml", atomically: true, encoding: .utf8)
        let port = try freePort()
        let server = try ChildProcess.spawn(
            [binary, "serve", "--host", "127.0.0.1", "--port", "\(port)", "--config", root + "/fakellm.yaml"],
            environment: ProcessInfo.processInfo.environment, outputPath: root + "/fakellm.log")
        do { try await waitForPort(port, log: root + "/fakellm.log") } catch {
            server.kill()
            throw error
        }
        return (port, server)
    }

    static var binary: String? {
        if let env = ProcessInfo.processInfo.environment["NIGHTSHIFT_FAKELLM"],
            FileManager.default.isExecutableFile(atPath: env)
        {
            return env
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let candidate = root.appendingPathComponent(".venv/bin/fakellm").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return UInt16(bigEndian: addr.sin_port)
    }

    static func waitForPort(_ port: UInt16, log: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = port.bigEndian
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(fd)
            if ok == 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("fakellm did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }
}

extension FakeLLMIntegrationTests {
    /// A fleet through a real wire format: the coordinator and its sub-agents all talk to fakellm,
    /// which tells them apart by what their contexts hold. A sub-agent's context is its own task:
    /// nothing of the coordinator's reaches it (the rule for the coordinator's words never fires there).
    static let fleetRules = """
        version: 1
        rules:
          - name: judge
            when: {messages_contain: "You are the judge"}
            respond:
              tool_calls:
                - name: submit_verdict
                  arguments: {verdict: pass, reasons: []}
          - name: coordinator-done
            when: {tool_result_contains: "sub-agents ended"}
            respond:
              tool_calls:
                - name: task_done
                  arguments: {summary: "both sub-agents reported"}
          - name: coordinator-wait
            when: {tool_result_contains: "spawned 2 sub-agent"}
            respond:
              tool_calls:
                - name: wait_agents
                  arguments: {}
          - name: coordinator-spawn
            when: {messages_contain: "coordinate the fleet"}
            respond:
              tool_calls:
                - name: spawn_agents
                  arguments:
                    agents:
                      - {profile: writer, task: {id: a, description: "make file a", checks: ["test -f a.txt"]}, budget: {steps: 4}}
                      - {profile: writer, task: {id: b, description: "make file b", checks: ["test -f b.txt"]}, budget: {steps: 4}}
          - name: child-done
            when: {tool_result_contains: "wrote"}
            respond:
              tool_calls:
                - name: task_done
                  arguments: {summary: "made the file"}
          - name: child-a
            when: {messages_contain: "make file a"}
            respond:
              tool_calls:
                - name: write_file
                  arguments: {path: a.txt, content: "a"}
          - name: child-b
            when: {messages_contain: "make file b"}
            respond:
              tool_calls:
                - name: write_file
                  arguments: {path: b.txt, content: "b"}
        """

    @Test func aFleetDrivenByFakeLLM() async throws {
        let root = tempDir("ns-fakellm-fleet")
        let (port, server) = try await FakeLLM.serve(rules: Self.fleetRules, in: root)
        defer { server.kill() }
        for dir in ["/ws", "/agents"] {
            try FileManager.default.createDirectory(atPath: root + dir, withIntermediateDirectories: true)
        }
        try "description: Writes one file\n".write(
            toFile: root + "/agents/writer.yaml", atomically: true, encoding: .utf8)
        try "title: fleet\ntasks:\n  - id: lead\n    description: coordinate the fleet\n    checks:\n      - \"true\"\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        let r = try await nightshift(
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", root + "/ws", "--db", root + "/ns.db",
                "--id", "ff", "--agents", root + "/agents", "--model",
                "openai-compatible:http://127.0.0.1:\(port)/v1#gpt-4o",
            ], env: ["NIGHTSHIFT_API_KEY": "not-used"])
        #expect(
            r.status == 0,
            "\(r.stdout)\(r.stderr)\n\((try? String(contentsOfFile: root + "/fakellm.log", encoding: .utf8)) ?? "")")
        let store = try SQLiteEventStore(path: root + "/ns.db")
        let state = try await store.state(of: RunID("ff"))
        #expect(state.status == .finished)
        #expect(state.fleet.children.map { $0.outcome?.status } == [.finished, .finished])
        for (c, file) in zip(state.fleet.children, ["a.txt", "b.txt"]) {
            let child = try await store.state(of: c.id)
            #expect(FileManager.default.fileExists(atPath: child.workspace + "/" + file))
            #expect(child.model.hasPrefix("openai-compatible:") && child.spend.modelCalls == 2)
        }
    }
}
