import Foundation

/// Shell-style globs: `*` any run of characters (within one path segment in path mode), `**`
/// any run including '/', `?` one character. Bytes, not Characters: patterns and paths are
/// compared as UTF-8, and a decision must cost microseconds (the gateway runs on every call).
public enum Glob {
    public static func matches(_ pattern: String, _ text: String, pathMode: Bool) -> Bool {
        var pattern = pattern, text = text
        return pattern.withUTF8 { p in text.withUTF8 { t in match(p, t, pathMode: pathMode) } }
    }

    /// The same against text already in UTF-8 (a decision converts its call once, not per rule).
    static func matches(_ pattern: String, _ text: [UInt8], pathMode: Bool) -> Bool {
        var pattern = pattern
        return pattern.withUTF8 { p in text.withUnsafeBufferPointer { t in match(p, t, pathMode: pathMode) } }
    }

    static func match(_ p: UnsafeBufferPointer<UInt8>, _ t: UnsafeBufferPointer<UInt8>, pathMode: Bool) -> Bool {
        // Fast paths: no wildcard at all; or a literal prefix that already differs.
        var firstWild = p.count
        for (i, c) in p.enumerated() where c == Matcher.star || c == Matcher.question {
            firstWild = i
            break
        }
        if firstWild == p.count { return p.elementsEqual(t) }
        if t.count < firstWild || !p[0..<firstWild].elementsEqual(t[0..<firstWild]) { return false }
        // Every literal run between wildcards must occur in the text: most non-matches end here,
        // without the search below (`*forbidden*` against a command is one substring test).
        var start = firstWild
        while start < p.count {
            while start < p.count, p[start] == Matcher.star || p[start] == Matcher.question { start += 1 }
            // The '/' of `**/` may match nothing (`**/*.py` matches "a.py").
            if start >= 2, start < p.count, p[start] == Matcher.slash, p[start - 1] == Matcher.star,
                p[start - 2] == Matcher.star
            {
                start += 1
            }
            var end = start
            while end < p.count, p[end] != Matcher.star, p[end] != Matcher.question { end += 1 }
            if end > start, !contains(t, p[start..<end]) { return false }
            start = end
        }
        let size = (p.count + 1) * (t.count + 1)
        // The memo lives on the stack for the usual sizes: a decision must not allocate per rule.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: size) { memo in
            memo.initialize(repeating: 0)
            let m = Matcher(p: p, t: t, pathMode: pathMode, memo: memo)
            return m.go(firstWild, firstWild)
        }
    }

    private static func contains(_ t: UnsafeBufferPointer<UInt8>, _ needle: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        let n = needle.count
        guard n <= t.count else { return false }
        let first = needle[needle.startIndex]
        var i = 0
        while i + n <= t.count {
            if t[i] == first, t[i..<(i + n)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    /// A memoised search over (pattern index, text index); memo: 0 unknown, 1 false, 2 true.
    private struct Matcher {
        static let star = UInt8(ascii: "*"), question = UInt8(ascii: "?"), slash = UInt8(ascii: "/")
        let p: UnsafeBufferPointer<UInt8>
        let t: UnsafeBufferPointer<UInt8>
        let pathMode: Bool
        let memo: UnsafeMutableBufferPointer<UInt8>

        func go(_ i: Int, _ j: Int) -> Bool {
            let key = i * (t.count + 1) + j
            if memo[key] != 0 { return memo[key] == 2 }
            var result = false
            if i == p.count {
                result = j == t.count
            } else if p[i] == Matcher.star {
                let double = i + 1 < p.count && p[i + 1] == Matcher.star
                let next = double ? i + 2 : i + 1
                // `**/` also matches no folder at all.
                if double, next < p.count, p[next] == Matcher.slash, go(next + 1, j) { result = true }
                var k = j
                while !result {
                    if go(next, k) {
                        result = true
                        break
                    }
                    if k == t.count || (pathMode && !double && t[k] == Matcher.slash) { break }
                    k += 1
                }
            } else if j < t.count, p[i] == Matcher.question ? (!pathMode || t[j] != Matcher.slash) : p[i] == t[j] {
                result = go(i + 1, j + 1)
            }
            memo[key] = result ? 2 : 1
            return result
        }
    }
}
