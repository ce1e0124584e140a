import Foundation
public import NightshiftCore

/// Which model a role uses, as written on the command line or in a config file. Holds no secret:
/// this string is recorded in the run's log, and the key is looked up again on every start.
public enum ModelSpec: Equatable, Sendable, CustomStringConvertible {
    /// `scripted:FILE` — the scripted test double.
    case scripted(path: String)
    /// `openai:MODEL` (api.openai.com) or `openai-compatible:BASE_URL#MODEL` (Ollama, vLLM, llama.cpp, LiteLLM, OpenRouter…).
    case openAI(model: String, baseURL: String, compatible: Bool)
    /// `anthropic:MODEL` (api.anthropic.com) or `anthropic-compatible:BASE_URL#MODEL`.
    case anthropic(model: String, baseURL: String, compatible: Bool)

    public static let openAIBaseURL = "https://api.openai.com/v1"
    public static let anthropicBaseURL = "https://api.anthropic.com"

    /// Whether `baseURL` is the hosted API at `official` (same scheme and host, whatever the
    /// trailing slash), rather than a server that speaks its protocol.
    public static func isHosted(_ baseURL: String, _ official: String) -> Bool {
        guard let url = URL(string: baseURL), let api = URL(string: official) else { return false }
        return url.scheme == api.scheme && url.host?.lowercased() == api.host && url.port == nil
    }

    /// The longest spec accepted: a model's name and a base URL, never a document.
    public static let maxLength = 2048

    public static func parse(_ text: String) throws(ModelError) -> ModelSpec {
        guard text.utf8.count <= maxLength else {
            throw ModelError(
                "'\(text.prefix(60))…' is \(text.utf8.count) bytes long; a model spec is at most \(maxLength)",
                code: .invalidSpec)
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ModelError("a model spec may not hold control characters (line breaks, tabs)", code: .invalidSpec)
        }
        func split(_ rest: Substring, _ kind: String) throws(ModelError) -> (String, String) {
            guard let hash = rest.lastIndex(of: "#") else {
                throw ModelError(
                    "'\(text)' needs a model after '#', e.g. \(kind):http://127.0.0.1:11434/v1#llama3",
                    code: .invalidSpec)
            }
            let url = String(rest[..<hash]), model = String(rest[rest.index(after: hash)...])
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ModelError("'\(text)': the base URL must start with http:// or https://", code: .invalidSpec)
            }
            guard !model.isEmpty else {
                throw ModelError("'\(text)': the model name after '#' is empty", code: .invalidSpec)
            }
            return (url.hasSuffix("/") ? String(url.dropLast()) : url, model)
        }
        guard let colon = text.firstIndex(of: ":") else { throw ModelError(usage(text), code: .invalidSpec) }
        let kind = String(text[..<colon]), rest = text[text.index(after: colon)...]
        switch kind {
        case "scripted":
            guard !rest.isEmpty else {
                throw ModelError("scripted: needs a scenario file, e.g. scripted:scenario.yaml", code: .invalidSpec)
            }
            return .scripted(path: String(rest))
        case "openai":
            guard !rest.isEmpty else {
                throw ModelError("openai: needs a model name, e.g. openai:gpt-4o", code: .invalidSpec)
            }
            return .openAI(model: String(rest), baseURL: openAIBaseURL, compatible: false)
        case "anthropic":
            guard !rest.isEmpty else {
                throw ModelError("anthropic: needs a model name, e.g. anthropic:claude-sonnet-4-5", code: .invalidSpec)
            }
            return .anthropic(model: String(rest), baseURL: anthropicBaseURL, compatible: false)
        case "openai-compatible":
            let (url, model) = try split(rest, kind)
            return .openAI(model: model, baseURL: url, compatible: true)
        case "anthropic-compatible":
            let (url, model) = try split(rest, kind)
            return .anthropic(model: model, baseURL: url, compatible: true)
        default:
            throw ModelError(usage(text), code: .invalidSpec)
        }
    }

    static func usage(_ text: String) -> String {
        "unknown model '\(text)': use openai:MODEL, anthropic:MODEL, openai-compatible:URL#MODEL, anthropic-compatible:URL#MODEL or scripted:FILE"
    }

    public var description: String {
        switch self {
        case let .scripted(path): "scripted:\(path)"
        case let .openAI(model, url, compatible): compatible ? "openai-compatible:\(url)#\(model)" : "openai:\(model)"
        case let .anthropic(model, url, compatible):
            compatible ? "anthropic-compatible:\(url)#\(model)" : "anthropic:\(model)"
        }
    }

    /// The environment variable the API key is read from. Compatible servers (often local) may need none.
    public var keyVariable: String? {
        switch self {
        case .scripted: nil
        case .openAI(_, _, false): "OPENAI_API_KEY"
        case .anthropic(_, _, false): "ANTHROPIC_API_KEY"
        case .openAI, .anthropic: "NIGHTSHIFT_API_KEY"
        }
    }

    public var keyRequired: Bool {
        switch self {
        case .openAI(_, _, false), .anthropic(_, _, false): true
        default: false
        }
    }
}

/// An API key. It prints as `<redacted>`, so it cannot reach a log line, an error or an event by accident.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, Equatable {
    let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    /// Replaces the secret wherever it appears in `text` (provider error bodies sometimes echo it).
    public func scrub(_ text: String) -> String {
        value.count >= 4 ? text.replacingOccurrences(of: value, with: "<redacted>") : text
    }
}
