public import Foundation

/// Reading a run's state back: shared by the harness (to wake a run) and by every inspection
/// (status, inbox, decisions), which needs no harness and no model.
extension EventLog {
    /// The run's folded state: from its newest snapshot when the log vouches for it (plus the
    /// verified events after it), otherwise folded from the first event.
    /// - Throws: ``StoreError`` `.runNotFound`, or `.corrupt` for a record that fails its hash.
    public func state(of run: RunID) async throws -> RunState {
        if let snapshot = try await latestSnapshot(of: run),
            let state = try? JSONDecoder().decode(RunState.self, from: Data(snapshot.state)),
            state.run == run, state.lastSeq == snapshot.seq, snapshot.seq > 0
        {
            let tail = try await read(run, after: snapshot.seq - 1, limit: .max)
            if RunState.vouches(for: snapshot, state: state, in: tail) {
                var s = state
                for e in tail.dropFirst() { try s.apply(e) }
                return s
            }
        }
        guard try await summary(of: run) != nil else {
            throw StoreError(.runNotFound, "no run \(run) in this database (nightshift status lists the runs)")
        }
        return try RunState.fold(run, try await readAll(run))
    }

    /// Why the run's stored snapshot is not used, or nil when it is used (or there is none), for
    /// `status` to say. Reads only the snapshot and the events after it.
    public func snapshotIgnored(_ run: RunID) async throws -> String? {
        guard let snapshot = try await latestSnapshot(of: run) else { return nil }
        guard let state = try? JSONDecoder().decode(RunState.self, from: Data(snapshot.state)), state.run == run,
            state.lastSeq == snapshot.seq, snapshot.seq > 0
        else {
            return
                "the snapshot at event \(snapshot.seq) is not this run's state; it is ignored and the log folded instead"
        }
        let tail = try await read(run, after: snapshot.seq - 1, limit: .max)
        guard RunState.vouches(for: snapshot, state: state, in: tail) else {
            return
                "the snapshot at event \(snapshot.seq) is not vouched for by the log (edited, or written before vouchers); "
                + "it is ignored and the log folded instead"
        }
        return nil
    }

    /// Whether the run's stored snapshot disagrees with the fold of the log up to its event (or
    /// does not decode): the audit's check, which re-folds from the first event. Nil when it agrees.
    public func snapshotDisagreement(_ run: RunID) async throws -> String? {
        guard let snapshot = try await latestSnapshot(of: run) else { return nil }
        guard let state = try? JSONDecoder().decode(RunState.self, from: Data(snapshot.state)), state.run == run,
            state.lastSeq == snapshot.seq
        else {
            return "the snapshot stored for event \(snapshot.seq) is not this run's state"
        }
        let folded = try RunState.fold(run, try await read(run, after: 0, limit: Int(snapshot.seq)))
        return folded == state
            ? nil : "the snapshot stored for event \(snapshot.seq) disagrees with the fold of the log"
    }
}

extension RunState {
    /// Whether the log vouches for `snapshot`: it follows the event it claims to (same hash), and a
    /// `snapshot_taken` among `events` (read after it, chain-verified) carries its exact digest.
    /// A snapshot row edited in the database, or written before snapshots were vouched for, is not
    /// used: the state is folded from the log instead.
    public static func vouches(for snapshot: Snapshot, state: RunState, in events: [EventEnvelope]) -> Bool {
        guard let first = events.first(where: { $0.seq == snapshot.seq }), first.hash == state.lastHash else {
            return false
        }
        let digest = Payload.blobKey(Data(snapshot.state))
        return events.contains { e in
            if case let .snapshotTaken(seq, sha256) = e.event { seq == snapshot.seq && sha256 == digest } else { false }
        }
    }
}
