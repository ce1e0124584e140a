public import Foundation
public import HTTPTypes
public import Hummingbird
import NightshiftCore
import NightshiftRuntime

/// An error as the API answers it: `application/problem+json` (RFC 9457) with a stable `code`
/// a client can act on, mapped from the runtime's error codes. Nothing was changed by a request
/// answered with one, unless its detail says so.
public struct Problem: Error, HTTPResponseError, Sendable, Equatable {
    public var status: HTTPResponse.Status
    /// Stable, snake_case: `not_found`, `already_decided`, `forbidden`, …
    public var code: String
    public var detail: String
    /// For a 405: the methods the path is served with (the `Allow` header).
    public var allow: String?

    public init(_ status: HTTPResponse.Status, code: String, _ detail: String) {
        self.status = status
        self.code = code
        self.detail = detail
    }

    struct Body: Codable {
        var type: String
        var title: String
        var status: Int
        var code: String
        var detail: String
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = Body(
            type: "urn:nightshift:problem:\(code)", title: status.reasonPhrase, status: status.code, code: code,
            detail: detail)
        let data = try JSONEncoder.sorted.encode(body)
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"nightshift\"" }
        if let allow { headers[.allow] = allow }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// What the runtime threw, as the caller should see it. An error the runtime did not describe
    /// is answered as `internal` without its text (it may name paths or SQL); the server logs it.
    static func from(_ error: any Error) -> Problem? {
        switch error {
        case let p as Problem: return p
        case let e as RuntimeError: return runtime(e)
        case let e as DecisionError: return decision(e)
        case let e as MemoryError:
            let status: HTTPResponse.Status =
                switch e.code {
                case .notFound: .notFound
                case .invalid: .badRequest
                case .exists: .conflict
                case .conflict, .gone: .conflict
                }
            return Problem(status, code: e.code == .exists ? "already_decided" : snake(e.code.rawValue), e.message)
        case let e as StoreError where e.code == .runNotFound: return Problem(.notFound, code: "not_found", e.message)
        case let e as StoreError where e.code == .locked || e.code == .leaseHeld:
            return Problem(.conflict, code: "busy", e.message)
        default: return nil
        }
    }

    static func runtime(_ e: RuntimeError) -> Problem {
        let status: HTTPResponse.Status =
            switch e.code {
            case .notFound: .notFound
            case .invalidInput: .badRequest
            case .unavailable, .stopped: .serviceUnavailable
            default: .conflict
            }
        return Problem(status, code: snake(e.code.description), e.message)
    }

    static func decision(_ e: DecisionError) -> Problem {
        // A store's failure is the server's to log, not the caller's to read.
        if e.code == .store {
            return Problem(.internalServerError, code: "internal", "the server could not answer; its log says why")
        }
        let status: HTTPResponse.Status =
            switch e.code {
            case .notFound: .notFound
            case .notAllowed: .forbidden
            case .invalid: .badRequest
            default: .conflict
            }
        return Problem(status, code: snake(e.code.description), e.message)
    }

    /// `alreadyDecided` → `already_decided`.
    static func snake(_ name: String) -> String {
        var out = ""
        for c in name {
            if c.isUppercase {
                out += "_" + c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }
}

extension JSONEncoder {
    /// Sorted keys, no escaped slashes: stable bodies.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
