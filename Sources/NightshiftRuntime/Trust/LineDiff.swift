import NightshiftConfig

/// The lines that differ between two texts, for a person reviewing a changed configuration file:
/// a longest-common-subsequence diff, each changed line with its line number.
public enum LineDiff {
    public enum Line: Sendable, Equatable {
        /// A line only the old text has, at this line of the old text.
        case removed(Int, String)
        /// A line only the new text has, at this line of the new text.
        case added(Int, String)
    }

    /// The most lines of either text compared line by line; longer texts are reported whole.
    public static let maxLines = 4000

    /// The changed lines, in order; nil when a text is too long to compare here.
    public static func changes(from old: String, to new: String) -> [Line]? {
        let a = LineEnds.unix(old).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = LineEnds.unix(new).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard a.count <= maxLines, b.count <= maxLines else { return nil }
        let n = a.count, m = b.count
        // lcs[i][j]: the longest common subsequence of a[i...] and b[j...].
        var lcs = [[Int32]](repeating: [Int32](repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var out: [Line] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] {
                i += 1
                j += 1
            } else if j < m, i == n || lcs[i][j + 1] >= lcs[i + 1][j] {
                out.append(.added(j + 1, b[j]))
                j += 1
            } else {
                out.append(.removed(i + 1, a[i]))
                i += 1
            }
        }
        return out
    }
}
