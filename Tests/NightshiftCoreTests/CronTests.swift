import Foundation
import NightshiftCore
import Testing

/// Cron expressions: what they accept, when they fire, and what a schedule does after downtime.
@Suite struct CronTests {
    let utc = TimeZone(identifier: "UTC")!

    /// Milliseconds of a UTC time written as "2026-12-08 02:00".
    func at(_ text: String, _ zone: TimeZone = TimeZone(identifier: "UTC")!) -> Timestamp {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm"
        f.timeZone = zone
        f.locale = Locale(identifier: "en_US_POSIX")
        return Timestamp(milliseconds: Int64(f.date(from: text)!.timeIntervalSince1970 * 1000))
    }

    func next(_ cron: String, after: String, _ zone: TimeZone = TimeZone(identifier: "UTC")!) throws -> String? {
        try Cron.parse(cron).next(after: at(after, zone), in: zone)?.slotText
    }

    @Test func slotsComeWhenTheFieldsSay() throws {
        #expect(try next("0 2 * * *", after: "2026-12-07 20:00") == "2026-12-08T02:00Z")
        #expect(try next("0 2 * * *", after: "2026-12-08 02:00") == "2026-12-09T02:00Z", "strictly after")
        #expect(try next("*/15 * * * *", after: "2026-12-07 20:07") == "2026-12-07T20:15Z")
        #expect(try next("5/20 * * * *", after: "2026-12-07 20:26") == "2026-12-07T20:45Z")
        #expect(try next("0 9 * * MON-FRI", after: "2026-12-11 10:00") == "2026-12-14T09:00Z", "Friday → Monday")
        #expect(try next("0 0 * * 7", after: "2026-12-07 00:00") == "2026-12-13T00:00Z", "7 is Sunday")
        #expect(try next("30 4 1,15 * *", after: "2026-12-02 00:00") == "2026-12-15T04:30Z")
        #expect(try next("0 0 1 jan *", after: "2026-12-07 00:00") == "2027-01-01T00:00Z")
        #expect(try next("0 0 29 2 *", after: "2026-03-01 00:00") == "2028-02-29T00:00Z", "the next leap day")
        #expect(try next("@hourly", after: "2026-12-07 20:59") == "2026-12-07T21:00Z")
        #expect(try next("@weekly", after: "2026-12-07 20:00") == "2026-12-13T00:00Z")
        // Both day fields restricted: either fires (cron's rule): the 13th, or any Friday.
        #expect(try next("0 0 13 * 5", after: "2026-12-07 00:00") == "2026-12-11T00:00Z")
        #expect(try next("0 0 13 * 5", after: "2026-12-12 00:00") == "2026-12-13T00:00Z")
    }

    /// Read in its zone: 02:00 in Paris is 01:00 UTC in winter, 00:00 UTC in summer.
    @Test func aZoneMovesTheSlots() throws {
        let paris = TimeZone(identifier: "Europe/Paris")!
        let cron = try Cron.parse("0 2 * * *")
        #expect(cron.next(after: at("2026-12-07 12:00"), in: paris)?.slotText == "2026-12-08T01:00Z")
        #expect(cron.next(after: at("2026-07-07 12:00"), in: paris)?.slotText == "2026-07-08T00:00Z")
    }

