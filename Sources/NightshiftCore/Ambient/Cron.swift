public import Foundation

/// A five-field cron expression (minute hour day-of-month month day-of-week), as in Vixie cron:
/// numbers, `*`, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`, month and weekday names
/// (`JAN`, `MON`), weekday 7 as Sunday, and the macros `@hourly`, `@daily` (`@midnight`),
/// `@weekly`, `@monthly`, `@yearly` (`@annually`). When both day fields are restricted a day
/// matching either fires, as in cron. Evaluated in a named time zone, so every host agrees on
/// when a slot is, whatever its own zone.
public struct Cron: Sendable, Equatable, CustomStringConvertible {
    /// The expression as written.
    public let text: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    /// 0 (Sunday) … 6.
    let weekdays: Set<Int>
    let anyDay: Bool
    let anyWeekday: Bool

    public var description: String { text }

    /// Fields as (name, range, names for values).
    private static let fields: [(name: String, range: ClosedRange<Int>, names: [String])] = [
        ("minute", 0...59, []), ("hour", 0...23, []), ("day of month", 1...31, []),
        ("month", 1...12, ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
        ("day of week", 0...7, ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ]

    private static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// - Throws: ``CronError`` naming the field and the value that is wrong.
    public static func parse(_ text: String) throws(CronError) -> Cron {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let expanded = macros[trimmed.lowercased()] ?? trimmed
        let parts = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw CronError(
                "'\(text)' is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily, and has \(parts.count)"
            )
        }
        var sets: [Set<Int>] = []
        for (i, part) in parts.enumerated() {
            sets.append(try field(part, Self.fields[i]))
        }
        var weekdays = sets[4]
        if weekdays.remove(7) != nil { weekdays.insert(0) }
        let cron = Cron(
            text: trimmed, minutes: sets[0], hours: sets[1], days: sets[2], months: sets[3], weekdays: weekdays,
            anyDay: parts[2] == "*", anyWeekday: parts[4] == "*")
        // A day that never comes (30 February) would leave a schedule that never fires.
        guard cron.next(after: Timestamp(milliseconds: 0), in: TimeZone(identifier: "UTC")!) != nil else {
            throw CronError("'\(text)' never fires: no date has that day in those months")
        }
        return cron
    }

    private static func field(
        _ text: String, _ field: (name: String, range: ClosedRange<Int>, names: [String])
    ) throws(CronError) -> Set<Int> {
        func bad(_ why: String) -> CronError { CronError("the \(field.name) field '\(text)': \(why)") }
        func value(_ s: String) throws(CronError) -> Int {
            if let n = Int(s) {
                guard field.range.contains(n) else {
                    throw bad("\(n) is outside \(field.range.lowerBound)–\(field.range.upperBound)")
                }
                return n
            }
            if let i = field.names.firstIndex(of: s.uppercased()) {
                return field.names.count == 12 ? i + 1 : i
            }
            throw bad("'\(s)' is not a number" + (field.names.isEmpty ? "" : " or a name such as \(field.names[0])"))
        }
        var out: Set<Int> = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard !item.isEmpty else { throw bad("an empty item in a list") }
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard pieces.count <= 2 else { throw bad("more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let n = Int(pieces[1]), n >= 1, n <= field.range.upperBound else {
                    throw bad("the step '\(pieces[1])' must be a whole number from 1")
                }
                step = n
            }
            let lower: Int
            let upper: Int
            if pieces[0] == "*" {
                (lower, upper) = (field.range.lowerBound, field.range.upperBound)
            } else if let dash = pieces[0].firstIndex(of: "-") {
                lower = try value(String(pieces[0][..<dash]))
                upper = try value(String(pieces[0][pieces[0].index(after: dash)...]))
                guard lower <= upper else { throw bad("the range \(lower)-\(upper) runs backwards") }
            } else {
                lower = try value(pieces[0])
                // `5/15` is 5, 20, 35, 50 (from 5 to the end, as in cron).
                upper = pieces.count == 2 ? field.range.upperBound : lower
            }
            out.formUnion(stride(from: lower, through: upper, by: step))
        }
        return out
    }

