/// A specialist's definition: what it is for, its model, guidance and policy, the tools it may
/// use, its default budget and how many may run at once. Lives in a file (`agents/NAME.yaml`);
/// a run started from it records its name and version (``AgentProfile/Reference``).
public struct AgentProfile: Sendable, Equatable {
    public var name: String
    /// What it is for, in a sentence a coordinator reads when choosing whom to spawn.
    public var description: String
    public var model: String?
    /// Files, as absolute paths (resolved from the profile's folder).
    public var guidance: String?
    public var policy: String?
    /// Globs over tool names (`read_file`, `mcp__github__*`); nil: every tool.
    public var tools: [String]?
    public var budget: Budget?
    public var maxConcurrent: Int?
    /// The file it was read from, and its version: SHA-256 over the file and the guidance and
    /// policy texts it names, so an edit to any of them is a new version.
    public var file: String
    public var version: String
    /// The line of the profile's file that names each file (`guidance`, `policy`), for errors.
    public var lines: [String: Int] = [:]

    /// The files the profile names, in the order its version covers them (guidance, then policy),
    /// with the line that names each.
    public var namedFiles: [(key: String, file: String, line: Int?)] {
        [("guidance", guidance), ("policy", policy)].compactMap { key, file in
            file.map { (key, $0, lines[key]) }
        }
    }

    public init(name: String, description: String, file: String, version: String) {
        self.name = name
        self.description = description
        self.file = file
        self.version = version
    }

    /// What a run records of the profile it was started from.
    public struct Reference: Sendable, Codable, Equatable {
        public var name: String
        public var version: String
        /// The tool globs in force for the run (resume keeps them even if the file changed).
        public var tools: [String]?
        public init(name: String, version: String, tools: [String]?) {
            self.name = name
            self.version = version
            self.tools = tools
        }
    }

    public var reference: Reference { Reference(name: name, version: version, tools: tools) }

    /// Whether the profile lets its runs use `tool`.
    public static func allows(_ globs: [String]?, _ tool: String) -> Bool {
        guard let globs else { return true }
        return globs.contains { Glob.matches($0, tool, pathMode: false) }
    }
}
