import Foundation
import Testing

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
        #expect(parseRetryAfter(" 0 ", now: now) == now)
        let date = try #require(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now: now))
        #expect(date == Date(timeIntervalSince1970: 1_445_412_480))
        #expect(parseRetryAfter("soon", now: now) == nil)
        #expect(parseRetryAfter("-5", now: now) == nil)
        #expect(parseRetryAfter(nil, now: now) == nil)
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
        #expect(parseRFC3339("2026-01-02T03:04:05Z") == Date(timeIntervalSince1970: 1_767_323_045))
        #expect(parseRFC3339("2026-01-02T03:04:05.123456789Z")?.timeIntervalSince1970 ?? 0 > 1_767_323_045)
        #expect(parseRFC3339("yesterday") == nil)
    }
}
