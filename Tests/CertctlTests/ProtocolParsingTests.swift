import Basics
import Foundation
import Testing
import Transport

@testable import ACME

@Suite("Problem documents and headers")
struct ProtocolParsingTests {
    @Test("a problem with subproblems keeps type, detail, identifiers and status")
    func problemDocument() throws {
        let json = """
            {"type":"urn:ietf:params:acme:error:malformed","detail":"Some of the identifiers requested were rejected","status":400,
             "subproblems":[{"type":"urn:ietf:params:acme:error:malformed","detail":"Invalid underscore in DNS name \\"_example.org\\"",
             "identifier":{"type":"dns","value":"_example.org"}},
             {"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"This CA will not issue for \\"example.net\\"",
             "identifier":{"type":"dns","value":"example.net"}}]}
            """
        let problem = try JSONDecoder().decode(ACMEProblem.self, from: Data(json.utf8))
        #expect(problem.kind == .malformed)
        #expect(problem.status == 400)
        #expect(problem.subproblems?.count == 2)
        #expect(problem.subproblems?[1].identifier == .dns("example.net"))
        #expect(problem.subproblems?[1].type.hasSuffix("rejectedIdentifier") == true)
        let text = problem.description
        #expect(text.contains("_example.org: malformed"))
        #expect(text.contains("example.net: rejectedIdentifier"))
    }

    @Test("problem kinds are matched by type, not by detail")
    func problemKinds() {
        #expect(ACMEProblem(type: "urn:ietf:params:acme:error:badNonce").kind == .badNonce)
        #expect(ACMEProblem(type: "urn:ietf:params:acme:error:rateLimited").kind == .rateLimited)
        #expect(ACMEProblem(type: "urn:ietf:params:acme:error:somethingNew").kind == .other)
        #expect(ACMEProblem(type: "about:blank", detail: "badNonce").kind == .other)
    }

    @Test("Retry-After as delta-seconds and as HTTP-date")
    func retryAfter() throws {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(parseRetryAfter("120", now: now) == now.addingTimeInterval(120))
        let date = try #require(parseRetryAfter("Sun, 19 Nov 2023 22:15:20 GMT", now: now))
        #expect(date == Date(timeIntervalSince1970: 1_700_432_120))
        #expect(parseRetryAfter("soon", now: now) == nil)
        #expect(parseRetryAfter("-5", now: now) == nil)
        #expect(parseRetryAfter(nil, now: now) == nil)
    }

    @Test(
        "Retry-After clamped where it is read: never zero, never past its user's longest wait, never a trap",
        arguments: [
            // header, ACME delay (1 s to 7 days), renewalInfo delay (RFC 9773 §4.3: 1 min to 1 day)
            ("0", 1.0, 60.0),
            (" 0 ", 1, 60),
            ("30", 30, 60),
            ("3600", 3600, 3600),
            ("100000", 100_000, 86_400),
            ("9223372036854775807", 604_800, 86_400),
            ("99999999999999999999999999999", 604_800, 86_400),
            ("Wed, 21 Oct 2015 07:28:00 GMT", 1, 60),  // a date in the past
            ("Fri, 31 Dec 9999 23:59:59 GMT", 604_800, 86_400),
        ] as [(String, Double, Double)])
    func retryAfterBounds(header: String, acme: Double, renewalInfo: Double) {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(RetryAfter.acme.delay(header, now: now) == acme)
        #expect(RetryAfter.renewalInfo.delay(header, now: now) == renewalInfo)
        #expect(parseRetryAfter(header, now: now) == now.addingTimeInterval(acme))
        // What a record stores of it formats without trapping.
        #expect(!Timestamp.rfc3339(now.addingTimeInterval(acme)).isEmpty)
    }

