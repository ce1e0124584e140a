/// Turns texts into vectors (an OpenAI-compatible `/v1/embeddings` endpoint, or a test double),
/// for the memory bank's hybrid search. Optional: without one, search is full-text alone.
public protocol Embedder: Sendable {
    /// The model's name: vectors of different models are never compared.
    var model: String { get }
    /// One vector per text, in order.
    func embed(_ texts: [String]) async throws -> [[Float]]
}
