import Foundation
public import NightshiftCore

/// An embedder that answers from vectors a real model made once (a test double): a JSON-lines
/// file of `{"text", "int8"}`, each vector int8 in base64 (scaled to its largest component, so
/// cosines are the model's). A text it has no vector for is an error, never a made-up vector.
public struct RecordedEmbedder: Embedder {
    public let model: String
    public let table: [String: [Float]]

    public init(file: String, model: String) throws {
        struct Line: Decodable {
            var text: String
            var int8: String
        }
        var table: [String: [Float]] = [:]
        for raw in try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n") {
            let line = try JSONDecoder().decode(Line.self, from: Data(raw.utf8))
            guard let bytes = Data(base64Encoded: line.int8) else {
                throw MemoryError(.invalid, "\(file): the vector of '\(line.text.prefix(60))' is not base64")
            }
            table[line.text] = bytes.map { Float(Int8(bitPattern: $0)) }
        }
        self.model = model
        self.table = table
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        try texts.map { t in
            guard let v = table[t] else { throw MemoryError(.notFound, "no recorded vector for '\(t.prefix(60))'") }
            return v
        }
    }
}
