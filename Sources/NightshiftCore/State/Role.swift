/// The roles a model call is made for (the `role` of `model_requested` and of a request). A
/// compactor writes a shift's summary and a handoff its handoff note; both use the worker's model.
public enum Role: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    case planner, worker, judge, compactor, handoff
    /// Reviews finished runs between runs and proposes memories (`nightshift dream`).
    case dreamer
    /// The roles a user may give a model of their own (`--role-model`); the compactor and the
    /// handoff use the worker's.
    public static let configurable: [Role] = [.planner, .worker, .judge, .dreamer]
    public var description: String { rawValue }
}
