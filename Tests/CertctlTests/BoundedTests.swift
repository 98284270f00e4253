import ACME
import Basics
import CertctlCore
import Foundation
import Kubernetes
import Testing
import Transport

/// Basics' one place for outside values: each conversion saturates or refuses (README,
/// "Hostile values"), and the four values that used to stop every run now do not.
@Suite("Bounded conversions of outside values")
struct BoundedTests {
    @Test(
        "floating point to Int saturates, NaN is 0, a range holds it",
        arguments: [
            (3.9, 3), (-3.9, -3), (1e300, Int.max), (-1e300, Int.min), (.infinity, Int.max),
            (-.infinity, Int.min), (.nan, 0), (9.3e18, Int.max),
        ] as [(Double, Int)])
    func int(_ value: Double, _ expected: Int) {
        #expect(Bounded.int(value) == expected)
        #expect(Bounded.int(value, in: -5...5) == min(max(expected, -5), 5) || value.isNaN)
    }

    @Test("a duration is held to zero ... ten years")
    func duration() {
        #expect(Bounded.duration(seconds: 1.5) == .milliseconds(1500))
        #expect(Bounded.duration(seconds: -1) == .zero)
        #expect(Bounded.duration(seconds: .nan) == .zero)
        #expect(Bounded.duration(seconds: 1e300) == .seconds(315_576_000))
        #expect(Bounded.duration(seconds: .infinity) == .seconds(315_576_000))
        #expect(Bounded.duration(seconds: 9.3e18) == .seconds(315_576_000))
    }

    @Test("a time is held to years 1 to 9999 and formats without trapping")
    func time() {
        let far = Bounded.date(secondsSince1970: Int.max)
        #expect(far == Bounded.latestDate)
        #expect(Timestamp.rfc3339(far) == "9999-12-31T23:59:59Z")
        #expect(Timestamp.rfc3339(Date(timeIntervalSince1970: 9.3e18)) == "9999-12-31T23:59:59Z")
        #expect(Timestamp.rfc3339(Date(timeIntervalSince1970: -9.3e18)) == "0001-01-01T00:00:00Z")
        #expect(Timestamp.minute(Date(timeIntervalSince1970: .nan)) == "1970-01-01 00:00")
        #expect(Timestamp.httpDate(Date(timeIntervalSince1970: .infinity)) == "Fri, 31 Dec 9999 23:59:59 GMT")
        #expect(Timestamp.httpDate("Sunday, 06-Nov-9223372036854775807 08:49:37 GMT") == nil)
    }

    @Test(
        "counts are decimal digits and saturate; integers refuse what lies outside their range",
        arguments: [
            ("3", 3), ("0", 0), ("9223372036854775807", 1_000_000), ("99999999999999999999999", 1_000_000),
            ("-1", nil), ("", nil), ("1.5", nil), ("٣", nil), ("+3", nil), (" 3", nil),
        ] as [(String, Int?)])
    func count(_ text: String, _ expected: Int?) {
        #expect(Bounded.count(text) == expected)
    }

    @Test("integers in a range")
    func integer() {
        #expect(Bounded.integer("42", in: 1...99) == 42)
        #expect(Bounded.integer("-3", in: -5...5) == -3)
        #expect(Bounded.integer("100", in: 1...99) == nil)
        #expect(Bounded.integer("99999999999999999999999", in: 0...Int.max) == nil)
        #expect(Bounded.integer("-", in: -5...5) == nil)
        #expect(Bounded.integer("4e2", in: 0...1000) == nil)
    }

    @Test(
        "Go durations: as cert-manager writes them, refused past ten years",
        arguments: [
            ("720h", .seconds(2_592_000)), ("1h30m", .seconds(5400)), ("90s", .seconds(90)), ("500ms", .seconds(0.5)),
            ("-1h", .seconds(-3600)), ("0", .seconds(0)), ("87660h", .seconds(315_576_000)),
            ("87661h", .tooLong), ("999999999999999999999h", .tooLong), ("1e400h", .malformed),
            ("", .malformed), ("10d", .malformed), ("h", .malformed), ("NaNh", .malformed), ("infh", .malformed),
            (String(repeating: "1h", count: 40_000), .tooLong),
        ] as [(String, Bounded.DurationReading)])
    func goDuration(_ text: String, _ expected: Bounded.DurationReading) {
        #expect(Bounded.goDuration(text) == expected, "\(text.prefix(40))")
    }

