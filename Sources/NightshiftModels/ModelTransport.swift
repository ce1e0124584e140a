import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
public import NightshiftCore

/// Timeouts, retries and limits for model HTTP calls. Every default is stated on its property.
public struct ModelHTTPSettings: Sendable {
    /// Establishing the TCP/TLS connection. Defaults to 10 s.
    public var connectTimeout: Duration = .seconds(10)
    /// From sending the request to the response head (a slow model may think for a while). Defaults to 120 s.
    public var firstByteTimeout: Duration = .seconds(120)
    /// Longest silence inside a streamed response. Defaults to 60 s.
    public var idleTimeout: Duration = .seconds(60)
    /// Attempts per call, counting the first. Defaults to 4.
    public var maxAttempts: Int = 4
    /// Backoff before retry n is `baseDelay × 2^(n-1)`, capped at `maxDelay`, ± `jitter`. Defaults 1 s, 30 s, 0.2.
    public var baseDelay: Duration = .seconds(1)
    public var maxDelay: Duration = .seconds(30)
    public var jitter: Double = 0.2
    /// A `retry-after` longer than this is not waited out here: the run pauses instead. Defaults to 300 s.
    public var maxRetryAfter: Duration = .seconds(300)
    /// Larger responses are refused instead of exhausting memory. Defaults to 16 MiB.
    public var maxResponseBytes: Int = 16 << 20
    public init() {}

    func delay(attempt: Int, retryAfter: Duration?) -> Duration {
        if let retryAfter { return retryAfter }
        let exp = min(Double(1 << min(attempt - 1, 20)) * seconds(baseDelay), seconds(maxDelay))
        let factor = jitter > 0 ? Double.random(in: (1 - jitter)...(1 + jitter)) : 1
        return .milliseconds(Int64(exp * factor * 1000))
    }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func milliseconds(_ d: Duration) -> Int64 {
    d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
}

/// The HTTP client model providers share. The composition root creates one and shuts it down.
public final class ModelHTTPClient: Sendable {
    let client: HTTPClient
    public let settings: ModelHTTPSettings

    public init(settings: ModelHTTPSettings = ModelHTTPSettings()) {
        self.settings = settings
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(
            connect: .milliseconds(milliseconds(settings.connectTimeout)),
            read: .milliseconds(milliseconds(settings.idleTimeout)))
        configuration.redirectConfiguration = .disallow  // a key is sent only to the configured host
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws { try await client.shutdown() }
}

/// How one attempt ended when it did not produce a response.
enum AttemptError: Error {
    case retryable(String, retryAfter: Duration?)
    case fatal(ModelError)
}

/// Consumes a provider's response: server-sent events, or a whole JSON body from servers that
/// do not stream.
protocol ResponseAccumulator {
    init()
    mutating func consume(_ event: SSEEvent) throws(AttemptError)
    mutating func consumeWhole(_ json: [String: Any]) throws(AttemptError)
    /// The stream reached its final event (anything else is a truncated stream).
    var complete: Bool { get }
    func response(
        configuredModel: String
    ) throws(AttemptError) -> (text: String, calls: [ProposedToolCall], usage: TokenUsage, model: String)
}

struct HTTPCall: Sendable {
    var url: String
    var headers: [(String, String)]
    var body: Data
    /// Whether the same HTTP 500 twice ends the retries: true for servers people run themselves,
    /// where it means the request is what fails (llama.cpp answers 500 to a history it cannot
    /// parse); a hosted provider's 500s are outages, retried as any other.
    var repeatedServerErrorIsFinal = false
    var host: String { URL(string: url)?.host ?? url }
}

extension ModelHTTPClient {
    /// Runs `call` with retries; reports each retry; returns the accumulated response.
    func perform<A: ResponseAccumulator>(
        _ call: HTTPCall, as: A.Type, model: String, secret: Secret?, keyHint: String,
        onRetry: @Sendable (ModelRetry) async -> Void
    ) async throws
        -> (text: String, calls: [ProposedToolCall], usage: TokenUsage, model: String)
    {
        var attempt = 1
        var previous: String?
        while true {
            do {
                return try await once(call, A.self, keyHint: keyHint).response(configuredModel: model)
            } catch let e as AttemptError {
                switch e {
                case let .fatal(error):
                    throw ModelError(
                        secret?.scrub(error.message) ?? error.message, code: error.code,
                        needsAttention: error.needsAttention)
                case let .retryable(reason, retryAfter):
                    let reason = secret?.scrub(reason) ?? reason
                    // The same server error to the same request twice: the request is what fails
                    // (llama.cpp answers HTTP 500 to a history it cannot parse), and a retry will too.
                    if call.repeatedServerErrorIsFinal, retryAfter == nil, reason == previous,
                        reason.contains(" answered HTTP 500:")
                    {
                        throw ModelError(
                            "\(reason) (the same answer to the same request twice: retrying will not change it; "
                                + "the server's log says why it cannot take this request)", code: .rejected,
                            needsAttention: true)
                    }
                    previous = reason
                    if let retryAfter, retryAfter > settings.maxRetryAfter {
                        throw ModelError(
                            "\(reason); the provider asks to wait \(milliseconds(retryAfter) / 1000) s, longer than this run waits: resume later",
                            code: .unavailable)
                    }
                    guard attempt < settings.maxAttempts else {
                        throw ModelError("\(reason) (gave up after \(attempt) attempts)", code: .unavailable)
                    }
                    let delay = settings.delay(attempt: attempt, retryAfter: retryAfter)
                    await onRetry(ModelRetry(attempt: attempt, reason: reason, delayMs: milliseconds(delay)))
                    try await Task.sleep(for: delay)
                    attempt += 1
                }
            }
        }
    }