    private func dayMatches(day: Int, weekday: Int) -> Bool {
        switch (anyDay, anyWeekday) {
        case (true, true): true
        case (false, true): days.contains(day)
        case (true, false): weekdays.contains(weekday)
        case (false, false): days.contains(day) || weekdays.contains(weekday)
        }
    }

    /// The first slot strictly after `time` (slots are whole minutes), or nil when none comes
    /// within eight years (only for an expression whose days never come).
    public func next(after time: Timestamp, in zone: TimeZone) -> Timestamp? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let minuteMs: Int64 = 60_000
        let start =
            (time.milliseconds >= 0 ? time.milliseconds / minuteMs : (time.milliseconds - minuteMs + 1) / minuteMs)
        var date = Date(timeIntervalSince1970: TimeInterval((start + 1) * 60))
        let limit = date.addingTimeInterval(8 * 366 * 86400)
        while date < limit {
            let c = calendar.dateComponents([.month, .day, .hour, .minute, .weekday], from: date)
            guard let month = c.month, let day = c.day, let hour = c.hour, let minute = c.minute,
                let weekday = c.weekday
            else { return nil }
            if !months.contains(month) {
                guard let first = calendar.dateInterval(of: .month, for: date)?.end else { return nil }
                date = first
            } else if !dayMatches(day: day, weekday: weekday - 1) {
                guard let next = calendar.dateInterval(of: .day, for: date)?.end else { return nil }
                date = next
            } else if fixedHours, skippedAMatch(before: date, calendar: calendar, zone: zone) {
                // The clocks went forward over a time this names (02:30 on the night 02:00 becomes
                // 03:00): it fires at the first minute after, as cron does, not a day late.
                return Timestamp(milliseconds: Int64(date.timeIntervalSince1970.rounded()) * 1000)
            } else if !hours.contains(hour) {
                guard let next = calendar.dateInterval(of: .hour, for: date)?.end else { return nil }
                date = next
            } else if !minutes.contains(minute) {
                date = date.addingTimeInterval(60)
            } else if fixedHours, isRepeat(date, calendar: calendar, zone: zone) {
                // The clocks went back and this wall time comes a second time: it fired the first.
                date = date.addingTimeInterval(60)
            } else {
                return Timestamp(milliseconds: Int64(date.timeIntervalSince1970.rounded()) * 1000)
            }
        }
        return nil
    }

    /// Whether the hours are named (not `*`): such a job fires once a day at a wall time, so the
    /// clocks' changes move it rather than drop or double it; a job of every hour runs as the
    /// clock runs.
    private var fixedHours: Bool { hours.count < 24 }

    /// Whether the clocks jumped forward just before `date`, over a wall minute this names.
    private func skippedAMatch(before date: Date, calendar: Calendar, zone: TimeZone) -> Bool {
        let previous = date.addingTimeInterval(-60)
        let jump = zone.secondsFromGMT(for: date) - zone.secondsFromGMT(for: previous)
        guard jump > 0 else { return false }
        for minute in stride(from: 60, through: jump, by: 60) {
            let c = calendar.dateComponents([.hour, .minute], from: previous)
            let total = (c.hour ?? 0) * 60 + (c.minute ?? 0) + minute / 60
            if hours.contains(total / 60 % 24), minutes.contains(total % 60) { return true }
        }
        return false
    }

    /// Whether `date`'s wall time already came once this night (the clocks went back over it).
    private func isRepeat(_ date: Date, calendar: Calendar, zone: TimeZone) -> Bool {
        let back = zone.secondsFromGMT(for: date.addingTimeInterval(-3 * 3600)) - zone.secondsFromGMT(for: date)
        guard back > 0 else { return false }
        let twin = date.addingTimeInterval(-Double(back))
        let wall: Set<Calendar.Component> = [.year, .month, .day, .hour, .minute]
        return calendar.dateComponents(wall, from: twin) == calendar.dateComponents(wall, from: date)
    }
}

/// Why a text is not a cron expression, in one line.
public struct CronError: Error, Equatable, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