    @Test("a message quotes a long value in a line")
    func quoted() {
        let long = Bounded.quoted(String(repeating: "9", count: 65_536))
        #expect(long.count < 100)
        #expect(long.hasSuffix("(65536 bytes)"))
        #expect(Bounded.quoted("a\nb") == "\"a?b\"")
    }

    // The members of the class that stopped runs (issue: a tenant's value stops every renewal).

    @Test("renew-before of 999999999999999999999h is refused for its object, and a duration formats")
    func renewBefore() throws {
        switch CertificateSettings.read(
            ["cert-manager.io/renew-before": "999999999999999999999h"], hosts: ["a.example.org"])
        {
        case .success: Issue.record("a renew-before past ten years was taken")
        case .failure(let problem):
            #expect(problem.annotation == "cert-manager.io/renew-before")
            #expect(problem.message.contains("is longer than ten years"), "\(problem.message)")
        }
        #expect(StatusTable.duration(1e300).hasSuffix("h"))
        #expect(StatusTable.duration(.nan) == "0m")
        #expect(StatusTable.duration(-.infinity).hasPrefix("expired"))
    }

    @Test("a record's failure-count of Int.max saturates, and one more failure does not trap")
    func failureCount() {
        let record = RenewalRecord(annotations: ["certctl.io/failure-count": "9223372036854775807"])
        #expect(record.failureCount == Bounded.largestCount)
        let failed = RecordPolicy.afterFailure(record, message: "x", retryAfter: nil, now: Date())
        #expect(failed.failureCount == Bounded.largestCount)
        #expect(RenewalRecord(annotations: ["certctl.io/failure-count": "-4"]).failureCount == 0)
    }

    @Test("a dns-persist-01 record's persistUntil of Int.max reads and formats")
    func persistUntil() throws {
        let record = try #require(
            DNSPersistRecord(
                parsing: "letsencrypt.org; accounturi=https://ca/acct/1; persistUntil=9223372036854775807"))
        #expect(record.persistUntil == Int.max)
        var annotations: [String: String] = [:]
        var stored = RenewalRecord()
        stored.dnsPersistUntil = Bounded.date(secondsSince1970: record.persistUntil ?? 0)
        stored.apply(to: &annotations)
        #expect(annotations["certctl.io/dns-persist-until"] == "9999-12-31T23:59:59Z")
    }

    @Test("a schedule that runs once in a leap year's February runs a year apart at best")
    func schedule() throws {
        let schedule = try CronSchedule(parsing: "0 0 29 2 *")
        let before = try #require(Timestamp.rfc3339("2027-12-01T00:00:00Z"))
        let interval = try #require(schedule.longestInterval(from: before))
        #expect(interval > 300 * 86_400, "\(interval)")
        let never = try CronSchedule(parsing: "0 0 30 2 *")
        #expect(never.longestInterval(from: before) == nil)
    }

    @Test("a cron step past the field's range is the field's first value; a YAML -Int.min stays text")
    func stepsAndSigns() throws {
        let schedule = try CronSchedule(parsing: "* * */9223372036854775807 * *")
        let start = try #require(Timestamp.rfc3339("2027-01-01T00:00:00Z"))
        #expect(schedule.longestInterval(from: start) != nil)
        #expect(throws: (any Error).self) { try CronSchedule(parsing: "*/99999999999999999999 * * * *") }
        #expect(YAMLText.resolve(plain: "-0x-8000000000000000") as? Int == nil)
        #expect(YAMLText.resolve(plain: "-0x10") as? Int == -16)
    }

    @Test("text from outside printed to a terminal loses its escape sequences and line breaks")
    func printable() {
        #expect(Bounded.printable("ok\u{1B}[2J\nnext\u{9B}x") == "ok?[2J?next?x")
        let table = TextTable.render([["A", "B"], ["\u{1B}]0;title\u{07}", "x"]])
        #expect(!table.contains("\u{1B}"))
    }

    @Test("one Character of 64 KB: cut in messages, and a dns-persist-01 zone line made of 255-byte strings")
    func hugeCharacter() {
        let huge = "a" + String(repeating: "\u{301}", count: 30_000)
        #expect(huge.count == 1, "one Character")
        #expect(Bounded.quoted(huge).utf8.count < 400)
        let record = DNSPersistRecord(issuerDomainName: huge, accountURI: "https://ca/acct/1")
        let line = record.zoneLine(for: "example.org")
        #expect(line.hasPrefix("_validation-persist.example.org. IN TXT \""))
        #expect(line.utf8.count > 60_000, "all of it, in strings of at most 255 bytes")
    }
}
