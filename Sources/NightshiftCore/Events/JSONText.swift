/// Byte-level JSON helpers shared by the canonical event writer and the providers' request
/// writers: one escaping rule (the one `JSONEncoder` uses) and a syntax check.
public enum JSONText {
    /// Appends `s` as a JSON string: `"`, `\` and control characters escaped, everything else raw UTF-8.
    public static func appendString(_ s: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { buf in
            var start = 0
            for i in 0..<buf.count {
                let b = buf[i]
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start..<i]))
                bytes.append(UInt8(ascii: "\\"))
                switch b {
                case 0x22: bytes.append(0x22)
                case 0x5C: bytes.append(0x5C)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: Array("u00".utf8))
                    bytes.append(hex[Int(b >> 4)])
                    bytes.append(hex[Int(b & 15)])
                }
                start = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start..<buf.count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Whether `text` is one syntactically valid JSON object (RFC 8259), without building it.
    public static func isObject(_ text: String) -> Bool {
        var scanner = Scanner(Array(text.utf8))
        scanner.skipSpace()
        guard scanner.peek == UInt8(ascii: "{"), scanner.value(depth: 0) else { return false }
        scanner.skipSpace()
        return scanner.atEnd
    }

    struct Scanner {
        let b: [UInt8]
        var i = 0
        init(_ b: [UInt8]) { self.b = b }
        var atEnd: Bool { i >= b.count }
        var peek: UInt8? { i < b.count ? b[i] : nil }
        mutating func skipSpace() { while let c = peek, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 } }
        mutating func literal(_ s: String) -> Bool {
            let l = Array(s.utf8)
            guard i + l.count <= b.count, Array(b[i..<(i + l.count)]) == l else { return false }
            i += l.count
            return true
        }
        mutating func value(depth: Int) -> Bool {
            guard depth < 512 else { return false }
            skipSpace()
            guard let c = peek else { return false }
            switch c {
            case UInt8(ascii: "{"):
                i += 1
                skipSpace()
                if peek == UInt8(ascii: "}") {
                    i += 1
                    return true
                }
                while true {
                    skipSpace()
                    guard peek == UInt8(ascii: "\""), string() else { return false }
                    skipSpace()
                    guard peek == UInt8(ascii: ":") else { return false }
                    i += 1
                    guard value(depth: depth + 1) else { return false }
                    skipSpace()
                    if peek == UInt8(ascii: ",") {
                        i += 1
                        continue
                    }
                    if peek == UInt8(ascii: "}") {
                        i += 1
                        return true
                    }
                    return false
                }
            case UInt8(ascii: "["):
                i += 1
                skipSpace()
                if peek == UInt8(ascii: "]") {
                    i += 1
                    return true
                }
                while true {
                    guard value(depth: depth + 1) else { return false }
                    skipSpace()
                    if peek == UInt8(ascii: ",") {
                        i += 1
                        continue
                    }
                    if peek == UInt8(ascii: "]") {
                        i += 1
                        return true
                    }
                    return false
                }
            case UInt8(ascii: "\""): return string()
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "n"): return literal("null")
            default: return number()
            }
        }
        mutating func string() -> Bool {
            i += 1
            while let c = peek {
                i += 1
                if c == UInt8(ascii: "\"") { return true }
                if c < 0x20 { return false }
                if c == UInt8(ascii: "\\") {
                    guard let e = peek else { return false }
                    i += 1
                    if e == UInt8(ascii: "u") {
                        // UTF-16 escapes: a surrogate only as a high-low pair. Strict parsers
                        // (llama.cpp's, Anthropic's) refuse a lone one, so it is not valid here.
                        guard let unit = hex4() else { return false }
                        if (0xDC00...0xDFFF).contains(unit) { return false }
                        if (0xD800...0xDBFF).contains(unit) {
                            guard literal("\\u"), let low = hex4(), (0xDC00...0xDFFF).contains(low) else {
                                return false
                            }
                        }
                    } else if !"\"\\/bfnrt".utf8.contains(e) {
                        return false
                    }
                }
            }
            return false
        }
        /// Four hex digits, as their value.
        mutating func hex4() -> Int? {
            var value = 0
            for _ in 0..<4 {
                guard let h = peek else { return nil }
                let digit: Int
                switch h {
                case 48...57: digit = Int(h) - 48
                case 65...70: digit = Int(h) - 55
                case 97...102: digit = Int(h) - 87
                default: return nil
                }
                value = value * 16 + digit
                i += 1
            }
            return value
        }
        /// A number, which must also be one a double holds (`1e999` is refused by strict parsers).
        mutating func number() -> Bool {
            guard lexNumber() else { return false }
            return Double(String(decoding: b[numberStart..<i], as: UTF8.self))?.isFinite == true
        }
        var numberStart = 0
        mutating func lexNumber() -> Bool {
            numberStart = i
            let start = i
            if peek == UInt8(ascii: "-") { i += 1 }
            guard let first = peek, first >= 48 && first <= 57 else { return false }
            if first == 48 { i += 1 } else { while let c = peek, c >= 48 && c <= 57 { i += 1 } }
            if peek == UInt8(ascii: ".") {
                i += 1
                guard let c = peek, c >= 48 && c <= 57 else { return false }
                while let c = peek, c >= 48 && c <= 57 { i += 1 }
            }
            if let e = peek, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                i += 1
                if let s = peek, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { i += 1 }
                guard let c = peek, c >= 48 && c <= 57 else { return false }
                while let c = peek, c >= 48 && c <= 57 { i += 1 }
            }
            return i > start
        }
    }
}
