public import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The timestamps of the wire formats certctl speaks, in UTC, without Foundation's formatters:
/// on Linux those load ICU, which costs a third of a short process's memory (6 MB of its
/// 50 MB peak), for formats that are fixed and ASCII.
public enum Timestamp {
    // MARK: RFC 3339 (ACME, Kubernetes, certctl's annotations)

    /// `2026-11-28T15:04:05Z`, or with `fractionDigits` (1 to 9) digits of the second,
    /// truncated (`2026-11-28T15:04:05.123456Z` with 6, Kubernetes' `MicroTime`).
    public static func rfc3339(_ date: Date, fractionDigits: Int = 0) -> String {
        let (fields, fraction) = utcFields(date)
        var text =
            "\(pad(fields.tm_year + 1900, 4))-\(pad(fields.tm_mon + 1, 2))-\(pad(fields.tm_mday, 2))"
            + "T\(pad(fields.tm_hour, 2)):\(pad(fields.tm_min, 2)):\(pad(fields.tm_sec, 2))"
        if fractionDigits > 0 {
            let digits = min(fractionDigits, 9)
            var scale = 1
            for _ in 0..<digits { scale *= 10 }
            text += "." + pad(Bounded.int((fraction * Double(scale)).rounded(.down), in: 0...(scale - 1)), digits)
        }
        return text + "Z"
    }

    /// Parses RFC 3339 date-time (`T` or `t`, `Z`, `z` or a `±HH:MM` offset, any number of
    /// fractional digits, as Go's `RFC3339Nano` writes); nil for anything else.
    public static func rfc3339(_ text: String) -> Date? {
        var scanner = Scanner(text)
        guard let year = scanner.digits(4), scanner.skip("-"), let month = scanner.digits(2), scanner.skip("-"),
            let day = scanner.digits(2), scanner.skip("T") || scanner.skip("t"), let hour = scanner.digits(2),
            scanner.skip(":"), let minute = scanner.digits(2), scanner.skip(":"), let second = scanner.digits(2)
        else { return nil }
        var fraction = 0.0
        if scanner.skip(".") {
            var scale = 0.1
            var any = false
            while let digit = scanner.digits(1) {
                fraction += Double(digit) * scale
                scale /= 10
                any = true
            }
            guard any else { return nil }
        }
        var offset = 0
        if scanner.skip("Z") || scanner.skip("z") {
            offset = 0
        } else if let sign = scanner.next(), sign == "+" || sign == "-", let hours = scanner.digits(2),
            scanner.skip(":"), let minutes = scanner.digits(2), hours < 24, minutes < 60
        {
            offset = (hours * 60 + minutes) * 60 * (sign == "-" ? -1 : 1)
        } else {
            return nil
        }
        guard scanner.atEnd,
            let date = date(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        return date.addingTimeInterval(fraction - TimeInterval(offset))
    }

    // MARK: HTTP-date (RFC 9110 §5.6.7: Retry-After) and RFC 5322 (mail Date)

    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT` (also a valid RFC 5322 mail date).
    public static func httpDate(_ date: Date) -> String {
        let (fields, _) = utcFields(date)
        return
            "\(weekdays[Int(clamping: fields.tm_wday) % 7]), \(pad(fields.tm_mday, 2)) \(months[Int(clamping: fields.tm_mon) % 12]) "
            + "\(pad(fields.tm_year + 1900, 4)) \(pad(fields.tm_hour, 2)):\(pad(fields.tm_min, 2)):"
            + "\(pad(fields.tm_sec, 2)) GMT"
    }

    /// Parses the three HTTP-date forms a recipient must accept: IMF-fixdate, RFC 850
    /// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
    public static func httpDate(_ text: String) -> Date? {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        func month(_ name: String) -> Int? { months.firstIndex(of: name).map { $0 + 1 } }
        func clock(_ text: String) -> (Int, Int, Int)? {
            let parts = text.split(separator: ":").map { Int($0) }
            guard parts.count == 3, let hour = parts[0], let minute = parts[1], let second = parts[2] else {
                return nil
            }
            return (hour, minute, second)
        }
        switch words.count {
        case 6 where words[0].hasSuffix(",") && words[5] == "GMT":
            guard let day = Int(words[1]), let month = month(words[2]), let year = Int(words[3]),
                let (hour, minute, second) = clock(words[4])
            else { return nil }
            return date(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        case 4 where words[0].hasSuffix(",") && words[3] == "GMT":
            let parts = words[1].split(separator: "-").map(String.init)
            guard parts.count == 3, let day = Int(parts[0]), let month = month(parts[1]),
                let short = Bounded.integer(parts[2], in: 0...99),
                let (hour, minute, second) = clock(words[2])
            else { return nil }
            // RFC 9110: a two-digit year more than 50 years in the future is in the past century.
            let year = short + (short < 70 ? 2000 : 1900)
            return date(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        case 5 where !words[0].hasSuffix(","):
            guard let month = month(words[1]), let day = Int(words[2]), let (hour, minute, second) = clock(words[3]),
                let year = Int(words[4])
            else { return nil }
            return date(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        default:
            return nil
        }
    }

    // MARK: Shared

    /// `2026-11-28 15:04`, for tables.
    public static func minute(_ date: Date) -> String {
        let (fields, _) = utcFields(date)
        return "\(pad(fields.tm_year + 1900, 4))-\(pad(fields.tm_mon + 1, 2))-\(pad(fields.tm_mday, 2)) "
            + "\(pad(fields.tm_hour, 2)):\(pad(fields.tm_min, 2))"
    }

    /// The UTC fields of `date` and the fraction of its second (0 ..< 1); a date outside years
    /// 1 to 9999 is written as the nearer end (``Bounded/date(_:)``).
    private static func utcFields(_ date: Date) -> (tm, Double) {
        let interval = Bounded.date(date).timeIntervalSince1970
        let whole = interval.rounded(.down)
        var seconds = Bounded.timeT(Date(timeIntervalSince1970: whole))
        var fields = tm()
        gmtime_r(&seconds, &fields)
        return (fields, interval - whole)
    }

    private static func date(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Date? {
        // Every field in range before it meets Int32 (a fuzzer's "-26666666666666666:03:0" did not).
        guard (1...9999).contains(year), (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour),
            (0...59).contains(minute), (0...60).contains(second)
        else {
            return nil
        }
        var fields = tm()
        fields.tm_year = Int32(clamping: year - 1900)
        fields.tm_mon = Int32(clamping: month - 1)
        fields.tm_mday = Int32(clamping: day)
        fields.tm_hour = Int32(clamping: hour)
        fields.tm_min = Int32(clamping: minute)
        fields.tm_sec = Int32(clamping: min(second, 59))  // a leap second is read as :59
        let seconds = timegm(&fields)
        // timegm normalises 31 February to 3 March: refuse dates that do not exist.
        guard fields.tm_mday == Int32(clamping: day), fields.tm_mon == Int32(clamping: month - 1) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    private static func pad(_ value: some BinaryInteger, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// Reads ASCII fields left to right.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ text: String) { bytes = Array(text.utf8) }

        var atEnd: Bool { index == bytes.count }

        mutating func skip(_ character: Character) -> Bool {
            guard index < bytes.count, let ascii = character.asciiValue, bytes[index] == ascii else { return false }
            index += 1
            return true
        }

        mutating func next() -> Character? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return Character(UnicodeScalar(bytes[index]))
        }

        mutating func digits(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + count] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(clamping: byte - UInt8(ascii: "0"))
            }
            index += count
            return value
        }
    }
}
