import Basics
public import Foundation

/// `Retry-After` (RFC 9110 §10.2.3) as a bounded delay: delta-seconds or an HTTP-date, clamped
/// where it is read to what its user can act on. A server's answer can be anything: `0`, a
/// date in the past, `9223372036854775807`, a year 99999. Unclamped, the first two made polling
/// spin without pause and the last two a `Date` no calendar (nor `time_t`) can hold.
public struct RetryAfter: Sendable, Equatable {
    /// The shortest and longest delay the user of the value accepts.
    public var bounds: ClosedRange<TimeInterval>

    public init(bounds: ClosedRange<TimeInterval>) {
        self.bounds = bounds
    }

    /// ACME polling and `503`/`rateLimited` answers: at least a second, at most a week (Let's
    /// Encrypt's longest rate-limit window; a longer hold is retried then and told again).
    public static let acme = RetryAfter(bounds: 1...(7 * 86_400))

    /// renewalInfo (RFC 9773 §4.3: "clients SHOULD set reasonable limits"; its example is a
    /// minute at least and a day at most).
    public static let renewalInfo = RetryAfter(bounds: 60...86_400)

    /// The delay the header asks for, within ``bounds``; nil when it holds neither form.
    public func delay(_ value: String?, now: Date) -> TimeInterval? {
        guard let text = value?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        let asked: TimeInterval
        if text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            // Digits only: delta-seconds of any length (a Double saturates where an Int traps).
            guard let seconds = Double(text) else { return nil }
            asked = seconds
        } else if let date = Timestamp.httpDate(text) {
            asked = date.timeIntervalSince(now)
        } else {
            return nil
        }
        guard asked.isFinite else { return bounds.upperBound }
        return min(max(asked, bounds.lowerBound), bounds.upperBound)
    }

    /// The moment the header asks to wait for, within ``bounds`` of `now`.
    public func date(_ value: String?, now: Date) -> Date? {
        delay(value, now: now).map { now.addingTimeInterval($0) }
    }
}
