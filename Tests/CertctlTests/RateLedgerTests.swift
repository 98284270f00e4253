import Basics
import CertctlCore
import Foundation
import Testing

/// The account's ledger of orders, certificates and `rateLimited` answers: recorded, pruned to
/// the limits, stored compactly and read back from a Secret anyone may have written.
@Suite("The rate ledger kept with the account")
struct RateLedgerTests {
    static let now = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

    @Test("orders and certificates are recorded by registered domain and name set, oldest first")
    func records() {
        var ledger = RateLedger()
        ledger.recordOrder(at: Self.now, replaces: false)
        ledger.recordOrder(at: Self.now.addingTimeInterval(-60), replaces: true)
        ledger.recordCertificate(
            names: ["hub.mybinder.org", "*.mybinder.org", "a.example.co.uk"], at: Self.now, replaces: false)
        #expect(ledger.orders.map(\.at) == [Self.now.addingTimeInterval(-60), Self.now])
        #expect(ledger.orders.map(\.replaces) == [true, false])
        #expect(Set(ledger.domains.keys) == ["mybinder.org", "example.co.uk"])
        #expect(ledger.domains["mybinder.org"]?.count == 1, "one certificate counts once per registered domain")
        let key = RateLedger.nameSetKey(["hub.mybinder.org", "*.mybinder.org", "a.example.co.uk"])
        #expect(ledger.nameSets.keys.sorted() == [key])
        #expect(ledger.eventCount == 5)
    }

    @Test("a name set is the same whatever the order, case or trailing dot; another set is another key")
    func nameSetKey() {
        let key = RateLedger.nameSetKey(["www.example.org", "example.org"])
        #expect(RateLedger.nameSetKey(["Example.ORG.", "www.example.org", "example.org"]) == key)
        #expect(key.count == 24 && key.allSatisfy(\.isHexDigit))
        #expect(RateLedger.nameSetKey(["example.org"]) != key)
        #expect(RateLedger.nameSetKey(["*.example.org", "www.example.org"]) != key)
    }

    @Test("pruning keeps each limit's window, the newest count of a key with and without replaces, live refusals")
    func prunes() {
        var ledger = RateLedger()
        for hour in 0..<10 {
            ledger.recordOrder(at: Self.now.addingTimeInterval(Double(-hour) * 3600), replaces: false)
        }
        for day in 0..<9 {
            let at = Self.now.addingTimeInterval(Double(-day) * 86_400)
            ledger.recordCertificate(names: ["site\(day).example.org"], at: at, replaces: day % 2 == 0)
        }
        ledger.recordRefusal(
            detail: nil, retryAfter: Self.now.addingTimeInterval(-1), names: ["a.example.net"], at: Self.now)
        ledger.recordRefusal(
            detail: nil, retryAfter: Self.now.addingTimeInterval(60), names: ["b.example.net"], at: Self.now)
        let limits = try! RateLimits.parse("orders=300/3h, domain=2/168h, names=5/168h")
        ledger.prune(now: Self.now, limits: limits)
        // Orders of the last 3 hours: 0, 1 and 2 hours ago.
        #expect(ledger.orders.count == 3)
        // The domain's certificates of the week (days 0-6), the newest two of each kind.
        let days = (ledger.domains["example.org"] ?? []).map { Int(Self.now.timeIntervalSince($0.at) / 86_400) }
        // Without replaces: days 1, 3, 5 in the window, the newest two kept; with: 0, 2, 4, 6, likewise.
        #expect(days == [3, 2, 1, 0], "\(days)")
        #expect(ledger.nameSets.count == 7, "each set's one certificate of the week")
        #expect(ledger.refusals.map(\.keys) == [[RateLedger.nameSetKey(["b.example.net"])]])
        var none = ledger
        none.prune(now: Self.now, limits: .none)
        #expect(none.eventCount == 0 && none.refusals.count == 1, "no limit kept: only the live refusal stays")
    }

