import Foundation
public import NightshiftCore

/// Which runs a worker should continue now, and why: a paused run a person has acted on, a run
/// waiting for sub-agents whose wait would end, and a sub-agent left running with no process
/// (made and never driven, or its process died).
public enum ReadyRuns {
    public struct Ready: Sendable, Equatable {
        public var run: RunID
        public var why: String
        public var headSeq: Int64
    }

    public static func list(store: any EventStore) async throws -> [Ready] {
        var ready: [Ready] = []
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for summary in try await store.runs() {
            switch summary.status {
            case .paused:
                guard let last = try await store.read(summary.id, after: summary.headSeq - 1, limit: 1).first else {
                    continue
                }
                if last.actor == .human {
                    ready.append(Ready(run: summary.id, why: "after \(last.event.kind)", headSeq: summary.headSeq))
                    continue
                }
                // (Its last event may be the snapshot voucher that follows the pause: the fold says why it paused.)
                let state = try await store.state(of: summary.id)
                guard state.pauseKind == .agents else { continue }
                var ended = Set<RunID>()
                for id in state.fleet.wait?.agents ?? [] {
                    if let s = try await store.summary(of: id), s.status == .finished || s.status == .failed {
                        ended.insert(id)
                    }
                }
                if state.waitWouldEnd(ended: ended, now: now) {
                    ready.append(
                        Ready(run: summary.id, why: "(its wait for sub-agents would end)", headSeq: summary.headSeq))
                }
            case .running:
                // Only sub-agents: a root left running is resumed by a person (`nightshift resume`).
                guard let state = try? await store.state(of: summary.id), state.settings.parent != nil else { continue }
                ready.append(Ready(run: summary.id, why: "(a sub-agent no process drives)", headSeq: summary.headSeq))
            case .finished, .failed:
                continue
            }
        }
        return ready
    }
}
