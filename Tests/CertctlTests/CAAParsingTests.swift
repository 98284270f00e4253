import CertctlCore
import DNS
import Testing

/// CAA's wire form (RFC 8659 §4.1) and its issue values (§4.2, RFC 8657) read as strictly as
/// their grammar: what is short, hostile or malformed is an error or grants nothing, never a trap.
@Suite("CAA records and issue values, read strictly")
struct CAAParsingTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("RDATA: flags, tag length, tag, value; written and read back; in zone-file form")
    func rdata() throws {
        let record = CAARecord(flags: 128, tag: "issue", "ca.example.net; accounturi=https://ca/acct/1")
        #expect(
            record.rdata == [128, 5] + Self.bytes("issue") + Self.bytes("ca.example.net; accounturi=https://ca/acct/1"))
        #expect(try CAARecord(rdata: record.rdata) == record)
        #expect(record.isCritical)
        #expect(record.zoneText() == "128 issue \"ca.example.net; accounturi=https://ca/acct/1\"")
        // An empty value is a value (`0 issue ""`); the tag is matched case-insensitively.
        let empty = try CAARecord(rdata: [0, 5] + Self.bytes("ISSUE"))
        #expect(empty.value.isEmpty && empty.normalizedTag == "issue" && !empty.isCritical)
        let dnsRecord = DNSRecord.caa("example.org", record, ttl: 60)
        #expect(dnsRecord.type == .caa && dnsRecord.type.rawValue == 257 && "\(dnsRecord.type)" == "CAA")
        #expect(try dnsRecord.caa() == record)
        #expect(throws: DNSError.self) { try DNSRecord.txt("example.org", "x", ttl: 60).caa() }
    }

    @Test(
        "hostile RDATA is an error naming what is wrong",
        arguments: [
            ([], "0 bytes"), ([0], "1 bytes"), ([0, 0] + Array("ca".utf8), "empty tag"),
            ([0, 6] + Array("issue".utf8), "runs past"), ([0, 255, 0x69], "runs past"),
            ([0, 5] + Array("is-ue".utf8), "letters and digits"), ([0, 3, 0x69, 0x00, 0x69], "letters and digits"),
            ([0, 2, 0xC3, 0xA9], "letters and digits"),
        ] as [([UInt8], String)])
    func hostileRDATA(rdata: [UInt8], words: String) {
        #expect {
            try CAARecord(rdata: rdata)
        } throws: { error in
            (error as? DNSError)?.code == .malformed && "\(error)".contains(words)
        }
    }

    @Test("every cut of a record, and RDATA of random bytes: read or refused, never a trap")
    func truncatedAndRandom() throws {
        let whole = CAARecord(tag: "issuewild", "ca.example.net").rdata
        for length in 0..<whole.count {
            let cut = Array(whole.prefix(length))
            #expect(((try? CAARecord(rdata: cut)) != nil) == (length >= 2 + 9), "a cut of \(length) bytes")
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let count = Int.random(in: 0...40, using: &generator)
            let rdata = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if let record = try? CAARecord(rdata: rdata) {
                #expect(record.rdata == rdata, "what is read writes back the same")
                _ = try? CAAIssueValue(parsing: record.value)
                _ = record.zoneText(limit: 8)
            }
        }
    }

    @Test("a CAA record cut short inside an answer: the message reads, the record is refused")
    func truncatedInsideMessage() throws {
        var answer = DNSMessage(id: 7)
        answer.isResponse = true
        answer.answers = [DNSRecord(name: "example.org", type: .caa, ttl: 60, data: [0, 9] + Self.bytes("iss"))]
        let decoded = try DNSMessage(decoding: answer.encoded())
        let record = try #require(decoded.answers.first)
        #expect {
            try record.caa()
        } throws: { error in
            "\(error)".hasPrefix("example.org: a CAA record whose tag of 9 bytes runs past its 5 bytes")
        }
    }

    @Test("a hostile value reaches a terminal as escaped text, cut at its limit")
    func zoneTextEscapes() {
        let hostile = CAARecord(flags: 0, tag: "issue", value: Self.bytes("a\"b\\c") + [0x1B, 0x0A, 0xFF, 0x7F])
        #expect(hostile.zoneText() == #"0 issue "a\"b\\c\027\010\255\127""#)
        let long = CAARecord(tag: "issue", String(repeating: "x", count: 500))
        #expect(long.zoneText(limit: 10) == "0 issue \"xxxxxxxxxx…\"")
    }

    @Test(
        "issue values by RFC 8659's grammar: the CA, the parameters (tags in any case), white space around them",
        arguments: [
            ("ca.example.net", "ca.example.net", [:]),
            (";", "", [:]),
            ("", "", [:]),
            ("  ca.example.net ;  ", "ca.example.net", [:]),
            (
                "ca.example.net; AccountURI=https://ca/acct/1;\tvalidationmethods=dns-01,http-01",
                "ca.example.net", ["accounturi": "https://ca/acct/1", "validationmethods": "dns-01,http-01"]
            ),
            ("; accounturi=https://ca/acct/1", "", ["accounturi": "https://ca/acct/1"]),
            ("ca.example.net; policy=ev", "ca.example.net", ["policy": "ev"]),
        ] as [(String, String, [String: String])])
    func issueValues(text: String, domain: String, parameters: [String: String]) throws {
        let value = try CAAIssueValue(parsing: Self.bytes(text))
        #expect(value.issuerDomain == domain)
        #expect(Dictionary(uniqueKeysWithValues: value.parameters.map { ($0.tag, $0.value) }) == parameters)
    }

    @Test(
        "malformed issue values are refused, saying why",
        arguments: [
            ("ca.example.net;;", "without \"=\""), ("ca.example.net; a=b;", "without \"=\""),
            ("ca.example.net; accounturi", "without \"=\""), ("ca..example.net", "not a domain name"),
            ("-ca.example.net", "not a domain name"), ("ca.example.net.", "not a domain name"),
            ("ca example.net", "not a domain name"), ("ca.example.net; a=b c", "white space"),
            ("ca.example.net; -a=b", "parameter tag"), ("ca.example.net; a_b=c", "parameter tag"),
            ("ca.example.net; accounturi=x; AccountURI=y", "given twice"),
            ("ca.example.net; a=\u{7F}", "not printable ASCII"), ("ca.exämple.net", "not printable ASCII"),
            (String(repeating: "a", count: 64) + ".net", "not a domain name"),
        ] as [(String, String)])
    func malformedIssueValues(text: String, words: String) {
        #expect {
            try CAAIssueValue(parsing: Self.bytes(text))
        } throws: { error in
            (error as? CAAIssueValue.Malformed)?.reason.contains(words) == true
        }
        #expect(throws: CAAIssueValue.Malformed.self) { try CAAIssueValue(parsing: Self.bytes(text) + [0x00]) }
    }

    @Test("validationmethods: labels separated by commas, else nothing")
    func methods() {
        #expect(CAAIssueValue.methods("dns-01,http-01") == ["dns-01", "http-01"])
        #expect(CAAIssueValue.methods("dns-persist-01") == ["dns-persist-01"])
        for malformed in ["", "dns-01,", ",http-01", "dns-01,,http-01", "-dns", "http-01/x"] {
            #expect(CAAIssueValue.methods(malformed) == nil, "\(malformed)")
        }
    }
}
