public import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Every numeric conversion of a value from outside certctl (annotations, records, CA and API
/// server answers, DNS fields, cron fields, command-line values) goes through here: each one
/// saturates or refuses, none traps. A tenant's `renew-before: 999999999999999999999h` or a
/// record's `failure-count: 9223372036854775807` must never stop a run (README, "Hostile
/// values"). `scripts/check-conversions` fails on a trapping conversion anywhere else.
///
/// The bounds:
/// - a duration: 0 to ``longestDuration`` (ten years); longer is refused where it is read;
/// - a count (failures, runs, sizes): 0 to ``largestCount``; more saturates;
/// - a time: ``earliestDate`` to ``latestDate`` (years 1 to 9999, what RFC 3339 writes, a
///   64-bit `time_t` and `Date` hold); outside saturates to the nearer end.
public enum Bounded {
    /// Ten Julian years: longer than any certificate, back-off or renewal window certctl takes.
    public static let longestDuration: TimeInterval = 315_576_000
    /// The largest count certctl keeps from outside (a failure count, a size).
    public static let largestCount = 1_000_000
    /// 0001-01-01T00:00:00Z.
    public static let earliestDate = Date(timeIntervalSince1970: -62_135_596_800)
    /// 9999-12-31T23:59:59Z.
    public static let latestDate = Date(timeIntervalSince1970: 253_402_300_799)

    // MARK: Floating point to integer

    /// `value` rounded toward zero, saturating at `Int`'s bounds; NaN is 0.
    public static func int(_ value: Double) -> Int {
        guard !value.isNaN else { return 0 }
        if value >= 9_223_372_036_854_775_808.0 { return .max }
        if value <= -9_223_372_036_854_775_808 { return .min }
        return Int(value)
    }

    /// `value` rounded toward zero into `range`; NaN is the range's lower bound.
    public static func int(_ value: Double, in range: ClosedRange<Int>) -> Int {
        guard !value.isNaN else { return range.lowerBound }
        return min(max(int(value), range.lowerBound), range.upperBound)
    }

    /// Seconds as a `Duration`, held to 0 ... ``longestDuration``; NaN is zero.
    public static func duration(seconds: Double) -> Duration {
        guard !seconds.isNaN else { return .zero }
        let held = min(max(seconds, 0), longestDuration)
        let whole = int(held)
        return .seconds(whole) + .nanoseconds(int((held - Double(whole)) * 1e9, in: 0...999_999_999))
    }

    /// A `Duration` in seconds, for arithmetic with dates.
    public static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Whole milliseconds of `seconds`, saturating.
    public static func milliseconds(_ seconds: Double) -> Int { int(seconds * 1000) }

    // MARK: Times

    /// `date` held to ``earliestDate`` ... ``latestDate``; NaN is the epoch.
    public static func date(_ date: Date) -> Date {
        let seconds = date.timeIntervalSince1970
        guard !seconds.isNaN else { return Date(timeIntervalSince1970: 0) }
        return min(max(date, earliestDate), latestDate)
    }

    /// A time given as seconds since 1970 (a dns-persist-01 `persistUntil`, a Unix time in a
    /// header), held like ``date(_:)``.
    public static func date(secondsSince1970 seconds: Int) -> Date {
        date(Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// `date` as a `time_t` for the C library (held like ``date(_:)``, so it fits and
    /// `gmtime_r` has a year to give).
    public static func timeT(_ date: Date) -> time_t {
        time_t(clamping: int(self.date(date).timeIntervalSince1970.rounded(.down)))
    }

    // MARK: Text

    /// A count written in decimal digits (`"3"`): saturates at ``largestCount``; nil for
    /// anything else (empty, a sign, a fraction, other digits than ASCII).
    public static func count(_ text: some StringProtocol) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        var value = 0
        for byte in text.utf8 {
            value = value * 10 + Int(byte - 0x30)
            if value > largestCount { return largestCount }
        }
        return value
    }

    /// An integer written in decimal digits with an optional `-`, held to `range`: nil when it
    /// is not one or lies outside (a port, a size with its own limits).
    public static func integer(_ text: some StringProtocol, in range: ClosedRange<Int>) -> Int? {
        let negative = text.hasPrefix("-")
        let digits = negative ? Substring(text.dropFirst()) : Substring(text)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        var value = 0
        for byte in digits.utf8 {
            let (product, overflowed) = value.multipliedReportingOverflow(by: 10)
            guard !overflowed else { return nil }
            let (sum, overflowedAgain) = product.addingReportingOverflow(Int(byte - 0x30))
            guard !overflowedAgain else { return nil }
            value = sum
        }
        let signed = negative ? -value : value
        return range.contains(signed) ? signed : nil
    }

    /// The outcome of reading a duration from outside.
    public enum DurationReading: Equatable, Sendable {
        case seconds(TimeInterval)
        /// Not a duration of the form asked for.
        case malformed
        /// A duration, but longer than ``Bounded/longestDuration``.
        case tooLong
    }

    /// A Go duration (`time.ParseDuration`, as cert-manager's annotations are written: `720h`,
    /// `1h30m`, `90s`, `1.5h`, `-1h`), refused past ``longestDuration`` either way.
    public static func goDuration(_ text: String) -> DurationReading {
        let units: [(String, Double)] = [
            ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600),
        ]
        var rest = Substring(text)
        var sign = 1.0
        if rest.hasPrefix("-") || rest.hasPrefix("+") {
            sign = rest.hasPrefix("-") ? -1 : 1
            rest = rest.dropFirst()
        }
        if rest == "0" { return .seconds(0) }
        guard !rest.isEmpty, rest.count <= 64 else { return rest.isEmpty ? .malformed : .tooLong }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number), value.isFinite else { return .malformed }
            rest = rest.dropFirst(number.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else { return .malformed }
            rest = rest.dropFirst(unit.count)
            total += value * scale
            guard total <= longestDuration else { return .tooLong }
        }
        return .seconds(sign * total)
    }

    /// Whole seconds written in decimal digits (an HTTP `Retry-After`, RFC 9110 §10.2.3), held
    /// to `range`; nil when it is not digits.
    public static func seconds(_ text: some StringProtocol, in range: ClosedRange<TimeInterval>) -> TimeInterval? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        // Digits past the range's upper bound saturate: `9223372036854775807` is "a long time".
        guard trimmed.count <= 15, let value = Double(trimmed) else { return range.upperBound }
        return min(max(value, range.lowerBound), range.upperBound)
    }

    /// `text` in quotes for a message, cut to `limit` characters with its length said, so a
    /// 64 KB annotation gives a line, not a page; control characters shown as `?`.
    public static func quoted(_ text: some StringProtocol, limit: Int = 60) -> String {
        let (shown, cut) = head(text, limit: limit)
        return cut ? "\"\(shown)…\" (\(text.utf8.count) bytes)" : "\"\(shown)\""
    }

    /// `text` as it is when short and printable, else cut like ``quoted(_:limit:)`` (unquoted).
    public static func excerpt(_ text: some StringProtocol, limit: Int = 60) -> String {
        let (shown, cut) = head(text, limit: limit)
        return cut ? "\(shown)… (\(text.utf8.count) bytes)" : shown
    }

    /// The first `limit` Unicode scalars of `text`, printable, and whether it was cut: by scalars,
    /// not Characters, so one Character of 64 KB of combining marks is cut too.
    private static func head(_ text: some StringProtocol, limit: Int) -> (String, Bool) {
        let scalars = text.unicodeScalars
        let shown = String(String.UnicodeScalarView(scalars.prefix(limit)))
        return (printable(shown), scalars.count > limit)
    }

    /// `text` with every control character (C0, DEL, C1: a terminal's escape sequences, line
    /// breaks) shown as `?`, for a value from outside printed to a terminal or a table cell.
    public static func printable(_ text: String) -> String {
        // Most text has no byte below 0x20, no DEL and no 0xC2 (the lead byte of U+0080-U+00BF,
        // where the C1 controls are): one pass over the bytes says so.
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0xC2 }),
            text.unicodeScalars.contains(where: isControl)
        else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { isControl($0) ? "?" : $0 }))
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
