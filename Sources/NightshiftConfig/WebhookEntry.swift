import Foundation
import Yams

/// One webhook of the user's configuration (`webhooks:`; never a project's): its secret and what
/// a signed delivery starts. `nightshift serve` reads these once, when it starts.
///
/// ```yaml
/// webhooks:
///   ci-failed:
///     secret_file: ~/.config/nightshift/ci-failed.secret   # or secret: "…" (at least 16 characters)
///     goal: "The build of {{ref}} fails: {{summary}}. Make it pass."   # or plan: plans/fix.yaml
///     agent: fixer                 # an agent profile of the workspace (optional)
///     review_plan: true            # with a goal: the planner's plan waits for a person (advised)
///     workspace: ~/src/app         # where the run works (default: where serve runs)
/// ```
public struct WebhookEntry: Sendable, Equatable {
    public var name: String
    /// The secret as written, or nil when it is in ``secretFile``.
    public var secret: String?
    public var secretFile: String?
    public var goal: String?
    public var planFile: String?
    public var agent: String?
    public var workspace: String?
    /// With a goal: the planner's plan waits for a person's review before any of it runs.
    public var reviewPlan = false
    /// Where it is written ("FILE:LINE").
    public var origin: String

    public init(
        name: String, secret: String? = nil, secretFile: String? = nil, goal: String? = nil, planFile: String? = nil,
        agent: String? = nil, workspace: String? = nil, origin: String
    ) {
        (self.name, self.secret, self.secretFile, self.goal) = (name, secret, secretFile, goal)
        (self.planFile, self.agent, self.workspace, self.origin) = (planFile, agent, workspace, origin)
    }

    /// The least length of a secret: a short one could be guessed.
    public static let minimumSecret = 16

    static func parse(_ node: Node, _ r: YAMLReader, base: String) throws(FileError) -> [WebhookEntry] {
        var out: [WebhookEntry] = []
        for (name, keyNode, value) in try r.mapping(node, "'webhooks'") {
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
            guard (1...64).contains(name.count), name.allSatisfy({ allowed.contains($0) }) else {
                throw r.fail(keyNode, "the webhook name '\(name)' must be 1–64 letters, digits, '-' or '_'")
            }
            let what = "the webhook \(name)"
            let fields = try r.mapping(value, what)
            try r.checkKeys(
                fields, allowed: ["secret", "secret_file", "goal", "plan", "agent", "workspace", "review_plan"],
                in: what)
            func text(_ key: String) throws(FileError) -> String? {
                guard let n = fields.first(where: { $0.key == key })?.value else { return nil }
                let s = try r.string(n, "\(what)'s \(key)")
                guard s.contains(where: { !$0.isWhitespace }) else { throw r.fail(n, "\(what)'s \(key) is empty") }
                return s
            }
            var entry = WebhookEntry(name: name, origin: "\(r.file):\(keyNode.mark?.line ?? 0)")
            entry.secret = try text("secret")
            entry.secretFile = try text("secret_file").map { ConfigFile.resolve($0, base: base) }
            guard (entry.secret == nil) != (entry.secretFile == nil) else {
                throw r.fail(value, "\(what) needs one of secret or secret_file")
            }
            if let secret = entry.secret, secret.count < minimumSecret {
                throw r.fail(value, "\(what)'s secret is shorter than \(minimumSecret) characters")
            }
            entry.goal = try text("goal")
            entry.planFile = try text("plan").map { ConfigFile.resolve($0, base: base) }
            guard (entry.goal == nil) != (entry.planFile == nil) else {
                throw r.fail(value, "\(what) needs one of goal or plan")
            }
            entry.agent = try text("agent")
            entry.workspace = try text("workspace").map { ConfigFile.resolve($0, base: base) }
            if let review = try text("review_plan") {
                switch review {
                case "true", "yes", "on": entry.reviewPlan = true
                case "false", "no", "off": entry.reviewPlan = false
                default: throw r.fail(value, "\(what)'s review_plan must be true or false, not '\(review)'")
                }
                if entry.reviewPlan, entry.goal == nil {
                    throw r.fail(value, "\(what)'s review_plan goes with a goal (a plan file is reviewed as written)")
                }
            }
            out.append(entry)
        }
        return out
    }
}
