public import NightshiftCore

/// Every request a ``RecordingModel`` was handed, in order.
public actor RequestLog {
    public private(set) var requests: [ModelRequest] = []
    public init() {}
    public func add(_ r: ModelRequest) { requests.append(r) }
}

/// A model double that records every request it is handed, then answers as `inner` does.
public struct RecordingModel: ModelProvider {
    public let inner: any ModelProvider
    public let log: RequestLog
    public init(inner: any ModelProvider, log: RequestLog) {
        self.inner = inner
        self.log = log
    }
    public var label: String { inner.label }
    public func respond(to request: ModelRequest) async throws -> ModelResponse {
        await log.add(request)
        return try await inner.respond(to: request)
    }
}
