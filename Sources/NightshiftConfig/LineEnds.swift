import Foundation

/// Every file Nightshift reads as lines reads the same whatever its line ends.
public enum LineEnds {
    /// `text` with every line ending (`\r\n`, a lone `\r`) as `\n`. In Swift `"\r\n"` is one
    /// `Character`, so splitting on `"\n"` misses it: a CRLF configuration whose first line is a
    /// comment once read as one long comment, and everything it set was silently dropped.
    public static func unix(_ text: String) -> String {
        guard text.utf8.contains(13) else { return text }
        return text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }
}
