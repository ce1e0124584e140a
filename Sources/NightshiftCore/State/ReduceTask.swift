extension RunState {
    /// Tasks and their attempts: started, checked, judged, finished, failed or blocked; the protected files.
    mutating func reduceTask(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .judgeVerdict(task, attempt, verdict, reasons):
            guard let i = current, tasks[i].id == task, attempt == tasks[i].attempts, case .checking = phase,
                pending.roleResponse?.role == Role.judge
            else { throw fail("no judge answer for task \(task) attempt \(attempt) is waiting") }
            pending.roleResponse = nil
            tasks[i].verdicts.append(verdict)
            switch verdict {
            case .pass:
                tasks[i].judgedAttempt = attempt
                tasks[i].judgeInvalid = 0
            case .rework:
                tasks[i].judgeInvalid = 0
                tasks[i].feedback = reasons.joined(separator: "\n")
            case .escalate:
                tasks[i].judgeInvalid = 0
                if goal != nil, planning.replans < (settings.loop?.maxReplans ?? 0) {
                    // The task is mis-specified: the planner makes a new version of the plan.
                    planning.replanning = true
                    planning.planFeedback =
                        "The judge escalated task \(task) as mis-specified:\n"
                        + reasons.map { "- " + $0 }.joined(separator: "\n")
                    tasks[i].status = .pending
                    current = nil
                    phase = .idle
                }
            case .invalid: tasks[i].judgeInvalid += 1
            }

        case let .taskStarted(task, attempt):
            guard plan != nil else { throw fail("no plan is set") }
            if let current {
                guard tasks[current].id == task, phase == .attemptFailed, attempt == tasks[current].attempts + 1 else {
                    throw fail("task \(tasks[current].id) is active; only its next attempt may start")
                }
                guard attempt <= settings.maxAttempts else {
                    throw fail("attempt \(attempt) exceeds the limit \(settings.maxAttempts)")
                }
            } else {
                guard let index = tasks.indices.first(where: isReady) else { throw fail("no task is ready to start") }
                guard tasks[index].id == task else {
                    throw fail("the next task ready to start is \(tasks[index].id), not \(task)")
                }
                guard attempt == 1 else { throw fail("a task starts at attempt 1") }
                current = index
                tasks[index].status = .active
                tasks[index].startSeq = lastSeq + 1
            }
            let i = current!
            if attempt == 1 {
                startShift(at: lastSeq + 1)
            } else {
                shiftState.shiftTokens += estimateTokens(bytes: tasks[i].feedback?.utf8.count ?? 0)
            }
            tasks[i].attempts = attempt
            tasks[i].turnsThisAttempt = 0
            tasks[i].checkResults = []
            tasks[i].protectedChanged = nil
            phase = .working

        case let .checkRan(task, attempt, index, command, expectExit, exitCode, passed, output, _):
            guard let i = current, tasks[i].id == task, case .checking = phase else {
                throw fail("task \(task) is not being checked")
            }
            guard attempt == tasks[i].attempts else {
                throw fail("attempt \(attempt) is not the current one (\(tasks[i].attempts))")
            }
            guard index == tasks[i].checkResults.count, index < attemptChecks(i).count else {
                throw fail("expected check index \(tasks[i].checkResults.count)")
            }
            tasks[i].checkResults.append(
                CheckOutcome(
                    command: command, passed: passed, exitCode: exitCode,
                    expectExit: expectExit, outputTail: String(output.text.suffix(2000))))

        case let .taskFinished(task, attempt, summary):
            guard let i = current, tasks[i].id == task, case .checking = phase, attempt == tasks[i].attempts else {
                throw fail("task \(task) is not being checked")
            }
            guard tasks[i].checkResults.count == attemptChecks(i).count, tasks[i].checkResults.allSatisfy(\.passed)
            else {
                throw fail("task \(task) has not passed all its checks")
            }
            guard !needsJudge(i) || tasks[i].judgedAttempt == attempt else {
                throw fail("task \(task) needs the judge's pass")
            }
            tasks[i].status = .done
            tasks[i].feedback = nil
            gate.consecutiveFailedAttempts = 0
            current = nil
            phase = .idle
            if branch != nil {
                pending.pendingCommit = task
                pending.pendingCommitMessage =
                    "nightshift: task \(task) done" + (summary.isEmpty ? "" : "\n\n\(summary)")
            }

        case let .taskAttemptFailed(task, attempt, feedback):
            guard let i = current, tasks[i].id == task, attempt == tasks[i].attempts else {
                throw fail("task \(task) is not active")
            }
            switch phase {
            case .checking, .working: break
            default: throw fail("an attempt can only fail while working or checking")
            }
            tasks[i].feedback = feedback.text
            phase = .attemptFailed
            gate.consecutiveFailedAttempts += 1

        case let .taskBlocked(task, _):
            if current == nil, let i = tasks.firstIndex(where: { $0.id == task }), tasks[i].status == .pending {
                // Not started: it comes after a blocked task, or a coding fleet's workers used its attempts.
                tasks[i].status = .blocked
                break
            }
            guard let i = current, tasks[i].id == task, phase == .attemptFailed else {
                throw fail("task \(task) has no failed attempt")
            }
            tasks[i].status = .blocked
            current = nil
            phase = .idle

        case let .protectedHashed(hashes):
            gate.protectedBaseline = hashes

        case let .protectedVerified(task, attempt, changed):
            guard let i = current, tasks[i].id == task, attempt == tasks[i].attempts, case .checking = phase else {
                throw fail("task \(task) attempt \(attempt) is not being checked")
            }
            tasks[i].protectedVerified = attempt
            tasks[i].protectedChanged = changed
        default: throw fail("not a task event: \(event.kind)")
        }
    }
}
