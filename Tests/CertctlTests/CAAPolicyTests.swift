import CertctlCore
import DNS
import Synchronization
import Testing

/// Whether a CA may issue under a CAA set, as RFC 8659 §4 and RFC 8657 say a CA decides, and
/// how the set is found (§3): the table of cases, and a scripted server for what BIND does not
/// do (a CNAME loop, SERVFAIL, a resolver that answers the CNAME alone).
@Suite("CAA: the relevant set and the decision")
struct CAAPolicyTests {
    static let facts = CAAIssuerFacts(
        issuer: "le", directory: "https://ca/dir", identities: ["letsencrypt.org"], account: "https://ca/acct/1")

    static func set(_ records: [String], at owner: String = "example.org", name: String = "www.example.org")
        -> CAASet
    {
        let parsed = records.map { text -> CAARecord in
            let parts = text.split(separator: " ", maxSplits: 2).map(String.init)
            return CAARecord(flags: UInt8(parts[0]) ?? 0, tag: parts[1], parts[2])
        }
        return CAASet(name: name, node: owner, owner: owner, records: parsed)
    }

    @Test(
        "the decision table: what grants, what refuses, what cannot be known here",
        arguments: [
            ([], false, "http-01", CAAFinding.Verdict.allowed, "no CAA record at www.example.org or its parents"),
            (["0 issue letsencrypt.org"], false, "http-01", .allowed, "allowed by CAA at example.org (parent of"),
            (["0 issue pki.goog"], false, "http-01", .forbidden, "another CA (this issuer's is letsencrypt.org)"),
            (["0 issue ;"], false, "http-01", .forbidden, "it lets no CA issue"),
            (["0 issue LetsEncrypt.org"], false, "http-01", .forbidden, "which the CA writes letsencrypt.org"),
            (["0 issue letsencrypt.org; accounturi=https://ca/acct/1"], false, "http-01", .allowed, "allowed by"),
            (
                ["0 issue letsencrypt.org; accounturi=https://ca/acct/2"], false, "http-01", .forbidden,
                "another account (issuer le's is https://ca/acct/1)"
            ),
            (["0 issue letsencrypt.org; validationmethods=dns-01"], false, "http-01", .forbidden, "dns-01 only"),
            (["0 issue letsencrypt.org; validationmethods=http-01,dns-01"], false, "http-01", .allowed, "allowed"),
            (["0 issue letsencrypt.org; validationmethods=http-01,"], false, "http-01", .forbidden, "not a list"),
            (["0 issue letsencrypt.org; validationmethods=http-01"], false, nil, .forbidden, "no solver"),
            (["0 issue letsencrypt.org;;"], false, "http-01", .forbidden, "malformed"),
            (["0 issue pki.goog", "0 issue letsencrypt.org"], false, "http-01", .allowed, "allowed by"),
            (
                ["0 issuewild pki.goog", "0 iodef mailto:x@example.org"], false, "http-01", .allowed,
                "no issue property"
            ),
            (["0 issue letsencrypt.org", "0 issuewild pki.goog"], true, "dns-01", .forbidden, "0 issuewild"),
            (["0 issue pki.goog", "0 issuewild letsencrypt.org"], true, "dns-01", .allowed, "0 issuewild"),
            (["0 issue letsencrypt.org"], true, "dns-01", .allowed, "0 issue"),
            (["0 issue letsencrypt.org", "128 tbs unknown"], false, "http-01", .forbidden, "is critical"),
            (["0 issue letsencrypt.org", "0 tbs unknown"], false, "http-01", .allowed, "allowed"),
            (["128 issue letsencrypt.org", "128 IODEF mailto:x@example.org"], false, "http-01", .allowed, "allowed"),
        ] as [([String], Bool, String?, CAAFinding.Verdict, String)])
    func table(records: [String], wildcard: Bool, method: String?, verdict: CAAFinding.Verdict, words: String) {
        let set =
            records.isEmpty
            ? CAASet(name: "www.example.org", node: nil, owner: nil, records: []) : Self.set(records)
        let finding = CAAPolicy.evaluate(set, wildcard: wildcard, method: method, facts: Self.facts)
        #expect(finding.verdict == verdict, "\(finding.message)")
        #expect(finding.message.contains(words), "\(finding.message)")
    }

