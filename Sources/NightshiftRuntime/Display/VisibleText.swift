import Foundation

/// What Nightshift shows comes partly from the agent: the model's text, tool output, file names,
/// a diff, a call's arguments. A terminal obeys control characters in it (set the window title,
/// write the clipboard with OSC 52, clear the screen, move the cursor), and a browser lays out
/// bidirectional overrides (an approver would read a command in another order than it runs), so
/// before any of it reaches a person (the terminal, the dashboard, the API's inbox) every control
/// character but newline and tab is written as a visible `\uXXXX` escape:
/// C0, DEL, C1 (which some terminals take as 8-bit escapes) and the bidirectional overrides that
/// make text read in another order than it runs. The same escape is valid inside a JSON string
/// and means the same character there, so JSON lines stay valid and lossless.
public enum VisibleText {
    public static func safe(_ text: String) -> String {
        guard needsEscaping(text) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isUnsafe(scalar) {
                out.append(contentsOf: String(format: "\\u%04x", scalar.value).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    public static func isUnsafe(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x0A, 0x09: false
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: true  // bidirectional controls
        default: false
        }
    }

    /// A fast look at the bytes: most lines have nothing to escape.
    private static func needsEscaping(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            for b in bytes where b < 0x20 || b == 0x7F || b == 0xC2 || b == 0xE2 || b == 0xD8 {
                if b != 0x0A && b != 0x09 { return true }
            }
            return false
        }
    }
}
