import Foundation
import Logging
import NightshiftCore
import NightshiftRuntime
import NightshiftSQLite
import NightshiftTesting
import Synchronization
import Testing

/// The stores a use case is run on here: the twin, and SQLite in memory and on disk.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, sqliteMemory, sqliteFile
    var testDescription: String { rawValue }

    func makeSignalling() throws -> any EventStore & RunQueue & LogSignal {
        switch self {
        case .memory: return InMemoryEventStore()
        case .sqliteMemory: return try SQLiteEventStore.inMemory()
        case .sqliteFile:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-rt-\(UUID().uuidString)").path
            return try SQLiteEventStore(path: dir + "/store.db")
        }
    }
}

let plan = Plan(title: "p", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [])])
func creation() -> [Event] {
    [.runCreated(title: "t", workspace: "/w", model: "scripted:x", settings: RunSettings()), .planSet(plan: plan)]
}

/// A live view and the worker loop wake on appends: nothing here can pass by polling, since
/// every fallback timeout is an hour.
@Suite(.timeLimit(.minutes(2))) struct LiveFeedTests {
    @Test(arguments: StoreKind.allCases)
    func aFollowerGetsEveryEventAsItIsAppendedAndStopsWhenTheRunPauses(kind: StoreKind) async throws {
        let store = try kind.makeSignalling()
        let run = RunID("r")
        try await store.append(creation(), to: run, expectedSeq: 0)
        let follower = Task {
            var seqs: [Int64] = []
            for try await e in RunEvents(of: run, after: 1, follow: true, store: store, fallback: .seconds(3600)) {
                seqs.append(e.seq)
            }
            return seqs
        }
        try await store.append([.noteAdded(task: nil, text: "a")], to: run, expectedSeq: 2)
        try await store.append([.noteAdded(task: nil, text: "b")], to: run, expectedSeq: 3)
        try await store.append([.runPaused(reason: "x", kind: .escalation)], to: run, expectedSeq: 4)
        #expect(try await follower.value == [2, 3, 4, 5])
        // Without following: what is there, then the end.
        var all: [Int64] = []
        for try await e in RunEvents(of: run, follow: false, store: store) { all.append(e.seq) }
        #expect(all == [1, 2, 3, 4, 5])
    }

    /// An idle worker reads nothing until an append: a person's decision wakes it at once and it
    /// resumes the run (its idle look is an hour, so only the signal can have woken it).
    @Test(arguments: StoreKind.allCases)
    func aDecisionWakesAnIdleWorker(kind: StoreKind) async throws {
        let store = try kind.makeSignalling()
        let run = RunID("r")
        try await store.append(creation(), to: run, expectedSeq: 0)
        try await store.append([.runPaused(reason: "ask", kind: .escalation)], to: run, expectedSeq: 2)
        let (resumed, resumes) = AsyncStream<RunID>.makeStream()
        let (looked, looks) = AsyncStream<Int>.makeStream()
        var loop = WorkerLoop(
            store: store, poll: .milliseconds(10),
            request: { ResumeRequest(run: $0, by: "test") },
            resume: { request in
                resumes.yield(request.run)
                return RunOutcome(run: request.run, reason: .finished, alreadyEnded: false)
            },
            logger: Said().logger, afterLook: { n in looks.yield(n) })
        loop.idleLook = .seconds(3600)
        let worker = Task { try await loop.run(once: false) }
        defer { worker.cancel() }
        var lookIterator = looked.makeAsyncIterator()
        #expect(await lookIterator.next() == 0)  // the first look: nothing to do
        try await store.append([.guidanceGiven(text: "go on", by: "alice")], to: run, expectedSeq: 3)
        var resumedIterator = resumed.makeAsyncIterator()
        #expect(await resumedIterator.next() == run)
    }

    /// A run whose log cannot be read is handed to the resume (which says what is wrong) and the
    /// worker goes on with the others.
    @Test func aBrokenLogDoesNotStopTheWorker() async throws {
        let store = InMemoryEventStore()
        for name in ["broken", "fine"] {
            try await store.append(creation(), to: RunID(name), expectedSeq: 0)
            try await store.append(
                [.runPaused(reason: "ask", kind: .escalation), .guidanceGiven(text: "go", by: "bob")], to: RunID(name),
                expectedSeq: 2)
        }
        await store.tamper(RunID("broken"), seq: 2, body: Data("{}".utf8))
        let said = Said()
        let loop = WorkerLoop(
            store: store, poll: .milliseconds(10),
            request: { ResumeRequest(run: $0, by: "test") },
            resume: { request in
                guard request.run != RunID("broken") else {
                    throw StoreError(.corrupt, "run broken: event 2 is corrupt")
                }
                return RunOutcome(run: request.run, reason: .finished, alreadyEnded: false)
            },
            logger: said.logger)
        try await loop.run(once: true)
        let lines = said.lines
        #expect(lines.contains { $0.hasPrefix("resuming broken (its log could not be checked") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("run broken could not be resumed") }, "\(lines)")
        #expect(lines.contains("run fine finished"), "\(lines)")
    }
}

