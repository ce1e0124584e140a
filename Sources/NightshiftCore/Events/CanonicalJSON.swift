import Foundation

/// Writes the canonical bytes of stored events directly, without the generic `Encoder`
/// machinery (which cost a fifth of a step's CPU). The output is byte-identical to
/// `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` over the synthesised `Codable`
/// conformances — a differential test holds it to that for every event kind — so events it
/// writes decode with `JSONDecoder` and the on-disk format is the documented one.
///
/// Keys are written in sorted (bytewise) order by hand; optionals that are nil are omitted, as
/// synthesised `encodeIfPresent` does.
struct CanonicalWriter {
    var bytes: [UInt8] = []
    var blobs: [String: Data] = [:]

    init() { bytes.reserveCapacity(512) }

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `"key":`
    mutating func key(_ k: StaticString, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        raw(k)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func string(_ s: String) { JSONText.appendString(s, to: &bytes) }

    mutating func int<I: BinaryInteger>(_ v: I) { bytes.append(contentsOf: String(v).utf8) }
    mutating func bool(_ v: Bool) { if v { raw("true") } else { raw("false") } }

    mutating func payload(_ p: Payload) {
        let count = p.text.utf8.count
        guard count > Payload.inlineLimit else {
            string(p.text)
            return
        }
        let data = Data(p.text.utf8)
        let key = Payload.blobKey(data)
        blobs[key] = data
        raw("{\"blob\":")
        string(key)
        raw(",\"size\":")
        int(count)
        raw("}")
    }

    mutating func usage(_ u: TokenUsage) {
        raw("{")
        if let w = u.cacheWriteInput {
            key("cacheWriteInput", first: true)
            int(w)
            key("cachedInput")
        } else {
            key("cachedInput", first: true)
        }
        int(u.cachedInput)
        key("input")
        int(u.input)
        key("output")
        int(u.output)
        raw("}")
    }

    mutating func toolCall(_ t: ToolCall) {
        raw("{")
        key("arguments", first: true)
        payload(t.arguments)
        key("id")
        string(t.id.rawValue)
        key("name")
        string(t.name)
        raw("}")
    }

    mutating func result(_ r: ToolResult) {
        raw("{")
        var first = true
        if let code = r.exitCode {
            key("exitCode", first: true)
            int(code)
            first = false
        }
        key("ok", first: first)
        bool(r.ok)
        key("output")
        payload(r.output)
        raw("}")
    }

    mutating func settings(_ s: RunSettings) {
        raw("{")
        var first = true
        if let agents = s.agents {
            key("agents", first: true)
            first = false
            string(agents)
        }
        if let git = s.git {
            key("git", first: first)
            first = false
            raw("{")
            key("gitDir", first: true)
            string(git.gitDir)
            key("workTree")
            string(git.workTree)
            raw("}")
        }
        if let hooks = s.hooks {
            key("hooks", first: first)
            first = false
            encodable(hooks)
        }
        if let loop = s.loop {
            key("loop", first: first)
            encodable(loop)
            key("maxAttempts")
        } else {
            key("maxAttempts", first: first)
        }
        int(s.maxAttempts)
        key("maxTurnsPerAttempt")
        int(s.maxTurnsPerAttempt)
        if let memory = s.memory {
            key("memory")
            encodable(memory)
        }
        if let parent = s.parent {
            key("parent")
            encodable(parent)
        }
        if let pinned = s.pinnedProfiles {
            key("pinnedProfiles")
            encodable(pinned)
        }
        if let named = s.policyNamed {
            key("policyNamed")
            bool(named)
        }
        if let pricing = s.pricing {
            key("pricing")
            encodable(pricing)
        }
        if let profile = s.profile {
            key("profile")
            encodable(profile)
        }
        if let sandbox = s.sandbox {
            key("sandbox")
            encodable(sandbox)
        }
        if let sealed = s.sealed {
            key("sealed")
            strings(sealed)
        }
        if let sources = s.sources {
            key("sources")
            encodable(sources)
        }
        key("stopOnBlocked")
        bool(s.stopOnBlocked)
        if let servers = s.toolServers {
            key("toolServers")
            raw("[")
            for (n, v) in servers.enumerated() {
                if n > 0 { raw(",") }
                raw("{")
                key("args", first: true)
                strings(v.args)
                key("command")
                string(v.command)
                key("env")
                strings(v.env)
                key("name")
                string(v.name)
                key("readOnly")
                strings(v.readOnly)
                if let startup = v.startupSeconds {
                    key("startupSeconds")
                    int(startup)
                }
                key("timeoutSeconds")
                int(v.timeoutSeconds)
                raw("}")
            }
            raw("]")
        }
        if let trigger = s.trigger {
            key("trigger")
            encodable(trigger)
        }
        if let workers = s.workers {
            key("workers")
            int(workers)
        }
        if let repository = s.worktreeOf {
            key("worktreeOf")
            string(repository)
        }
        raw("}")
    }

    /// A rarely written nested value (a policy, a budget) through `JSONEncoder` with the same
    /// options as the reference: a nested value encodes to the same bytes as it does alone.
    mutating func encodable<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A large payload nested in the value leaves it as a blob, as it does from the reference encoder.
        let sink = BlobSink()
        encoder.userInfo[.nightshiftBlobSink] = sink
        bytes.append(contentsOf: (try? encoder.encode(value)) ?? Data("null".utf8))
        for (key, data) in sink.blobs { blobs[key] = data }
    }

