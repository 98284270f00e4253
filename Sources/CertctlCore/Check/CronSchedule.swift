import Basics
public import Foundation

/// A CronJob's `schedule` as Kubernetes reads it (five fields, names of months and weekdays,
/// `@hourly` and the like, a `CRON_TZ=`/`TZ=` prefix), to know the longest time between two
/// runs: `certctl check --schedule` compares it with the certificates' lifetimes.
public struct CronSchedule: Sendable, Equatable {
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    /// Cron's rule: when both day fields are restricted, a day matching either runs.
    let daysRestricted: Bool
    let weekdaysRestricted: Bool

    public init(parsing text: String) throws {
        var words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        if let first = words.first, first.hasPrefix("CRON_TZ=") || first.hasPrefix("TZ=") { words.removeFirst() }
        let macros = [
            "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
            "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
        ]
        if words.count == 1, let expanded = macros[words[0].lowercased()] {
            words = expanded.split(separator: " ").map(String.init)
        }
        guard words.count == 5 else {
            throw CertctlError(
                .invalidArgument, object: "schedule \"\(text)\"",
                "is not five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly"
            )
        }
        let months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        let weekdays = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
        func field(_ index: Int, _ range: ClosedRange<Int>, names: [String] = [], base: Int = 0) throws -> Set<Int> {
            try Self.field(words[index], range, names: names, base: base, schedule: text)
        }
        minutes = try field(0, 0...59)
        hours = try field(1, 0...23)
        days = try field(2, 1...31)
        self.months = try field(3, 1...12, names: months, base: 1)
        // 7 is Sunday too.
        self.weekdays = Set(try field(4, 0...7, names: weekdays).map { $0 % 7 })
        daysRestricted = !["*", "?"].contains(words[2])
        weekdaysRestricted = !["*", "?"].contains(words[4])
    }

    private static func field(_ text: String, _ range: ClosedRange<Int>, names: [String], base: Int, schedule: String)
        throws -> Set<Int>
    {
        func fail() -> CertctlError {
            CertctlError(
                .invalidArgument, object: "schedule \"\(schedule)\"",
                "its field \"\(text)\" is not a cron field for \(range.lowerBound)-\(range.upperBound)")
        }
        func value(_ word: Substring) throws -> Int {
            if let number = Int(word), range.contains(number) { return number }
            if let index = names.firstIndex(of: word.uppercased()) { return index + base }
            throw fail()
        }
        var values: Set<Int> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let stepped = part.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            // A step past the field's range picks its first value alone, as a huge one would.
            let step = stepped.count == 2 ? Bounded.integer(stepped[1], in: 1...Int.max).map { min($0, 1000) } : 1
            guard let step else { throw fail() }
            var low = range.lowerBound
            var high = range.upperBound
            if stepped[0] != "*", stepped[0] != "?" {
                let bounds = stepped[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
                low = try value(bounds[0])
                high = bounds.count == 2 ? try value(bounds[1]) : (stepped.count == 2 ? range.upperBound : low)
                guard low <= high else { throw fail() }
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    /// The longest time between two runs over the four years from `start` (UTC), the wait from
    /// `start` to the first run and from the last to the end of that span counted too (a leap
    /// day's schedule, `0 0 29 2 *`, runs years apart); nil when it never runs (February 30th).
    public func longestInterval(from start: Date) -> TimeInterval? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let midnight = calendar.startOfDay(for: start)
        let times = hours.sorted().flatMap { hour in minutes.sorted().map { TimeInterval(hour * 3600 + $0 * 60) } }
        var previous: Date?
        var longest: TimeInterval = 0
        // Four years and a month: every gap of a monthly or yearly schedule is seen, and a
        // leap day's (`0 0 29 2 *`) run comes.
        let span = 4 * 366 + 31
        for day in 0..<span {
            let date = midnight.addingTimeInterval(TimeInterval(day) * 86_400)
            let parts = calendar.dateComponents([.day, .month, .weekday], from: date)
            guard let dayOfMonth = parts.day, let month = parts.month, let weekday = parts.weekday,
                months.contains(month)
            else { continue }
            let byDay = days.contains(dayOfMonth)
            let byWeekday = weekdays.contains(weekday - 1)
            let runs = daysRestricted && weekdaysRestricted ? (byDay || byWeekday) : (byDay && byWeekday)
            guard runs else { continue }
            for offset in times {
                let run = date.addingTimeInterval(offset)
                longest = max(longest, run.timeIntervalSince(previous ?? start))
                previous = run
            }
        }
        guard let previous else { return nil }
        return max(longest, midnight.addingTimeInterval(TimeInterval(span) * 86_400).timeIntervalSince(previous))
    }
}
