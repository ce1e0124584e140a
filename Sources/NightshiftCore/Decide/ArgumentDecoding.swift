import Foundation

/// How Nightshift's own tools read their arguments: decoded once from the call's JSON text into
/// the tool's typed arguments (``CoreTool``), with a problem a model can act on when they do not fit.
public enum ArgumentDecoding {
    /// `text` decoded as `T`, or what is wrong with it in a few words (`tasks[2].checks: expected a
    /// list`), never Foundation's debug text.
    public static func decode<T: Decodable>(_: T.Type, from text: String) -> Result<T, ArgumentProblem> {
        do {
            return .success(try JSONDecoder().decode(T.self, from: Data(text.utf8)))
        } catch let error as DecodingError {
            return .failure(ArgumentProblem(error))
        } catch let error as ArgumentProblem {
            return .failure(error)
        } catch {
            return .failure(ArgumentProblem("not readable"))
        }
    }
}

/// What is wrong with a tool's arguments, in words for the model that wrote them.
public struct ArgumentProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    init(_ error: DecodingError) {
        func path(_ keys: [any CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let n = key.intValue, key.stringValue.hasPrefix("Index") {
                    out += "[\(n)]"
                } else {
                    out += (out.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return out
        }
        func at(_ keys: [any CodingKey]) -> String { keys.isEmpty ? "the arguments" : path(keys) }
        func expected(_ type: Any.Type) -> String {
            let name = "\(type)"
            if type == String.self { return "a string" }
            if type == Bool.self { return "true or false" }
            if type == Int.self || type == Int32.self || type == Int64.self { return "a whole number" }
            if type == Double.self { return "a number" }
            if name.hasPrefix("Array") || name.hasPrefix("[") && !name.contains(":") { return "a list" }
            return "an object"
        }
        switch error {
        case let .typeMismatch(type, context) where context.codingPath.isEmpty:
            message = expected(type) == "an object" ? "not a JSON object" : "expected \(expected(type))"
        case let .typeMismatch(type, context): message = "\(at(context.codingPath)): expected \(expected(type))"
        case let .valueNotFound(type, context) where context.codingPath.isEmpty:
            message = expected(type) == "an object" ? "not a JSON object" : "expected \(expected(type)), not null"
        case let .valueNotFound(type, context):
            message = "\(at(context.codingPath)): expected \(expected(type)), not null"
        case let .keyNotFound(key, context): message = "\(at(context.codingPath + [key])) is missing"
        case let .dataCorrupted(context):
            message = context.codingPath.isEmpty ? "not a JSON object" : "\(at(context.codingPath)): not readable"
        @unknown default: message = "not readable"
        }
    }
}

/// One element of a list read on its own: an element that does not fit is reported without
/// losing the others (a dreamer's proposals are kept or dropped one by one).
public struct EachDecoded<T: Decodable>: Decodable {
    public let value: Result<T, ArgumentProblem>

    public init(from decoder: any Decoder) throws {
        do {
            value = .success(try T(from: decoder))
        } catch let error as DecodingError {
            value = .failure(ArgumentProblem(error))
        } catch let error as ArgumentProblem {
            value = .failure(error)
        }
    }
}

/// A list of texts read leniently: what is not a string is left out rather than failing the
/// whole answer (one malformed rubric item or reason does not cost a role its turn).
public struct KeptStrings: Decodable, Sendable, Equatable {
    public let values: [String]

    public init(from decoder: any Decoder) throws {
        var list = try decoder.unkeyedContainer()
        var values: [String] = []
        while !list.isAtEnd {
            if let s = try? list.decode(String.self) {
                values.append(s)
            } else {
                _ = try? list.decode(Skipped.self)
            }
        }
        self.values = values
    }

    /// Any JSON value, read and dropped.
    private struct Skipped: Decodable {
        init(from decoder: any Decoder) throws {}
    }
}

extension ToolCall {
    /// The call's arguments decoded as `T`, once; nil when they are not a JSON object of that shape.
    func decoded<T: Decodable>(_: T.Type) -> T? {
        try? ArgumentDecoding.decode(T.self, from: arguments.text).get()
    }

    /// The call's arguments decoded as `T`, or what is wrong with them.
    func decode<T: Decodable>(_: T.Type) -> Result<T, ArgumentProblem> {
        ArgumentDecoding.decode(T.self, from: arguments.text)
    }
}
