/// Errors from an event store. `Code` is a struct over a private enum so new codes do not
/// break callers' switches.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// The store's own passing trouble (out of reach, restarting, its write lock held), not the
    /// run's: what the store refused may be done again once it answers.
    public var isPassing: Bool { code == .io || code == .locked }

    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case sequenceConflict, runNotFound, runExists, corrupt, locked, readOnly, io, leaseHeld, leaseLost,
                rolledBack, stillNeeded, refused
        }
        private let base: Base
        private init(_ b: Base) { base = b }
        public var description: String { base.rawValue }
        /// Another writer advanced the run: reload and decide again.
        public static let sequenceConflict = Code(.sequenceConflict)
        public static let runNotFound = Code(.runNotFound)
        public static let runExists = Code(.runExists)
        /// A record fails its hash, does not decode, or a blob is missing. `seq` names the first bad one.
        public static let corrupt = Code(.corrupt)
        /// Another process holds the database's write lock past the busy timeout.
        public static let locked = Code(.locked)
        public static let readOnly = Code(.readOnly)
        public static let io = Code(.io)
        /// Another live process drives the run: wait for it, or stop it.
        public static let leaseHeld = Code(.leaseHeld)
        /// This process's lease was taken over (it had stopped heartbeating): it must stop driving.
        public static let leaseLost = Code(.leaseLost)
        /// The log ends before (or forks from) the head witnessed outside the store: events were
        /// lost. Nothing is appended until a person accepts the loss (`rollback_accepted`).
        public static let rolledBack = Code(.rolledBack)
        /// A run cannot be removed: a run that has not ended still needs it (its parent, or a sub-agent).
        public static let stillNeeded = Code(.stillNeeded)
        /// The database refused the statement for good (a permission, a missing table, a value it
        /// cannot take): a person must act; trying again changes nothing.
        public static let refused = Code(.refused)
    }

    public var code: Code
    public var message: String
    public var seq: Int64?
    public var file: String
    public var line: Int

    public init(_ code: Code, _ message: String, seq: Int64? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.seq = seq
        self.file = file
        self.line = line
    }

    public var description: String { message }
}
