/// The configuration files a person has reviewed, by path and content: trust on first use, as
/// direnv's `allow` and git's `safe.directory` work. A configuration file found in a repository
/// or a workspace is data, not configuration, until a person trusts that exact content; an agent
/// that rewrites one makes it untrusted again. The store lives in the person's own configuration
/// folder, outside every workspace.
public protocol TrustStore: Sendable {
    /// Whether a person trusted exactly this content (`sha256`, lowercase hex) of the file at `path`.
    func isTrusted(_ path: String, sha256: String) throws -> Bool
    /// The last content a person trusted for `path`, to show what changed since; nil if none.
    func lastTrusted(_ path: String) throws -> TrustedFile?
    /// Records that `by` reviewed and trusts `text` as the content of `path`.
    func trust(_ path: String, text: String, by: String, at: Timestamp) throws
    /// Forgets every trusted version of `path`; false when there was none.
    @discardableResult func revoke(_ path: String) throws -> Bool
    /// Every path's latest trusted version, by path.
    func entries() throws -> [TrustedFile]
}

/// One trusted version of a configuration file.
public struct TrustedFile: Sendable, Equatable, Codable {
    public var path: String
    public var sha256: String
    /// The content trusted (kept to show what changed at the next review); nil if it was lost.
    public var text: String?
    public var by: String
    public var at: Timestamp

    public init(path: String, sha256: String, text: String?, by: String, at: Timestamp) {
        self.path = path
        self.sha256 = sha256
        self.text = text
        self.by = by
        self.at = at
    }
}
