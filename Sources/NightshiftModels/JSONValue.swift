public import NightshiftCore

/// A JSON value for request bodies, written straight to bytes (Foundation's JSONSerialization
/// cost milliseconds per call on a full context). Object keys are written sorted, so bodies are
/// stable and golden-testable. `.raw` embeds text already known to be valid JSON.
public indirect enum JSONValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral
{
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
    case raw(String)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.bytes == b.bytes }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(to: &out)
        return out
    }

    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: Array("null".utf8))
        case let .bool(b): out.append(contentsOf: Array((b ? "true" : "false").utf8))
        case let .int(n): out.append(contentsOf: Array(String(n).utf8))
        case let .string(s): JSONText.appendString(s, to: &out)
        case let .raw(text): out.append(contentsOf: Array(text.utf8))
        case let .array(items):
            out.append(UInt8(ascii: "["))
            for (n, v) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case let .object(fields):
            out.append(UInt8(ascii: "{"))
            for (n, (k, v)) in fields.sorted(by: { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) })
                .enumerated()
            {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                JSONText.appendString(k, to: &out)
                out.append(UInt8(ascii: ":"))
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A tool's schema or a model's arguments: embedded as they are when they are one JSON object,
    /// otherwise replaced by `fallback` (a request must never carry invalid JSON).
    public static func object(text: String, fallback: JSONValue) -> JSONValue {
        JSONText.isObject(text) ? .raw(text) : fallback
    }
}