    @Test(
        "a rateLimited detail names its limit as Let's Encrypt words it",
        arguments: [
            (
                "too many new orders (300) from this account in the last 3h0m0s, retry after 2026-01-01 03:00:00 UTC: "
                    + "see https://letsencrypt.org/docs/rate-limits/#new-orders-per-account", RateLimitKind.newOrders,
                nil
            ),
            (
                "too many certificates (50) already issued for \"example.org\" in the last 168h0m0s, retry after "
                    + "2026-01-08 00:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-registered-domain",
                .registeredDomain, "example.org"
            ),
            (
                "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, "
                    + "retry after 2026-01-08 00:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers",
                .nameSet, nil
            ),
            (
                "Error creating new order :: too many certificates already issued for exact set of domains: example.org",
                .nameSet, nil
            ),
            ("Error creating new cert :: Too many certificates already issued for: ovh.net", .registeredDomain, nil),
            ("slow down", .unknown, nil),
        ] as [(String, RateLimitKind, String?)])
    func limitNamed(_ detail: String, _ kind: RateLimitKind, _ domain: String?) {
        let named = RateLedger.limitNamed(in: detail)
        #expect(named.limit == kind)
        #expect(named.domain == domain)
    }

    @Test("a refusal holds what it concerns until its Retry-After, an hour without one")
    func refusals() {
        var ledger = RateLedger()
        let later = Self.now.addingTimeInterval(7200)
        let domainDetail = "too many certificates (50) already issued for \"mybinder.org\" in the last 168h0m0s"
        ledger.recordRefusal(detail: domainDetail, retryAfter: later, names: ["hub.mybinder.org"], at: Self.now)
        ledger.recordRefusal(
            detail: "too many new orders (300)", retryAfter: later, names: ["a.example.org"], at: Self.now)
        ledger.recordRefusal(
            detail: "already issued for this exact set of identifiers", retryAfter: nil, names: ["a.example.org"],
            at: Self.now)
        ledger.recordRefusal(
            detail: "slow down", retryAfter: nil, names: ["x.example.net", "y.example.com"], at: Self.now)
        #expect(ledger.refusals.map(\.limit) == [.registeredDomain, .newOrders, .nameSet, .unknown])
        #expect(
            ledger.refusals.map(\.keys) == [
                ["mybinder.org"], [], [RateLedger.nameSetKey(["a.example.org"])],
                [RateLedger.nameSetKey(["x.example.net", "y.example.com"])],
            ])
        #expect(
            ledger.refusals.map(\.until) == [
                later, later, Self.now.addingTimeInterval(3600), Self.now.addingTimeInterval(3600),
            ])
    }

    @Test("stored compactly and read back the same, pruned")
    func roundTrip() throws {
        var ledger = RateLedger()
        ledger.recordOrder(at: Self.now.addingTimeInterval(-10), replaces: false)
        ledger.recordOrder(at: Self.now.addingTimeInterval(-5), replaces: true)
        ledger.recordCertificate(names: ["hub.mybinder.org"], at: Self.now.addingTimeInterval(-5), replaces: true)
        ledger.recordRefusal(
            detail: "too many new orders", retryAfter: Self.now.addingTimeInterval(60), names: [], at: Self.now)
        let text = ledger.encoded(now: Self.now, limits: .letsEncrypt)
        #expect(RateLedger.secretKey == "rate-ledger.json")
        #expect(!text.contains("\n") && !text.contains(" "), "compact: \(text)")
        #expect(text.contains(#""orders":[[1767225590,0],[1767225595,1]]"#), "\(text)")
        #expect(text.contains(#""version":1"#))
        let (read, warning) = RateLedger.decoded(Data(text.utf8), now: Self.now, limits: .letsEncrypt)
        #expect(warning == nil)
        #expect(read == ledger)
        // A week later every event has left its window; the refusal ended long before.
        let (later, _) = RateLedger.decoded(
            Data(text.utf8), now: Self.now.addingTimeInterval(8 * 86_400), limits: .letsEncrypt)
        #expect(later.eventCount == 0 && later.refusals.isEmpty)
        #expect(RateLedger.decoded(nil, now: Self.now, limits: .letsEncrypt) == (RateLedger(), nil))
    }

    @Test(
        "an unreadable ledger is an empty one and a warning naming the Secret",
        arguments: [
            ("{", "is not a ledger certctl wrote"),
            ("[]", "is not a ledger certctl wrote"),
            (#"{"version":1,"orders":[[1e300,0]]}"#, "is not a ledger certctl wrote"),
            (#"{"version":1,"orders":[[99999999999999999999999,0]]}"#, "is not a ledger certctl wrote"),
            (#"{"version":1,"orders":[["now",0]]}"#, "is not a ledger certctl wrote"),
            (#"{"version":2}"#, "is version 2, which this certctl does not read"),
            (String(repeating: " ", count: (1 << 20) + 1), "more than a ledger can be"),
        ])
    func unreadable(_ text: String, _ expected: String) {
        let (ledger, warning) = RateLedger.decoded(
            Data(text.utf8), now: Self.now, limits: .letsEncrypt, object: "Secret certctl/letsencrypt-account")
        #expect(ledger == RateLedger())
        let said = warning ?? ""
        #expect(said.hasPrefix("Secret certctl/letsencrypt-account rate-ledger.json"), "\(said)")
        #expect(said.contains(expected), "\(said)")
        #expect(said.contains("starting an empty ledger"), "\(said)")
        #expect(said.utf8.count < 400)
    }

    @Test("times from outside are held: an event from the future counts as now, a refusal holds a week at most")
    func heldTimes() {
        let text = """
            {"version":1,"orders":[[9223372036854775807,0],[-9223372036854775807,0]],
             "refusals":[{"at":0,"until":9223372036854775807,"limit":"orders","keys":[]},
                         {"at":0,"until":1767229200,"limit":"made-up","keys":["example.org"]}]}
            """
        let (ledger, warning) = RateLedger.decoded(Data(text.utf8), now: Self.now, limits: .letsEncrypt)
        #expect(warning == nil)
        #expect(ledger.orders.map(\.at) == [Self.now], "the far past left the window; the far future is now")
        #expect(
            ledger.refusals.map(\.until) == [
                Self.now.addingTimeInterval(7 * 86_400), Self.now.addingTimeInterval(3600),
            ])
        #expect(ledger.refusals.map(\.limit) == [.newOrders, .unknown])
    }

    @Test("bounded: keys no certctl writes and events past the cap are dropped, said in the warning")
    func bounded() throws {
        let long = String(repeating: "a", count: 400)
        let events = (0..<60_000).map { "[\(1_767_225_600 - $0),0]" }.joined(separator: ",")
        let text = #"{"version":1,"domains":{"\#(long)":[[1767225600,0]],"":[[1767225600,0]]},"orders":[\#(events)]}"#
        #expect(text.utf8.count < RateLedger.maximumBytes)
        let limits = try RateLimits.parse("orders=1000000/168h")
        let (ledger, warning) = RateLedger.decoded(Data(text.utf8), now: Self.now, limits: limits, object: "Secret s")
        #expect(ledger.domains.isEmpty)
        #expect(ledger.orders.count == RateLedger.maximumEvents)
        #expect(
            ledger.orders.first?.at == Self.now.addingTimeInterval(-Double(RateLedger.maximumEvents - 1)),
            "the newest kept")
        let said = try #require(warning)
        #expect(said.contains("2 entries with keys no certctl writes were dropped"), "\(said)")
        #expect(said.contains("it held 60000 events, more than 50000: the oldest were dropped"), "\(said)")
    }

    @Test("at most 1000 refusals are kept, the latest-ending")
    func refusalCap() {
        var ledger = RateLedger()
        for index in 0...RateLedger.maximumRefusals {
            let until = Self.now.addingTimeInterval(Double(index + 1) * 60)
            ledger.recordRefusal(detail: nil, retryAfter: until, names: ["s\(index).example.org"], at: Self.now)
        }
        #expect(ledger.refusals.count == RateLedger.maximumRefusals)
        #expect(ledger.refusals.map(\.until).min() == Self.now.addingTimeInterval(120), "the first-ending one dropped")
    }

    @Test("a ledger of 20,000 certificates in distinct domains is stored within its share of the Secret, newest kept")
    func boundedInBytes() {
        var ledger = RateLedger()
        for index in 0..<20_000 {
            ledger.recordCertificate(
                names: ["www.site\(index).example-registered-domain-\(index).org"],
                at: Self.now.addingTimeInterval(-Double(20_000 - index)), replaces: false)
        }
        let text = ledger.encoded(now: Self.now, limits: .letsEncrypt)
        #expect(text.utf8.count <= RateLedger.maximumStoredBytes)
        let (read, warning) = RateLedger.decoded(Data(text.utf8), now: Self.now, limits: .letsEncrypt)
        #expect(warning == nil)
        #expect(read.domains.count > 1000)
        // The newest were kept.
        #expect(read.domains["example-registered-domain-19999.org"] != nil)
        #expect(read.domains["example-registered-domain-0.org"] == nil)
    }
}
