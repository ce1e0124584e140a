/// Why a use case could not be carried out: one line for a person, and a code a front end can
/// act on (the CLI maps ``Code-swift.struct/busy`` to exit status 5; a server would map codes to
/// HTTP statuses). Nothing was changed when one is thrown, unless its message says so.
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    /// A struct over a private enum, so adding a code does not break callers' switches.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case notFound, exists, invalidInput, unavailable, lost, busy, untrusted, stopped
        }
        private let base: Base
        private init(_ b: Base) { base = b }
        /// No such run, database, workspace or file.
        public static let notFound = Code(.notFound)
        /// A run of that id already exists.
        public static let exists = Code(.exists)
        /// A file, an option value or a combination of them that cannot be used.
        public static let invalidInput = Code(.invalidInput)
        /// Something the run needs is missing on this machine (the sandbox, a key, a tool server).
        public static let unavailable = Code(.unavailable)
        /// The log lost events (or the whole run): nothing is done until a person accepts it.
        public static let lost = Code(.lost)
        /// Another live process drives the run.
        public static let busy = Code(.busy)
        /// A configuration file was found that no person trusted (new, or changed since).
        public static let untrusted = Code(.untrusted)
        /// The process was asked to stop (a signal, a shutdown) while it drove the run: the run
        /// was left as after a crash, with its lease given back, and continues from its log.
        public static let stopped = Code(.stopped)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
