public import NightshiftCore
public import NightshiftModels

/// The scripted model, labelled with the scenario's full path so `resume` can find it again.
public struct ScriptedModelWithPath: ModelProvider {
    let inner: ScriptedModel
    let path: String
    public init(_ inner: ScriptedModel, path: String) {
        self.inner = inner
        self.path = path
    }
    public var label: String { "scripted:\(path)" }
    public func respond(to request: ModelRequest) async throws -> ModelResponse { try await inner.respond(to: request) }
}
