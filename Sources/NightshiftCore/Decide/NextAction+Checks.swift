import Foundation

/// The checking phase of ``RunState/nextAction(tools:)``: a done claim's hooks and checks, the
/// ratchet, the judge, and an attempt's end (accepted, failed, or the task blocked).
extension RunState {
    /// The next step for task `i`'s done claim (`summary`).
    func checkStep(_ i: Int, _ task: PlanTask, _ progress: TaskProgress, summary: String) -> Decision {
        let checks = attemptChecks(i)
        // The project's before_check hooks: advisory, before the claim's checks run.
        let checkHooks = hooks(.beforeCheck)
        if !checkHooks.isEmpty, progress.checkResults.isEmpty,
            shiftState.hooksRanForClaim != Self.claimKey(task.id, progress.attempts)
        {
            return .runHooks(on: .beforeCheck, hooks: checkHooks)
        }
        if progress.checkResults.count < checks.count {
            return .runChecks(
                task: task, attempt: progress.attempts, from: progress.checkResults.count, checks: checks)
        }
        if progress.checkResults.allSatisfy(\.passed) {
            // The ratchet: protected files must be as they were when the run began.
            if let globs = policy?.protectedPaths, !globs.isEmpty, gate.protectedBaseline != nil,
                progress.protectedVerified != progress.attempts
            {
                return .hashProtected(
                    globs: globs, verify: ProtectedCheck(task: task.id, attempt: progress.attempts))
            }
            if let changed = progress.protectedChanged, !changed.isEmpty {
                return .emit(
                    failAttempt(
                        task, progress,
                        feedback: """
                            Your done claim for task \(task.id) was not accepted: these protected files were changed, renamed or \
                            deleted, which is never allowed (add new tests instead): \(changed.joined(separator: ", ")). \
                            Restore them exactly as they were.
                            """))
            }
            if needsJudge(i), progress.judgedAttempt != progress.attempts {
                return .emit(judgeStep(task, progress))
            }
            var events: [Event] = [
                .taskFinished(task: task.id, attempt: progress.attempts, summary: summary),
                .noteWritten(task: task.id, text: Payload(progressNote(task, progress, summary: summary))),
            ]
            if settings.loop != nil {
                var h = shiftState.claimHandoff ?? Handoff()
                h.done = "Task \(task.id): " + (summary.isEmpty ? "done" : summary)
                events.append(.handoffWritten(task: task.id, reason: .taskDone, handoff: h))
            }
            return .emit(events)
        }
        let own = task.checks.count
        let failedOwn = progress.checkResults.prefix(own).filter { !$0.passed }
        let broken = progress.checkResults.dropFirst(own).filter { !$0.passed }
        var feedback = ""
        if !failedOwn.isEmpty {
            feedback = "Your done claim for task \(task.id) failed \(failedOwn.count) of \(own) checks:\n"
            for f in failedOwn {
                feedback += "\n$ \(f.command)\nexit \(f.exitCode) (expected \(f.expectExit))\n\(f.outputTail)\n"
            }
        }
        if !broken.isEmpty {
            feedback +=
                (feedback.isEmpty ? "" : "\n")
                + "Your change broke \(broken.count) check(s) that passed before (the ratchet: "
                + "a task is accepted only when nothing that passed before fails now):\n"
            for f in broken {
                feedback += "\n$ \(f.command)\nexit \(f.exitCode) (expected \(f.expectExit))\n\(f.outputTail)\n"
            }
        }
        return .emit(failAttempt(task, progress, feedback: feedback))
    }

    func failAttempt(_ task: PlanTask, _ progress: TaskProgress, feedback: String) -> [Event] {
        [.taskAttemptFailed(task: task.id, attempt: progress.attempts, feedback: Payload(feedback))]
            + nextAttemptOrBlock(task, progress)
    }

    func nextAttemptOrBlock(_ task: PlanTask, _ progress: TaskProgress) -> [Event] {
        if progress.attempts < settings.maxAttempts {
            return [.taskStarted(task: task.id, attempt: progress.attempts + 1)]
        }
        let reason = "task \(task.id) failed its checks in all \(settings.maxAttempts) attempts"
        var events: [Event] = [.taskBlocked(task: task.id, reason: reason)]
        if settings.stopOnBlocked {
            events.append(.runFailed(reason: reason + " (the run stops on a blocked task)"))
        } else if policy != nil {
            // Under a policy a blocked task is escalated: a human sees it before the run moves on.
            events += [
                .escalated(task: task.id, reason: reason),
                .runPaused(
                    reason:
                        "escalated: \(reason); answer (or just resume to go on to the next task)",
                    kind: .escalation),
            ]
        }
        return events
    }
}
