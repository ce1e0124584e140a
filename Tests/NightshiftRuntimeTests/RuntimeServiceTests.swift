import Foundation
import NightshiftCore
import NightshiftSQLite
import Testing

@testable import NightshiftRuntime

/// The runtime as a service, in-process, on SQLite with the scripted model (a test double):
/// `create` answers once the run is recorded while the drive goes on in the pool, and a stop ends
/// the drive at its next append with its lease given back, leaving the run as after a crash.
@Suite(.timeLimit(.minutes(2))) struct RuntimeServiceTests {
    /// A task whose only tool call says it started, then sleeps far longer than the test: only a
    /// stop can end it. Its check fails before the call and passes after it (no judge is needed).
    struct Setup {
        let root: String
        let ws: String
        let db: String
        var request: StartRequest

        /// - Parameter calls: how many such calls the model makes, one per turn, before it claims done.
        init(id: String, calls: Int = 1) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("ns-svc-\(UUID().uuidString)").path
            ws = root + "/ws"
            db = root + "/db/ns.db"
            try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
            let call =
                #"    - tools: [{shell: {command: "echo started >> started.txt; sleep 300; echo late > late.txt"}}]"#
            let scenario =
                "tasks:\n  one:\n" + Array(repeating: call + "\n", count: calls).joined() + "    - done: it started\n"
            try scenario.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
            let plan = Plan(
                title: "stop me",
                tasks: [
                    PlanTask(id: TaskID("one"), description: "start", checks: [Check(command: "test -f started.txt")])
                ])
            request = StartRequest(source: .plan(plan), workspace: ws)
            request.id = RunID(id)
            request.models.model = "scripted:\(root)/scenario.yaml"
            request.sandbox.unsandboxed = true
            request.memory = false
            request.store = StoreConfig(db: db)
        }
    }

    /// What a drive reports as it commits: the first `tool_started` is the gate.
    final class Started: Sendable {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        var observer: RunObserver {
            RunObserver(event: { [continuation] e in
                if case .toolStarted = e.event { continuation.yield() }
            })
        }
    }

    @Test func createAnswersWhenRecordedAndAStopLeavesTheRunToResume() async throws {
        let s = try Setup(id: "svc")
        let runtime = Runtime(.init(store: s.request.store, createsDatabase: true), logger: Said().logger)
        let started = Started()
        try await runtime.serving { runtime in
            let id = try await runtime.create(s.request, observer: started.observer)
            #expect(id == RunID("svc"))
            // Recorded before `create` answered; the drive goes on meanwhile.
            #expect(try await runtime.runs().map(\.id) == [id])
            var gate = started.stream.makeAsyncIterator()
            await gate.next()
            // One drive of a run per process: a second is refused while the first goes on.
            let twice = #expect(throws: RuntimeError.self) {
                try runtime.drive(ResumeRequest(run: id, by: "test"), observer: RunObserver())
            }
            #expect(twice?.code == .busy)
            await runtime.stop()
            let stopped = await #expect(throws: RuntimeError.self) { try await runtime.outcome(of: id) }
            #expect(stopped?.code == .stopped, "\(String(describing: stopped))")
            // Nothing new starts once stopping.
            let after = #expect(throws: RuntimeError.self) {
                try runtime.drive(ResumeRequest(run: id, by: "test"), observer: RunObserver())
            }
            #expect(after?.code == .stopped)
        }
        let store = try SQLiteEventStore(path: s.db)
        let events = try await store.readAll(RunID("svc")).map(\.event)
        // The log ends at the call's start: what the stopped step began was not given an end.
        #expect(events.last?.eventKind == .toolStarted, "\(events.map(\.eventKind))")
        // A person's drive: its lease released, not handed over (a worker would not take it up).
        let lease = try #require(try await store.leaseRecord(of: RunID("svc")))
        #expect(lease.released && !lease.handedOver)
        #expect(FileManager.default.fileExists(atPath: s.ws + "/started.txt"))
        #expect(!FileManager.default.fileExists(atPath: s.ws + "/late.txt"))  // the command was ended

        // A new runtime continues it: the call is in doubt (never run again) and the task finishes.
        let again = Runtime(.init(store: s.request.store), logger: Said().logger)
        var resume = ResumeRequest(run: RunID("svc"), by: "test")
        resume.sandbox.unsandboxed = true
        let outcome = try await again.serving { runtime in
            try runtime.drive(resume, observer: RunObserver())
            return try await runtime.outcome(of: RunID("svc"))
        }
        #expect(outcome.reason == .finished)
        let all = try await store.readAll(RunID("svc")).map(\.event)
        let doubted = all.contains { if case .toolInDoubt = $0 { true } else { false } }
        #expect(doubted, "\(all.map(\.eventKind))")
        #expect(try await store.verifyChain(RunID("svc")).ok)
    }

    /// A worker's drive stopped by its process is handed over: the run is ready for the next
    /// worker at once (a drive that released its lease after an error waits for a person).
    @Test func aWorkersDriveIsHandedOverWhenItsProcessStops() async throws {
        var s = try Setup(id: "hand", calls: 2)
        s.request.fleetConcurrency = 0
        let runtime = Runtime(.init(store: s.request.store, createsDatabase: true), logger: Said().logger)
        // Made by a person, then killed where it waits for nothing: driven by a worker from here.
        let first = Started()
        try await runtime.serving { runtime in
            let id = try await runtime.create(s.request, observer: first.observer)
            var gate = first.stream.makeAsyncIterator()
            await gate.next()
            await runtime.stop()
            _ = try? await runtime.outcome(of: id)
        }
        let worker = Runtime(.init(store: s.request.store), logger: Said().logger)
        var request = ResumeRequest(run: RunID("hand"), by: "test worker")
        request.driver = .worker
        request.sandbox.unsandboxed = true
        let second = Started()
        try await worker.serving { runtime in
            try runtime.drive(request, observer: second.observer)
            var gate = second.stream.makeAsyncIterator()
            await gate.next()  // the second call (the first is in doubt)
            await runtime.stop()
            _ = try? await runtime.outcome(of: RunID("hand"))
        }
        let store = try SQLiteEventStore(path: s.db)
        let lease = try #require(try await store.leaseRecord(of: RunID("hand")))
        #expect(lease.handedOver, "\(lease)")
        let look = try await ReadyRuns.next(store: store, now: Timestamp(milliseconds: 0))
        #expect(look.ready.map(\.run) == [RunID("hand")], "\(look.ready)")
    }
}

/// The pool's promise: whoever waits for a drive is answered, even when the pool is cancelled
/// with drives still queued (a front end's group cancelled rather than shut down): a drive started
/// in a cancelled pool ends as stopped, and nothing new is taken.
@Suite struct RunPoolTests {
    @Test func aPoolCancelledWithDrivesQueuedAnswersEveryWaiter() async throws {
        let pool = RunPool(logger: Said().logger)
        try pool.submit(RunID("a")) {
            try Task.checkCancellation()  // as a store does
            return RunOutcome(run: RunID("a"), reason: .finished, alreadyEnded: false)
        }
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await pool.run()
        }
        await cancelled.value
        let error = await #expect(throws: RuntimeError.self) { try await pool.outcome(of: RunID("a")) }
        #expect(error?.code == .stopped)
        #expect(!pool.isDriving(RunID("a")))
        #expect(throws: RuntimeError.self) {
            try pool.submit(RunID("b")) { RunOutcome(run: RunID("b"), reason: .finished, alreadyEnded: false) }
        }
    }
}
