public import NightshiftCore

/// One provider per role (planner, worker, judge), with a default for roles not named. The
/// harness sees a single `ModelProvider`; each request goes to the provider for its role.
public struct ModelRoster: ModelProvider {
    public let defaultModel: any ModelProvider
    public let byRole: [(role: Role, model: any ModelProvider)]
    public init(default defaultModel: any ModelProvider, byRole: [(role: Role, model: any ModelProvider)] = []) {
        self.defaultModel = defaultModel
        self.byRole = byRole
    }

    /// `DEFAULT` or `DEFAULT;role=SPEC;…`: recorded in the run, read back by `resume`. Holds no secret.
    public var label: String {
        ([defaultModel.label] + byRole.map { "\($0.role)=\($0.model.label)" }).joined(separator: ";")
    }

    /// The provider for `role`. A shift's summaries and handoffs are the worker's own words: its model writes them.
    public func provider(for role: Role) -> any ModelProvider {
        let role: Role = (role == .compactor || role == .handoff) ? .worker : role
        return byRole.first { $0.role == role }?.model ?? defaultModel
    }

    public func respond(to request: ModelRequest) async throws -> ModelResponse {
        try await provider(for: request.role).respond(to: request)
    }

    public func respond(
        to request: ModelRequest, onRetry: @escaping @Sendable (ModelRetry) async -> Void
    ) async throws -> ModelResponse {
        try await provider(for: request.role).respond(to: request, onRetry: onRetry)
    }

    /// Splits a recorded label back into the default spec and role overrides.
    public static func parseLabel(_ label: String) -> (default: String, byRole: [(role: Role, spec: String)]) {
        let parts = label.split(separator: ";").map(String.init)
        let overrides = parts.dropFirst().compactMap { p -> (role: Role, spec: String)? in
            guard let eq = p.firstIndex(of: "="), let role = Role(rawValue: String(p[..<eq])) else { return nil }
            return (role, String(p[p.index(after: eq)...]))
        }
        return (parts.first ?? label, Array(overrides))
    }

}
