import Foundation
import NightshiftRuntime
import NightshiftTesting
import Testing

/// What the agent wrote reaches a terminal with every control character made visible.
@Suite struct TerminalTextTests {
    @Test(arguments: [
        ("\u{1B}]0;pwned\u{07}", "\\u001b]0;pwned\\u0007"),  // window title
        ("\u{1B}]52;c;cHduZWQ=\u{07}", "\\u001b]52;c;cHduZWQ=\\u0007"),  // clipboard write (OSC 52)
        ("\u{1B}[2J\u{1B}[H", "\\u001b[2J\\u001b[H"),  // clear screen, cursor home
        ("\u{9B}31m", "\\u009b31m"),  // C1 CSI
        ("a\rb\u{08}c\u{7F}", "a\\u000db\\u0008c\\u007f"),  // carriage return, backspace, DEL
        ("abc\u{202E}txt.exe", "abc\\u202etxt.exe"),  // right-to-left override
        ("line one\n\tline two", "line one\n\tline two"),  // newline and tab stay
        ("naïve — ünïcode ✓", "naïve — ünïcode ✓"),  // ordinary text is untouched
    ])
    func controlCharactersAreEscaped(input: String, expected: String) {
        #expect(VisibleText.safe(input) == expected)
    }

    /// The escape is JSON's own: a JSON line stays valid and decodes to the same text.
    @Test func escapedJSONStillDecodesToTheSameText() throws {
        let text = "x\u{9B}y\u{202E}z\u{7F}"
        let line = VisibleText.safe(
            String(decoding: try JSONSerialization.data(withJSONObject: ["t": text]), as: UTF8.self))
        #expect(!line.unicodeScalars.contains { VisibleText.isUnsafe($0) })
        let back = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
        #expect(back?["t"] == text)
    }
}
