/// One server-sent event.
public struct SSEEvent: Sendable, Equatable {
    public var event: String?
    public var data: String
    public init(event: String? = nil, data: String) {
        self.event = event
        self.data = data
    }
}

/// An incremental server-sent-events parser (the WHATWG format): feed it bytes as they arrive,
/// in chunks of any size, and take the complete events. Lines end in LF, CRLF or CR; `data:`
/// lines of one event are joined with LF; comments (`:`) and unknown fields are ignored.
public struct SSEParser: Sendable {
    private var line: [UInt8] = []
    private var data: [String] = []
    private var event: String?
    private var sawCR = false

    public init() {}

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [SSEEvent] {
        var out: [SSEEvent] = []
        for b in bytes {
            if sawCR {
                sawCR = false
                if b == 0x0A { continue }  // CRLF: the CR already ended the line
            }
            switch b {
            case 0x0A: endLine(&out)
            case 0x0D:
                endLine(&out)
                sawCR = true
            default: line.append(b)
            }
        }
        return out
    }

    /// Ends the stream: an event without its blank line is incomplete and is dropped, as the format says.
    public mutating func finish() -> [SSEEvent] {
        line = []
        data = []
        event = nil
        return []
    }

    private mutating func endLine(_ out: inout [SSEEvent]) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            if !data.isEmpty { out.append(SSEEvent(event: event, data: data.joined(separator: "\n"))) }
            data = []
            event = nil
            return
        }
        if line[0] == UInt8(ascii: ":") { return }
        let colon = line.firstIndex(of: UInt8(ascii: ":"))
        let field = String(decoding: line[..<(colon ?? line.count)], as: UTF8.self)
        var value = colon.map { Array(line[(line.index(after: $0))...]) } ?? []
        if value.first == UInt8(ascii: " ") { value.removeFirst() }
        switch field {
        case "data": data.append(String(decoding: value, as: UTF8.self))
        case "event": event = String(decoding: value, as: UTF8.self)
        default: break
        }
    }
}
