import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
public import NightshiftCore

/// OpenAI's `/v1/embeddings`, and every server that speaks it (Ollama, vLLM, llama.cpp's server,
/// LiteLLM): the memory bank's vectors. One attempt a call, with a short deadline: a search that
/// cannot get a vector goes on with full-text search, so waiting and retrying would only slow it.
public struct OpenAIEmbedder: Embedder {
    public let model: String
    public let baseURL: String
    let key: Secret?
    let http: ModelHTTPClient
    /// From sending the request to the whole answer. Defaults to 20 s.
    public var deadline: Duration = .seconds(20)
    /// Texts sent in one request.
    public static let batch = 64

    /// The settings of the client embedders use: connecting gives up after 3 s (a connection
    /// the pool cannot make is retried until then), so a search waits that long, once, for an
    /// endpoint that is down.
    public static var httpSettings: ModelHTTPSettings {
        var s = ModelHTTPSettings()
        s.connectTimeout = .seconds(3)
        return s
    }

    public init(model: String, baseURL: String, key: Secret?, http: ModelHTTPClient) {
        self.model = model
        self.baseURL = baseURL
        self.key = key
        self.http = http
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        var out: [[Float]] = []
        for start in stride(from: 0, to: texts.count, by: Self.batch) {
            out += try await embedBatch(Array(texts[start..<min(start + Self.batch, texts.count)]))
        }
        return out
    }

    func embedBatch(_ texts: [String]) async throws -> [[Float]] {
        let host = URL(string: baseURL)?.host ?? baseURL
        var request = HTTPClientRequest(url: baseURL + "/embeddings")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        if let key { request.headers.add(name: "authorization", value: "Bearer \(key.value)") }
        request.body = .bytes(ByteBuffer(bytes: jsonData(["model": model, "input": texts])))
        let text: String
        let status: Int
        do {
            let response = try await http.client.execute(
                request, deadline: .now() + .milliseconds(milliseconds(deadline)))
            status = Int(response.status.code)
            text = String(buffer: try await response.body.collect(upTo: http.settings.maxResponseBytes))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let message = "cannot reach \(host) for embeddings: \(error)"
            throw ModelError(key?.scrub(message) ?? message, code: .unavailable)
        }
        let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        guard (200..<300).contains(status) else {
            let message =
                ((json?["error"] as? [String: Any])?["message"] as? String) ?? String(text.prefix(200))
            throw ModelError(
                "\(host) refused the embeddings request (HTTP \(status)): \(key?.scrub(message) ?? message)",
                code: status == 401 || status == 403 ? .rejected : .unavailable)
        }
        let data = (json?["data"] as? [[String: Any]]) ?? []
        var vectors = [[Float]?](repeating: nil, count: texts.count)
        for (n, item) in data.enumerated() {
            let index = (item["index"] as? NSNumber)?.intValue ?? n
            guard index >= 0, index < texts.count, let values = item["embedding"] as? [NSNumber], !values.isEmpty
            else { continue }
            vectors[index] = values.map { $0.floatValue }
        }
        let got = vectors.compactMap { $0 }
        guard got.count == texts.count, Set(got.map(\.count)).count == 1 else {
            throw ModelError(
                "\(host) answered the embeddings request without one vector of one size per text", code: .badResponse)
        }
        return got
    }
}
