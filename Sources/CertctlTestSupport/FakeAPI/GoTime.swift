import Basics
import Foundation
import Transport

/// The API server's time decoding, with its error texts: Go's `time.Parse` with the layouts
/// `metav1.Time` (`time.RFC3339`) and `metav1.MicroTime` (`RFC3339Micro`) use. `RFC3339` takes
/// any fraction of a second; `RFC3339Micro` exactly six digits, so `.789Z` and `Z` are refused
/// with "cannot parse ".789Z" as ".000000"".
enum GoTime {
    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    static let rfc3339 = "2006-01-02T15:04:05Z07:00"
    static let rfc3339Micro = "2006-01-02T15:04:05.000000Z07:00"

    /// The layout's elements: literal text, or a field with its layout spelling.
    private enum Element {
        case literal(String)
        case year, month, day, hour, minute, second
        case fraction(digits: Int)
        case zone

        var width: Int {
            if case .year = self { 4 } else { 2 }
        }
    }

    private static func elements(_ layout: String) -> [Element] {
        layout == rfc3339Micro
            ? [
                .year, .literal("-"), .month, .literal("-"), .day, .literal("T"), .hour, .literal(":"), .minute,
                .literal(":"), .second, .fraction(digits: 6), .zone,
            ]
            : [
                .year, .literal("-"), .month, .literal("-"), .day, .literal("T"), .hour, .literal(":"), .minute,
                .literal(":"), .second, .zone,
            ]
    }

    private static func spelling(_ element: Element) -> String {
        switch element {
        case .literal(let text): text
        case .year: "2006"
        case .month: "01"
        case .day: "02"
        case .hour: "15"
        case .minute: "04"
        case .second: "05"
        case .fraction(let digits): "." + String(repeating: "0", count: digits)
        case .zone: "Z07:00"
        }
    }

    /// Parses `value` as Go does, or throws Go's message.
    static func parse(_ value: String, layout: String) throws(ParseError) -> Date {
        var rest = Substring(value)
        var fields = [Int](repeating: 0, count: 6)
        var fraction = 0.0
        var offset = 0
        func fail(_ element: Element) -> ParseError {
            ParseError(
                description:
                    "parsing time \(quote(value)) as \(quote(layout)): cannot parse \(quote(String(rest))) as \(quote(spelling(element)))"
            )
        }
        func digits(_ count: Int) -> Int? {
            let prefix = rest.prefix(count)
            guard prefix.count == count, prefix.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            rest = rest.dropFirst(count)
            return Int(prefix)
        }
        func fractionDigits() -> Double? {
            guard rest.first == "." || rest.first == "," else { return nil }
            let digits = rest.dropFirst().prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty else { return nil }
            rest = rest.dropFirst(1 + digits.count)
            return Double("0." + digits) ?? 0
        }
        for element in elements(layout) {
            switch element {
            case .literal(let text):
                guard rest.hasPrefix(text) else { throw fail(element) }
                rest = rest.dropFirst(text.count)
            case .year, .month, .day, .hour, .minute:
                let index = [Element.year, .month, .day, .hour, .minute].firstIndex {
                    spelling($0) == spelling(element)
                }
                guard let number = digits(element.width) else { throw fail(element) }
                fields[index ?? 0] = number
            case .second:
                guard let number = digits(2) else { throw fail(element) }
                fields[5] = number
                // Go reads a fraction the layout does not name (RFC3339 takes ".123").
                if layout == rfc3339, rest.count >= 2, rest.first == "." || rest.first == ",",
                    rest.dropFirst().first?.isNumber == true
                {
                    fraction = fractionDigits() ?? 0
                }
            case .fraction(let count):
                guard rest.count >= count + 1, rest.first == "." || rest.first == ",",
                    rest.dropFirst().prefix(count).allSatisfy({ $0.isASCII && $0.isNumber })
                else { throw fail(element) }
                fraction = Double("0." + rest.dropFirst().prefix(count)) ?? 0
                rest = rest.dropFirst(count + 1)
            case .zone:
                if rest.first == "Z" {
                    rest = rest.dropFirst()
                } else {
                    guard let sign = rest.first, sign == "+" || sign == "-" else { throw fail(element) }
                    let zone = rest.dropFirst()
                    guard zone.count >= 5, zone.dropFirst(2).first == ":",
                        let hours = Int(zone.prefix(2)), let minutes = Int(zone.dropFirst(3).prefix(2))
                    else { throw fail(element) }
                    rest = zone.dropFirst(5)
                    offset = (hours * 3600 + minutes * 60) * (sign == "-" ? -1 : 1)
                }
            }
        }
        guard rest.isEmpty else {
            throw ParseError(description: "parsing time \(quote(value)): extra text: \(quote(String(rest)))")
        }
        let ranges = [("month", 1...12), ("day", 1...31), ("hour", 0...23), ("minute", 0...59), ("second", 0...59)]
        for (index, (name, range)) in ranges.enumerated() where !range.contains(fields[index + 1]) {
            throw ParseError(description: "parsing time \(quote(value)): \(name) out of range")
        }
        let text =
            "\(pad(fields[0], 4))-\(pad(fields[1], 2))-\(pad(fields[2], 2))T\(pad(fields[3], 2)):"
            + "\(pad(fields[4], 2)):\(pad(fields[5], 2))Z"
        guard let date = Timestamp.rfc3339(text) else {
            throw ParseError(description: "parsing time \(quote(value)): day out of range")
        }
        return date.addingTimeInterval(fraction - TimeInterval(offset))
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Go's `%q` for the ASCII these messages hold.
    static func quote(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