    @Test("forbidden says what to add and where; an account not registered yet or a CA without identities: unchecked")
    func advice() {
        let forbidden = CAAPolicy.evaluate(
            Self.set(["0 issue pki.goog"]), wildcard: false, method: "http-01", facts: Self.facts)
        #expect(
            forbidden.message
                == "forbidden by CAA at example.org (parent of www.example.org): 0 issue \"pki.goog\": another CA (this issuer's is letsencrypt.org); add 0 issue \"letsencrypt.org; accounturi=https://ca/acct/1\" at example.org (certctl caa-record prints the records)"
        )
        var fresh = Self.facts
        fresh.account = nil
        let pinned = CAAPolicy.evaluate(
            Self.set(["0 issue letsencrypt.org; accounturi=https://ca/acct/9"]), wildcard: false, method: "http-01",
            facts: fresh)
        #expect(pinned.verdict == .unchecked)
        #expect(pinned.message.contains("issuer le has no account yet"), "\(pinned.message)")
        var silent = Self.facts
        silent.identities = []
        let unlisted = CAAPolicy.evaluate(
            Self.set(["0 issue letsencrypt.org"]), wildcard: false, method: "http-01", facts: silent)
        #expect(unlisted.verdict == .unchecked)
        #expect(unlisted.message.contains("https://ca/dir lists no caaIdentities"), "\(unlisted.message)")
        // Without records a CA's identity does not matter: any CA may issue.
        let none = CAAPolicy.evaluate(
            CAASet(name: "www.example.org", node: nil, owner: nil, records: []), wildcard: false, method: nil,
            facts: silent)
        #expect(none.verdict == .allowed)
        let unreadable = CAAPolicy.evaluate(
            CAASet(
                name: "x.example.org", node: "x.example.org", owner: "x.example.org", records: [], unreadable: ["y"]),
            wildcard: false, method: "http-01", facts: Self.facts)
        #expect(unreadable.verdict == .forbidden && unreadable.message.contains("cannot be read (y)"))
        let many = CAAPolicy.evaluate(
            Self.set((1...9).map { "0 issue ca\($0).example" }), wildcard: false, method: "http-01", facts: Self.facts)
        #expect(many.message.contains("; and 5 more;"), "\(many.message)")
    }

    /// A DNS server answering from a table (`name` to its answer records, or an RCODE), which
    /// counts the queries.
    final class Script: Sendable {
        let answers: [String: [DNSRecord]]
        let failing: [String: DNSResponseCode]
        let asked = Mutex<[String]>([])

        init(_ answers: [String: [DNSRecord]], failing: [String: DNSResponseCode] = [:]) {
            self.answers = answers
            self.failing = failing
        }

        var lookup: CAALookup {
            CAALookup(server: "scripted") { (name: String) async throws(DNSError) -> DNSMessage in
                self.asked.withLock { $0.append(name) }
                var message = DNSMessage(id: 1)
                message.isResponse = true
                message.rcode = self.failing[name] ?? (self.answers[name] == nil ? .nxDomain : .noError)
                message.answers = self.answers[name] ?? []
                return message
            }
        }

        var queries: [String] { asked.withLock { $0 } }
    }

    static func cname(_ name: String, _ target: String) -> DNSRecord {
        var record = DNSRecord(name: name, type: .cname, ttl: 60, data: [])
        record.dataName = target
        return record
    }

    static func caa(_ name: String, _ value: String, tag: String = "issue") -> DNSRecord {
        DNSRecord.caa(name, CAARecord(tag: tag, value), ttl: 60)
    }

    @Test("a CNAME answered alone is followed; a target without records climbs the name's parents, not the target's")
    func cnames() async throws {
        let script = Script([
            "www.a.example": [Self.cname("www.a.example", "edge.cdn.example")],
            "edge.cdn.example": [Self.caa("edge.cdn.example", "letsencrypt.org")],
            "api.a.example": [Self.cname("api.a.example", "none.cdn.example")],
            "none.cdn.example": [],
            "a.example": [Self.caa("a.example", "pki.goog")],
            "cdn.example": [Self.caa("cdn.example", "letsencrypt.org")],
        ])
        let followed = try await script.lookup.relevantSet(for: "www.a.example")
        #expect(followed.owner == "edge.cdn.example" && followed.node == "www.a.example")
        #expect(followed.place == "CAA at edge.cdn.example (CNAME target of www.a.example)")
        let lookup = script.lookup
        let climbed = try await lookup.relevantSet(for: "api.a.example")
        #expect(climbed.place == "CAA at a.example (parent of api.a.example)")
        #expect(climbed.records.map { String(decoding: $0.value, as: UTF8.self) } == ["pki.goog"])
        #expect(!script.queries.contains("cdn.example"), "the target's parent is not asked: \(script.queries)")
        // Names that share a parent ask for it once.
        _ = try await lookup.relevantSet(for: "*.a.example")
        #expect(script.queries.filter { $0 == "a.example" }.count == 1, "\(script.queries)")
    }

    @Test("a CNAME loop ends after a few hops, and a server that fails is an error naming its RCODE")
    func failures() async throws {
        let loop = Script([
            "a.example": [Self.cname("a.example", "b.example")], "b.example": [Self.cname("b.example", "a.example")],
        ])
        await #expect {
            try await loop.lookup.relevantSet(for: "a.example")
        } throws: { error in
            "\(error)".contains("more than \(CAALookup.maximumCNAMEs) CNAMEs from a.example")
        }
        #expect(loop.queries.count <= CAALookup.maximumCNAMEs + 1, "\(loop.queries)")
        let inAnswer = Script([
            "a.example": [Self.cname("a.example", "b.example"), Self.cname("b.example", "a.example")]
        ])
        await #expect(throws: DNSError.self) { try await inAnswer.lookup.relevantSet(for: "a.example") }
        let failing = Script(["www.example": []], failing: ["example": DNSResponseCode(rawValue: 2)])
        await #expect {
            try await failing.lookup.relevantSet(for: "www.example")
        } throws: { error in
            "\(error)" == "scripted answered SERVFAIL for the CAA records of example"
        }
    }

    @Test("a set with a record that cannot be read: named, and it forbids")
    func unreadable() async throws {
        let script = Script([
            "www.example": [
                Self.caa("www.example", "letsencrypt.org"),
                DNSRecord(name: "www.example", type: .caa, ttl: 60, data: [0, 40, 0x69]),
            ]
        ])
        let set = try await script.lookup.relevantSet(for: "www.example")
        #expect(set.records.count == 1 && set.unreadable.count == 1)
        let finding = CAAPolicy.evaluate(set, wildcard: false, method: "http-01", facts: Self.facts)
        #expect(finding.verdict == .forbidden)
        #expect(finding.message.contains("a CAA record whose tag of 40 bytes runs past its 3 bytes"))
    }
}
