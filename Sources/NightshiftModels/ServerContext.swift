import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
public import NightshiftCore

/// The context size a server people run themselves says it has: llama.cpp's `/props`
/// (`n_ctx`), Ollama's `/api/show` (the model's `num_ctx` when set, else its context length, at
/// most 2,048: Ollama cuts the front of a longer prompt without an error, and 2,048 is the
/// smallest default its versions have had; a server started with `OLLAMA_CONTEXT_LENGTH` does not
/// say so, and `context.window` tells Nightshift). A run started against such a server records the
/// size it found as its window, so every request is made to fit it (see ``RenderedPrompt``).
public enum ServerContext {
    /// The window `spec`'s server reports, or nil when it says nothing (or is not such a server).
    public static func window(_ spec: ModelSpec, key: Secret?, http: ModelHTTPClient) async -> Int? {
        let (baseURL, model): (String, String)
        switch spec {
        case let .openAI(m, url, true), let .anthropic(m, url, true): (baseURL, model) = (url, m)
        default: return nil
        }
        let root = baseURL.hasSuffix("/v1") ? String(baseURL.dropLast(3)) : baseURL
        var headers = [("accept", "application/json")]
        if let key { headers.append(("authorization", "Bearer \(key.value)")) }
        if let props = await http.json(.GET, root + "/props", headers: headers) {
            let settings = props["default_generation_settings"] as? [String: Any]
            if let n = settings?.int("n_ctx") ?? props.int("n_ctx"), n > 0 { return n }
        }
        if let show = await http.json(
            .POST, root + "/api/show", headers: headers + [("content-type", "application/json")],
            body: jsonData(["model": model]))
        {
            let parameters = (show["parameters"] as? String) ?? ""
            if let line = parameters.split(separator: "\n").first(where: { $0.hasPrefix("num_ctx") }),
                let n = line.split(separator: " ", omittingEmptySubsequences: true).last.flatMap({ Int($0) }), n > 0
            {
                return n
            }
            let info = show["model_info"] as? [String: Any] ?? [:]
            if let length = info.first(where: { $0.key.hasSuffix(".context_length") }).flatMap({
                ($0.value as? NSNumber)?.intValue
            }) {
                return min(length, 2048)
            }
        }
        return nil
    }
}

extension ModelHTTPClient {
    /// A small JSON request with a short deadline; nil for anything but a 2xx JSON object.
    func json(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)], body: Data? = nil
    ) async -> [String: Any]? {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        guard let response = try? await client.execute(request, deadline: .now() + .seconds(10)),
            (200..<300).contains(Int(response.status.code)),
            let bytes = try? await response.body.collect(upTo: 1 << 20)
        else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
    }
}