extension LiveFeedTests {
    /// A run whose resume failed after appending is not tried again until its log moves past
    /// where the failed attempt left it: no worker spins on a run that fails each time.
    @Test func aRunWhoseResumeFailsIsNotRetriedUntilItsLogMoves() async throws {
        let store = InMemoryEventStore()
        let run = RunID("r")
        try await store.append(creation(), to: run, expectedSeq: 0)
        try await store.append(
            [
                .runPaused(reason: "x", kind: .escalation),
                .runResumed(by: "nightshift worker (pid 1)", driver: .worker),
            ],
            to: run, expectedSeq: 2)
        let attempts = Said()
        let (looked, looks) = AsyncStream<Int>.makeStream()
        var loop = WorkerLoop(
            store: store, poll: .milliseconds(10), request: { ResumeRequest(run: $0, by: "test") },
            resume: { request in
                attempts.add(request.run.rawValue)
                let head = try await store.summary(of: request.run)?.headSeq ?? 0
                try await store.append(
                    [.noteAdded(task: nil, text: "got this far")], to: request.run, expectedSeq: head)
                // The run's own trouble (the store's passing trouble is tried again after a pause instead).
                throw RuntimeError(.unavailable, "the key file is gone")
            },
            logger: Said().logger, afterLook: { looks.yield($0) })
        loop.idleLook = .seconds(3600)
        let worker = Task { try await loop.run(once: false) }
        defer { worker.cancel() }
        var iterator = looked.makeAsyncIterator()
        #expect(await iterator.next() == 1)  // resumed once, and it failed after an append
        #expect(await iterator.next() == 0)  // the append woke the next look: the run is not tried again
        #expect(attempts.lines == ["r"])
    }
}

/// Lines a use case said (or logged: each record's message), collected across tasks.
final class Said: Sendable {
    private let box = Mutex<[String]>([])
    func add(_ line: String) { box.withLock { $0.append(line) } }
    var lines: [String] { box.withLock { $0 } }
    /// A logger whose records' messages are added here.
    var logger: Logger {
        Logger(label: "test") { _ in Collecting(said: self) }
    }

    struct Collecting: LogHandler {
        let said: Said
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { said.add("\(event.message)") }
    }
}

/// Run ids are ordered by the time they were made (on the injected clock), so a listing by id
/// is a listing by age; two made in the same millisecond still differ.
@Suite struct RunIDTests {
    @Test func runIDsSortByTheTimeTheyWereMade() {
        let clock = TestClock(1_700_000_000_000)
        var ids: [RunID] = []
        for _ in 0..<5 {
            ids.append(Adapters.newRunID(clock: clock))
            clock.advance(37)
        }
        #expect(ids == ids.sorted())
        #expect(Set((0..<50).map { _ in Adapters.newRunID(clock: clock) }).count == 50)
    }
}