    /// As cron does: a wall time the clocks skip (02:30 the night 02:00 becomes 03:00) fires at
    /// 03:00, not a day late; one they repeat (02:30 the night 03:00 becomes 02:00) fires once; a
    /// job of every hour runs as the clock runs.
    @Test func theClocksChangesMoveADailySlotButNeverDropOrDoubleIt() throws {
        let paris = TimeZone(identifier: "Europe/Paris")!
        let daily = try Cron.parse("30 2 * * *")
        var slots: [String] = []
        var t = at("2026-03-27 12:00")
        for _ in 0..<4 {
            t = try #require(daily.next(after: t, in: paris))
            slots.append(t.slotText)
        }
        // 28 March 02:30 CET = 01:30Z; 29 March: 02:30 does not exist, so 03:00 CEST = 01:00Z.
        #expect(slots == ["2026-03-28T01:30Z", "2026-03-29T01:00Z", "2026-03-30T00:30Z", "2026-03-31T00:30Z"])
        slots = []
        t = at("2026-10-24 12:00")
        for _ in 0..<3 {
            t = try #require(daily.next(after: t, in: paris))
            slots.append(t.slotText)
        }
        // 25 October: 02:30 comes at 00:30Z (CEST) and again at 01:30Z (CET): once.
        #expect(slots == ["2026-10-25T00:30Z", "2026-10-26T01:30Z", "2026-10-27T01:30Z"])
        // Every 30 minutes runs through the repeated hour as the clock does (in Paris: 02:30
        // CEST, then 02:00 and 02:30 CET).
        let often = try Cron.parse("*/30 * * * *")
        var half: [String] = []
        t = at("2026-10-25 00:00")
        for _ in 0..<3 {
            t = try #require(often.next(after: t, in: paris))
            half.append(t.slotText)
        }
        #expect(half == ["2026-10-25T00:30Z", "2026-10-25T01:00Z", "2026-10-25T01:30Z"])
    }

    @Test func whatIsNotACronIsRefusedWithItsField() {
        let cases: [(String, String)] = [
            ("0 2 * *", "needs 5 fields"), ("61 * * * *", "minute field '61': 61 is outside 0–59"),
            ("* 24 * * *", "hour field"), ("* * 0 * *", "day of month field"), ("* * * 13 *", "month field"),
            ("* * * * 8", "day of week field"), ("*/0 * * * *", "the step '0'"), ("5-1 * * * *", "runs backwards"),
            ("a * * * *", "'a' is not a number"), ("* * * FOO *", "or a name such as JAN"),
            ("1,,2 * * * *", "empty item"),
            ("0 0 30 2 *", "never fires"), ("", "needs 5 fields"), ("@sometimes", "needs 5 fields"),
        ]
        for (text, message) in cases {
            do {
                _ = try Cron.parse(text)
                Issue.record("'\(text)' was accepted")
            } catch {
                #expect(error.description.contains(message), "'\(text)': \(error.description)")
            }
        }
    }

    /// After downtime only the latest missed slot counts: it fires with `once`, is skipped with
    /// `skip`; on time (within the grace) it fires either way; nothing due, nothing settled.
    @Test func downtimeIsCaughtUpOnceOrSkipped() throws {
        let cron = try Cron.parse("0 * * * *")
        let since = at("2026-12-01 00:00")
        let onTime = Timestamp(milliseconds: at("2026-12-07 20:00").milliseconds + 30_000)
        for catchUp in CatchUp.allCases {
            #expect(
                ScheduleDue.due(cron: cron, zone: utc, since: since, now: onTime, catchUp: catchUp)
                    == .fire(at("2026-12-07 20:00")))
        }
        let late = at("2026-12-07 20:45")
        #expect(
            ScheduleDue.due(cron: cron, zone: utc, since: since, now: late, catchUp: .once)
                == .fire(at("2026-12-07 20:00")))
        #expect(
            ScheduleDue.due(cron: cron, zone: utc, since: since, now: late, catchUp: .skip)
                == .skip(at("2026-12-07 20:00")))
        // The slot last claimed is not due again; a year of a slot every minute is one step.
        #expect(ScheduleDue.due(cron: cron, zone: utc, since: at("2026-12-07 20:00"), now: late, catchUp: .once) == nil)
        let everyMinute = try Cron.parse("* * * * *")
        #expect(
            ScheduleDue.due(cron: everyMinute, zone: utc, since: at("2025-12-07 20:00"), now: late, catchUp: .skip)
                == .fire(at("2026-12-07 20:45")))
        // A rare slot, long ago: still found.
        let yearly = try Cron.parse("@yearly")
        #expect(
            ScheduleDue.due(cron: yearly, zone: utc, since: at("2025-06-01 00:00"), now: late, catchUp: .once)
                == .fire(at("2026-01-01 00:00")))
    }
}