    private func once<A: ResponseAccumulator>(_ call: HTTPCall, _: A.Type, keyHint: String) async throws -> A {
        var request = HTTPClientRequest(url: call.url)
        request.method = .POST
        for (k, v) in call.headers { request.headers.add(name: k, value: v) }
        request.body = .bytes(ByteBuffer(bytes: call.body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(
                request, deadline: .now() + .milliseconds(milliseconds(settings.firstByteTimeout)))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw AttemptError.retryable("cannot reach \(call.host): \(describe(error))", retryAfter: nil)
        }
        let status = Int(response.status.code)
        let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
        if !(200..<300).contains(status) {
            let body = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
            throw classify(status: status, body: body, headers: response.headers, host: call.host, keyHint: keyHint)
        }
        var accumulator = A()
        if contentType.contains("text/event-stream") {
            var parser = SSEParser()
            var total = 0
            do {
                for try await chunk in response.body {
                    total += chunk.readableBytes
                    guard total <= settings.maxResponseBytes else {
                        throw AttemptError.fatal(
                            ModelError(
                                "the response from \(call.host) exceeded \(settings.maxResponseBytes) bytes",
                                code: .badResponse))
                    }
                    for event in parser.feed(chunk.readableBytesView) { try accumulator.consume(event) }
                }
            } catch let e as AttemptError {
                throw e
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw AttemptError.retryable("the stream from \(call.host) broke: \(describe(error))", retryAfter: nil)
            }
            _ = parser.finish()
            guard accumulator.complete else {
                throw AttemptError.retryable(
                    "the stream from \(call.host) ended before its final event", retryAfter: nil)
            }
            return accumulator
        }
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: settings.maxResponseBytes) } catch {
            throw AttemptError.retryable(
                "reading the response from \(call.host) failed: \(describe(error))", retryAfter: nil)
        }
        let text = String(buffer: body)
        guard let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            let kind = text.trimmingCharacters(in: .whitespaces).hasPrefix("<") ? "HTML" : "not JSON"
            throw AttemptError.retryable(
                "\(call.host) answered HTTP \(status) with a body that is \(kind): \(text.prefix(120))", retryAfter: nil
            )
        }
        try accumulator.consumeWhole(json)
        return accumulator
    }

    private func classify(
        status: Int, body: String, headers: HTTPHeaders, host: String, keyHint: String
    ) -> AttemptError {
        let json = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        let message =
            ((json?["error"] as? [String: Any])?["message"] as? String)
            ?? (json?["error"] as? String) ?? (json?["message"] as? String)
            ?? String(body.prefix(200)).trimmingCharacters(in: .whitespacesAndNewlines)
        switch status {
        case 401, 403:
            return .fatal(
                ModelError(
                    "\(host) rejected the API key (HTTP \(status)): check \(keyHint). \(message)", code: .rejected,
                    needsAttention: true)
            )
        case 408, 409, 429, 500...599:
            return .retryable("\(host) answered HTTP \(status): \(message)", retryAfter: retryAfter(headers))
        default:
            // A request too large for the model's window will be refused again as it is: say what to change.
            let lower = message.lowercased()
            let tooLarge =
                (lower.contains("context") || lower.contains("token"))
                && ["exceed", "too long", "too large", "maximum", "limit"].contains { lower.contains($0) }
            let advice =
                tooLarge
                ? " (the request and its answer do not fit the model's context: set context.window, or "
                    + "--context-window, to the server's context size, or lower context.max_output)" : ""
            return .fatal(
                ModelError(
                    "\(host) refused the request (HTTP \(status)): \(message)\(advice)", code: .rejected,
                    needsAttention: true))
        }
    }

    /// `retry-after` in seconds or as an HTTP date; `retry-after-ms` when present.
    private func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        if let ms = headers.first(name: "retry-after-ms").flatMap(Double.init) { return .milliseconds(Int64(ms)) }
        guard let value = headers.first(name: "retry-after") else { return nil }
        if let s = Double(value.trimmingCharacters(in: .whitespaces)) { return .milliseconds(Int64(max(s, 0) * 1000)) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        if let date = f.date(from: value) { return .milliseconds(Int64(max(date.timeIntervalSinceNow, 0) * 1000)) }
        return nil
    }

    private func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded: return "no response within \(milliseconds(settings.firstByteTimeout) / 1000) s"
            case .readTimeout: return "the stream was silent for \(milliseconds(settings.idleTimeout) / 1000) s"
            case .connectTimeout: return "connecting timed out after \(milliseconds(settings.connectTimeout) / 1000) s"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "\(e)"
            }
        }
        // NIO's text for a refused connection reads "connection reset (error set): …": say what it is.
        if let e = error as? IOError, e.errnoCode == ECONNREFUSED {
            return "connection refused (is the server running and listening there?)"
        }
        return "\(error)"
    }
}

extension Dictionary where Key == String, Value == Any {
    func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue ?? (self[key] as? Int) }
}

/// JSON text of `object` with sorted keys (stable request bodies, golden-testable).
func jsonData(_ object: Any) -> Data {
    (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        ?? Data("{}".utf8)
}