/// The worker's log lines: for a person, or one JSON object per line with the record's metadata;
/// what a run's text puts in a message (control characters, quotes) never breaks a JSON line.
@Suite struct LogLineTests {
    @Test func jsonLinesCarryLevelMessageAndMetadataAndStayValid() throws {
        let said = Said()
        var logger = Logger(label: "t") { _ in LineLogHandler(format: .json, level: .info, write: { said.add($0) }) }
        logger[metadataKey: "worker"] = "w1"
        logger.info("run r failed: \"quoted\"\n\u{1B}[2J", metadata: ["run": "r"])
        logger.debug("below the level")
        #expect(said.lines.count == 1)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(said.lines[0].utf8)) as? [String: String])
        #expect(object["level"] == "info" && object["run"] == "r" && object["worker"] == "w1")
        #expect(object["message"] == "run r failed: \"quoted\"\n\u{1B}[2J")
        #expect(!said.lines[0].contains("\n") && !said.lines[0].contains("\u{1B}"))
    }

    /// A message that holds a line break (a model's error, git's output) stays one record on one
    /// line, so it cannot print a line that looks like another record; a value with spaces is quoted.
    @Test func aTextRecordIsOneLineWhateverItsMessageHolds() {
        let said = Said()
        let logger = Logger(label: "t") { _ in LineLogHandler(format: .text, level: .info, write: { said.add($0) }) }
        logger.info("run r paused: boom\n2026-12-07T14:00:00Z info run prod finished", metadata: ["why": "a b=c"])
        #expect(said.lines.count == 1 && !said.lines[0].contains("\n"))
        #expect(said.lines[0].contains("boom\\n2026-12-07T14:00:00Z info run prod finished"), "\(said.lines)")
        #expect(said.lines[0].hasSuffix(#"why="a b=c""#), "\(said.lines)")
    }

    @Test func aMetadataKeyNamedLikeAFieldIsKeptApart() throws {
        let said = Said()
        let logger = Logger(label: "t") { _ in LineLogHandler(format: .json, level: .info, write: { said.add($0) }) }
        logger.info("the message", metadata: ["message": "forged", "level": "critical"])
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(said.lines[0].utf8)) as? [String: String])
        #expect(object["message"] == "the message" && object["level"] == "info")
        #expect(object["metadata.message"] == "forged" && object["metadata.level"] == "critical")
    }

    @Test func textLinesSayTheLevelTheMessageAndTheMetadata() {
        let said = Said()
        let logger = Logger(label: "t") { _ in LineLogHandler(format: .text, level: .notice, write: { said.add($0) }) }
        logger.info("not shown")
        logger.error("run r could not be resumed", metadata: ["run": "r"])
        #expect(said.lines.count == 1)
        #expect(said.lines[0].hasSuffix(" error run r could not be resumed  run=r"), "\(said.lines)")
    }
}

extension LiveFeedTests {
    /// A drive ended by the store's passing trouble (a database restarting) is tried again after a
    /// pause, though its log did not move: the run is nobody's to resume by hand.
    @Test func aRunStoppedByTheStoresTroubleIsTriedAgainWithoutItsLogMoving() async throws {
        let store = InMemoryEventStore()
        let run = RunID("r")
        try await store.append(creation(), to: run, expectedSeq: 0)
        try await store.append(
            [
                .runPaused(reason: "x", kind: .escalation),
                .runResumed(by: "nightshift worker (pid 1)", driver: .worker),
            ],
            to: run, expectedSeq: 2)
        let attempts = Said()
        let (looked, looks) = AsyncStream<Int>.makeStream()
        var loop = WorkerLoop(
            store: store, poll: .milliseconds(10), request: { ResumeRequest(run: $0, by: "test") },
            resume: { request in
                attempts.add(request.run.rawValue)
                if attempts.lines.count == 1 {
                    throw StoreError(.io, "PostgreSQL: terminating connection due to administrator command")
                }
                return RunOutcome(run: request.run, reason: .finished, alreadyEnded: false)
            },
            logger: Said().logger, afterLook: { looks.yield($0) })
        loop.idleLook = .seconds(3600)
        loop.heardLook = .seconds(3600)
        let worker = Task { try await loop.run(once: false) }
        defer { worker.cancel() }
        var resumed = 0
        for await n in looked where n > 0 {
            resumed += n
            if resumed == 2 { break }
        }
        #expect(attempts.lines == ["r", "r"])
    }
}