    mutating func strings(_ list: [String]) {
        raw("[")
        for (n, s) in list.enumerated() {
            if n > 0 { raw(",") }
            string(s)
        }
        raw("]")
    }

    mutating func check(_ c: Check) {
        raw("{")
        if let g = c.alreadyPasses {
            key("alreadyPasses", first: true)
            bool(g)
            key("command")
        } else {
            key("command", first: true)
        }
        string(c.command)
        key("expectExit")
        int(c.expectExit)
        key("timeoutSeconds")
        int(c.timeoutSeconds)
        raw("}")
    }

    mutating func plan(_ p: Plan) {
        raw("{")
        var first = true
        if let guards = p.guards {
            key("guards", first: true)
            first = false
            raw("[")
            for (k, c) in guards.enumerated() {
                if k > 0 { raw(",") }
                check(c)
            }
            raw("]")
        }
        if let script = p.initScript {
            key("initScript", first: first)
            first = false
            string(script)
        }
        key("tasks", first: first)
        raw("[")
        for (n, t) in p.tasks.enumerated() {
            if n > 0 { raw(",") }
            raw("{")
            if let after = t.after {
                key("after", first: true)
                strings(after.map(\.rawValue))
                key("checks")
            } else {
                key("checks", first: true)
            }
            raw("[")
            for (k, c) in t.checks.enumerated() {
                if k > 0 { raw(",") }
                check(c)
            }
            raw("]")
            key("description")
            string(t.description)
            key("id")
            string(t.id.rawValue)
            if let rubric = t.rubric {
                key("rubric")
                strings(rubric)
            }
            raw("}")
        }
        raw("]")
        key("title")
        string(p.title)
        raw("}")
    }