    @Test("Link headers: several links, several headers, quoted rel")
    func links() {
        let links = parseLinks([
            #"<https://ca.test/cert/1/1>;rel="alternate", <https://ca.test/dir>;rel="index""#,
            "<https://ca.test/cert/1/2>; rel=alternate",
        ])
        #expect(links.count == 3)
        #expect(
            links.filter { $0.relations.contains("alternate") }.map(\.url) == [
                "https://ca.test/cert/1/1", "https://ca.test/cert/1/2",
            ])
        #expect(links[1].relations == ["index"])
    }

    @Test("identifiers are lower-cased, de-duplicated, and IPs typed ip")
    func identifiers() {
        let identifiers = ACMEClient.identifiers(for: [
            "Example.org", "example.org.", "www.example.org", "127.0.0.1", "::1",
        ])
        #expect(identifiers == [.dns("example.org"), .dns("www.example.org"), .ip("127.0.0.1"), .ip("::1")])
    }

    @Test("RFC 3339 dates with nanoseconds, as Pebble and Boulder write them")
    func rfc3339() {
        #expect(Timestamp.rfc3339("2026-01-02T03:04:05Z") == Date(timeIntervalSince1970: 1_767_323_045))
        #expect(Timestamp.rfc3339("2026-01-02T03:04:05.123456789Z")?.timeIntervalSince1970 ?? 0 > 1_767_323_045)
        #expect(Timestamp.rfc3339("yesterday") == nil)
    }

    @Test("RFC 3339: offsets, lower case, fractions, and dates that do not exist")
    func rfc3339Forms() throws {
        let base = Date(timeIntervalSince1970: 1_767_323_045)
        #expect(Timestamp.rfc3339("2026-01-02T05:04:05+02:00") == base)
        #expect(Timestamp.rfc3339("2026-01-01T22:34:05-04:30") == base)
        #expect(Timestamp.rfc3339("2026-01-02t03:04:05z") == base)
        let fraction = try #require(Timestamp.rfc3339("2026-01-02T03:04:05.25Z"))
        #expect(abs(fraction.timeIntervalSince(base) - 0.25) < 1e-6)
        for invalid in [
            "2026-02-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-02T24:00:00Z", "2026-01-02T03:04:05",
            "2026-01-02T03:04:05.Z", "2026-01-02T03:04:05Z ", "2026-01-02 03:04:05Z", "2026-1-02T03:04:05Z", "",
        ] {
            #expect(Timestamp.rfc3339(invalid) == nil, "\(invalid)")
        }
        #expect(Timestamp.rfc3339(base) == "2026-01-02T03:04:05Z")
        #expect(Timestamp.rfc3339(base.addingTimeInterval(0.1239), fractionDigits: 3) == "2026-01-02T03:04:05.123Z")
        for seconds in stride(from: -86_400.0 * 365 * 30, through: 86_400 * 365 * 80, by: 86_400 * 7.3) {
            let date = Date(timeIntervalSince1970: seconds.rounded())
            #expect(Timestamp.rfc3339(Timestamp.rfc3339(date)) == date)
        }
    }

    @Test("HTTP-date: IMF-fixdate, RFC 850 and asctime forms; written as IMF-fixdate")
    func httpDate() {
        let date = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(Timestamp.httpDate(date) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(Timestamp.httpDate("Sun, 06 Nov 1994 08:49:37 GMT") == date)
        #expect(Timestamp.httpDate("Sunday, 06-Nov-94 08:49:37 GMT") == date)
        #expect(Timestamp.httpDate("Sun Nov  6 08:49:37 1994") == date)
        for invalid in [
            "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT", "Sun, 31 Feb 1994 08:49:37 GMT", "1994",
            "Sun Oct 12 -26666666666666666:03:0 80", "Sun, 06 Nov 99999999999 08:49:37 GMT",
            "Sun, -6 Nov 1994 08:49:37 GMT", "Sun Nov  6 08:-1:37 1994",
        ] {
            #expect(Timestamp.httpDate(invalid) == nil, "\(invalid)")
        }
    }

    @Test("JSON text: keys in byte order, escapes, numbers, and it parses back to the same value")
    func jsonText() throws {
        let value: [String: Any] = [
            "b": 1, "a": [true, false, NSNull(), 2.5, -3], "Z": "quote\" back\\ slash/ \n\t\u{1}é",
            "nested": ["y": [:] as [String: Any], "x": [] as [Any]], "optional": String?.none as Any,
        ]
        let compact = try JSONText.encode(value)
        #expect(compact.hasPrefix(#"{"Z":"quote\" back\\ slash/ \n\t\u0001é","a":[true,false,null,2.5,-3],"b":1,"#))
        #expect(compact.hasSuffix(#""nested":{"x":[],"y":{}},"optional":null}"#))
        for text in [compact, try JSONText.encode(value, pretty: true)] {
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(parsed["Z"] as? String == "quote\" back\\ slash/ \n\t\u{1}é")
            #expect((parsed["a"] as? [Any])?.count == 5)
            #expect(parsed["b"] as? Int == 1)
        }
        #expect(throws: JSONText.Unencodable.self) { try JSONText.encode(["x": Double.nan]) }
        #expect(throws: JSONText.Unencodable.self) { try JSONText.encode(["x": Date()]) }
    }
}