    mutating func event(_ e: Event) {
        raw("{")
        switch e {
        case let .runCreated(title, workspace, model, settings):
            raw("\"runCreated\":{")
            key("model", first: true)
            string(model)
            key("settings")
            self.settings(settings)
            key("title")
            string(title)
            key("workspace")
            string(workspace)
        case let .planSet(plan):
            raw("\"planSet\":{")
            key("plan", first: true)
            self.plan(plan)
        case let .taskStarted(task, attempt):
            raw("\"taskStarted\":{")
            key("attempt", first: true)
            int(attempt)
            key("task")
            string(task.rawValue)
        case let .modelRequested(call, task, turn, role):
            raw("\"modelRequested\":{")
            key("call", first: true)
            string(call.rawValue)
            if let role {
                key("role")
                string(role.rawValue)
            }
            key("task")
            string(task.rawValue)
            key("turn")
            int(turn)
        case let .modelResponded(call, text, toolCalls, claimsDone, summary, usage, model, cost, handoff):
            raw("\"modelResponded\":{")
            key("call", first: true)
            string(call.rawValue)
            key("claimsDone")
            bool(claimsDone)
            if let cost {
                key("costPicoUSD")
                int(cost)
            }
            if let handoff {
                key("handoff")
                encodable(handoff)
            }
            key("model")
            string(model)
            if let summary {
                key("summary")
                string(summary)
            }
            key("text")
            payload(text)
            key("toolCalls")
            raw("[")
            for (n, t) in toolCalls.enumerated() {
                if n > 0 { raw(",") }
                toolCall(t)
            }
            raw("]")
            key("usage")
            self.usage(usage)
        case let .modelFailed(call, reason):
            raw("\"modelFailed\":{")
            key("call", first: true)
            string(call.rawValue)
            key("reason")
            string(reason)
        case let .modelRetried(call, attempt, reason, delayMs):
            raw("\"modelRetried\":{")
            key("attempt", first: true)
            int(attempt)
            key("call")
            string(call.rawValue)
            key("delayMs")
            int(delayMs)
            key("reason")
            string(reason)
        case let .toolRequested(call, name, idempotent):
            raw("\"toolRequested\":{")
            key("call", first: true)
            string(call.rawValue)
            key("idempotent")
            bool(idempotent)
            key("name")
            string(name)
        case let .toolStarted(call):
            raw("\"toolStarted\":{")
            key("call", first: true)
            string(call.rawValue)
        case let .toolFinished(call, result):
            raw("\"toolFinished\":{")
            key("call", first: true)
            string(call.rawValue)
            key("result")
            self.result(result)
        case let .toolInDoubt(call, reason):
            raw("\"toolInDoubt\":{")
            key("call", first: true)
            string(call.rawValue)
            key("reason")
            string(reason)
        case let .checkRan(task, attempt, index, command, expectExit, exitCode, passed, output, durationMs):
            raw("\"checkRan\":{")
            key("attempt", first: true)
            int(attempt)
            key("command")
            string(command)
            key("durationMs")
            int(durationMs)
            key("exitCode")
            int(exitCode)
            key("expectExit")
            int(expectExit)
            key("index")
            int(index)
            key("output")
            payload(output)
            key("passed")
            bool(passed)
            key("task")
            string(task.rawValue)
        case let .taskFinished(task, attempt, summary):
            raw("\"taskFinished\":{")
            key("attempt", first: true)
            int(attempt)
            key("summary")
            string(summary)
            key("task")
            string(task.rawValue)
        case let .taskAttemptFailed(task, attempt, feedback):
            raw("\"taskAttemptFailed\":{")
            key("attempt", first: true)
            int(attempt)
            key("feedback")
            payload(feedback)
            key("task")
            string(task.rawValue)
        case let .taskBlocked(task, reason):
            raw("\"taskBlocked\":{")
            key("reason", first: true)
            string(reason)
            key("task")
            string(task.rawValue)
        case let .noteWritten(task, text):
            raw("\"noteWritten\":{")
            if let task {
                key("task", first: true)
                string(task.rawValue)
                key("text")
            } else {
                key("text", first: true)
            }
            payload(text)
        case let .noteAdded(task, text):
            raw("\"noteAdded\":{")
            if let task {
                key("task", first: true)
                string(task.rawValue)
                key("text")
            } else {
                key("text", first: true)
            }
            string(text)
        case let .runPaused(reason, kind):
            raw("\"runPaused\":{")
            // Absent in pauses recorded before the kind was: their bytes stay as they were.
            if let kind {
                key("kind", first: true)
                string(kind.rawValue)
                key("reason")
            } else {
                key("reason", first: true)
            }
            string(reason)
        case let .runResumed(by, driver):
            raw("\"runResumed\":{")
            key("by", first: true)
            string(by)
            // Absent when a person resumed (and in every resume recorded before it existed).
            if let driver {
                key("driver")
                string(driver.rawValue)
            }
        case let .runReported(report):
            raw("\"runReported\":{")
            key("report", first: true)
            payload(report)
        case let .runFinished(summary):
            raw("\"runFinished\":{")
            key("summary", first: true)
            string(summary)
        case let .runFailed(reason):
            raw("\"runFailed\":{")
            key("reason", first: true)
            string(reason)
        case let .toolServerStarted(name, tools, detail):
            raw("\"toolServerStarted\":{")
            key("detail", first: true)
            string(detail)
            key("name")
            string(name)
            key("tools")
            strings(tools)
        case let .policySet(policy, source, hash, text):
            raw("\"policySet\":{")
            key("hash", first: true)
            string(hash)
            key("policy")
            encodable(policy)
            key("source")
            string(source)
            key("text")
            payload(text)
        case let .toolDecided(call, effect, rule, reason):
            raw("\"toolDecided\":{")
            key("call", first: true)
            string(call.rawValue)
            key("effect")
            string(effect.rawValue)
            key("reason")
            string(reason)
            key("rule")
            string(rule)
        case let .approvalDecided(call, approved, by, note, argumentsHash):
            raw("\"approvalDecided\":{")
            key("approved", first: true)
            bool(approved)
            key("argumentsHash")
            string(argumentsHash)
            key("by")
            string(by)
            key("call")
            string(call.rawValue)
            key("note")
            string(note)
        case let .budgetExhausted(scope, resource, limit, spent):
            raw("\"budgetExhausted\":{")
            key("limit", first: true)
            int(limit)
            key("resource")
            string(resource.rawValue)
            key("scope")
            string(scope.rawValue)
            key("spent")
            int(spent)
        case let .budgetSet(scope, budget, by):
            raw("\"budgetSet\":{")
            key("budget", first: true)
            encodable(budget)
            key("by")
            string(by)
            key("scope")
            string(scope.rawValue)
        case let .breakerTripped(breaker, count, detail):
            raw("\"breakerTripped\":{")
            key("breaker", first: true)
            string(breaker.rawValue)
            key("count")
            int(count)
            key("detail")
            string(detail)
        case let .escalated(task, reason):
            raw("\"escalated\":{")
            key("reason", first: true)
            string(reason)
            if let task {
                key("task")
                string(task.rawValue)
            }
        case let .guidanceGiven(text, by):
            raw("\"guidanceGiven\":{")
            key("by", first: true)
            string(by)
            key("text")
            string(text)
        case let .protectedHashed(hashes):
            raw("\"protectedHashed\":{")
            key("hashes", first: true)
            encodable(hashes)
        case let .protectedVerified(task, attempt, changed):
            raw("\"protectedVerified\":{")
            key("attempt", first: true)
            int(attempt)
            key("changed")
            strings(changed)
            key("task")
            string(task.rawValue)
        case let .goalSet(goal):
            raw("\"goalSet\":{")
            key("goal", first: true)
            payload(goal)
        case let .planRevised(version, plan, reason):
            raw("\"planRevised\":{")
            key("plan", first: true)
            self.plan(plan)
            key("reason")
            string(reason)
            key("version")
            int(version)
        case let .planApproved(version, by, note):
            raw("\"planApproved\":{")
            key("by", first: true)
            string(by)
            key("note")
            string(note)
            key("version")
            int(version)
        case let .planRejected(version, by, reason):
            raw("\"planRejected\":{")
            key("by", first: true)
            string(by.rawValue)
            key("reason")
            string(reason)
            key("version")
            int(version)
        case let .initRan(exitCode, passed, output, durationMs):
            raw("\"initRan\":{")
            key("durationMs", first: true)
            int(durationMs)
            key("exitCode")
            int(exitCode)
            key("output")
            payload(output)
            key("passed")
            bool(passed)
        case let .baselineRan(command, expectExit, exitCode, passed, output, durationMs):
            raw("\"baselineRan\":{")
            key("command", first: true)
            string(command)
            key("durationMs")
            int(durationMs)
            key("exitCode")
            int(exitCode)
            key("expectExit")
            int(expectExit)
            key("output")
            payload(output)
            key("passed")
            bool(passed)
        case let .judgeVerdict(task, attempt, verdict, reasons):
            raw("\"judgeVerdict\":{")
            key("attempt", first: true)
            int(attempt)
            key("reasons")
            strings(reasons)
            key("task")
            string(task.rawValue)
            key("verdict")
            string(verdict.rawValue)
        case let .contextCompacted(task, summary, throughSeq, tokensBefore):
            raw("\"contextCompacted\":{")
            key("summary", first: true)
            payload(summary)
            key("task")
            string(task.rawValue)
            key("throughSeq")
            int(throughSeq)
            key("tokensBefore")
            int(tokensBefore)
        case let .handoffWritten(task, reason, handoff):
            raw("\"handoffWritten\":{")
            key("handoff", first: true)
            encodable(handoff)
            key("reason")
            string(reason.rawValue)
            key("task")
            string(task.rawValue)
        case let .guidanceSet(source, hash, text):
            raw("\"guidanceSet\":{")
            key("hash", first: true)
            string(hash)
            key("source")
            string(source)
            key("text")
            payload(text)
        case let .isolationSet(mode):
            raw("\"isolationSet\":{")
            key("mode", first: true)
            string(mode)
        case let .rollbackAccepted(lostFrom, lostThrough, by):
            raw("\"rollbackAccepted\":{")
            key("by", first: true)
            string(by)
            key("lostFrom")
            int(lostFrom)
            key("lostThrough")
            int(lostThrough)
        case let .snapshotTaken(seq, sha256):
            raw("\"snapshotTaken\":{")
            key("seq", first: true)
            int(seq)
            key("sha256")
            string(sha256)
        case let .workspaceProvisioned(path, branch, base):
            raw("\"workspaceProvisioned\":{")
            key("base", first: true)
            string(base)
            key("branch")
            string(branch)
            key("path")
            string(path)
        case let .workspaceMoved(path, branch, commit, from):
            raw("\"workspaceMoved\":{")
            key("branch", first: true)
            string(branch)
            key("commit")
            string(commit)
            key("from")
            string(from)
            key("path")
            string(path)
        case let .hookRan(on, command, exitCode, passed, blocking, output, durationMs):
            raw("\"hookRan\":{")
            key("blocking", first: true)
            bool(blocking)
            key("command")
            string(command)
            key("durationMs")
            int(durationMs)
            key("exitCode")
            int(exitCode)
            key("on")
            string(on.rawValue)
            key("output")
            payload(output)
            key("passed")
            bool(passed)
        case let .childSpawned(child, call, profile, version, task, budget):
            raw("\"childSpawned\":{")
            key("budget", first: true)
            encodable(budget)
            key("call")
            string(call.rawValue)
            key("child")
            string(child.rawValue)
            key("profile")
            string(profile)
            key("task")
            encodable(task)
            key("version")
            string(version)
        case let .childCreated(child, workspace):
            raw("\"childCreated\":{")
            key("child", first: true)
            string(child.rawValue)
            key("workspace")
            string(workspace)
        case let .waitStarted(call, agents, need, deadline):
            raw("\"waitStarted\":{")
            key("agents", first: true)
            strings(agents.map(\.rawValue))
            key("call")
            string(call.rawValue)
            if let deadline {
                key("deadline")
                int(deadline)
            }
            key("need")
            int(need)
        case let .childrenPolled(call, open):
            raw("\"childrenPolled\":{")
            key("call", first: true)
            string(call.rawValue)
            key("open")
            strings(open.map(\.rawValue))
        case let .childEnded(child, outcome):
            raw("\"childEnded\":{")
            key("child", first: true)
            string(child.rawValue)
            key("outcome")
            encodable(outcome)
        case let .taskDispatched(task, attempt, child, spec, budget):
            raw("\"taskDispatched\":{")
            key("attempt", first: true)
            int(attempt)
            key("budget")
            encodable(budget)
            key("child")
            string(child.rawValue)
            key("spec")
            encodable(spec)
            key("task")
            string(task.rawValue)
        case let .mergeStarted(task, child, branch):
            raw("\"mergeStarted\":{")
            key("branch", first: true)
            string(branch)
            key("child")
            string(child.rawValue)
            key("task")
            string(task.rawValue)
        case let .workMerged(task, child, commit):
            raw("\"workMerged\":{")
            key("child", first: true)
            string(child.rawValue)
            key("commit")
            string(commit)
            key("task")
            string(task.rawValue)
        case let .workRejected(task, child, feedback):
            raw("\"workRejected\":{")
            key("child", first: true)
            string(child.rawValue)
            key("feedback")
            payload(feedback)
            key("task")
            string(task.rawValue)
        case let .memoryProposed(call, scope, kind, text, tags):
            raw("\"memoryProposed\":{")
            key("call", first: true)
            string(call.rawValue)
            key("kind")
            string(kind.rawValue)
            key("scope")
            string(scope.description)
            key("tags")
            strings(tags)
            key("text")
            string(text)
        case let .memorySearchDegraded(reason):
            raw("\"memorySearchDegraded\":{")
            key("reason", first: true)
            string(reason)
        case let .memoriesShown(task, memories):
            raw("\"memoriesShown\":{")
            key("memories", first: true)
            encodable(memories)
            key("task")
            string(task.rawValue)
        case let .workCommitted(task, commit, detail):
            raw("\"workCommitted\":{")
            if let commit {
                key("commit", first: true)
                string(commit)
                key("detail")
            } else {
                key("detail", first: true)
            }
            string(detail)
            key("task")
            string(task.rawValue)
        }
        raw("}}")
    }

    /// The stored body: `{"actor":…,"event":…,"run":…,"seq":…,"time":…,"v":…}`.
    mutating func stored(run: RunID, seq: Int64, time: Timestamp, version: Int, event e: Event) {
        raw("{")
        key("actor", first: true)
        string(e.actor.rawValue)
        key("event")
        event(e)
        key("run")
        string(run.rawValue)
        key("seq")
        int(seq)
        key("time")
        int(time.milliseconds)
        key("v")
        int(version)
        raw("}")
    }
}
