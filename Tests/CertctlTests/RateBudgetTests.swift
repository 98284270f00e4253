import Basics
import CertctlCore
import Foundation
import Testing

/// The budget: what a run orders within its CA's limits, most urgent first, and when the rest
/// can go.
@Suite("The rate budget of a run")
struct RateBudgetTests {
    static let now = Date(timeIntervalSince1970: 1_767_225_600)
    static let hour: TimeInterval = 3600
    static let week: TimeInterval = 7 * 86_400

    static func candidates(_ count: Int, domain: (Int) -> String, replaces: Bool = false) -> [RateBudget.Candidate] {
        (0..<count).map { .init(id: "c\($0)", names: ["site\($0).\(domain($0))"], replaces: replaces) }
    }

    @Test("the 301st new order of a run waits three hours")
    func orders() throws {
        let plan = RateBudget.plan(
            limits: .letsEncrypt, ledger: RateLedger(), now: Self.now,
            candidates: Self.candidates(301) { "example\($0).org" })
        #expect(plan.admitted == (0..<300).map { "c\($0)" })
        #expect(plan.deferred.map(\.id) == ["c300"])
        let deferral = try #require(plan.deferred.first)
        #expect(deferral.limit == .newOrders)
        #expect(deferral.until == Self.now.addingTimeInterval(3 * Self.hour))
        #expect(deferral.reason == "300 new orders per account per 3h")
        #expect(
            deferral.description
                == "waits for the CA's limit until 2026-01-01T03:00:00Z (300 new orders per account per 3h)")
        #expect(plan.clearsAt == Self.now.addingTimeInterval(3 * Self.hour))
    }

    @Test("the 51st certificate of one registered domain waits for the week; other domains go")
    func registeredDomain() {
        var candidates = Self.candidates(51) { _ in "mybinder.org" }
        candidates.append(.init(id: "other", names: ["hub.example.org"], replaces: false))
        let plan = RateBudget.plan(limits: .letsEncrypt, ledger: RateLedger(), now: Self.now, candidates: candidates)
        #expect(plan.admitted == (0..<50).map { "c\($0)" } + ["other"])
        #expect(plan.deferred.map(\.id) == ["c50"])
        #expect(plan.deferred.first?.limit == .registeredDomain)
        #expect(plan.deferred.first?.reason == "50 certificates per registered domain per 168h (mybinder.org)")
        #expect(plan.deferred.first?.until == Self.now.addingTimeInterval(Self.week))
    }

    @Test("the 6th certificate of one set of names waits until the first of the five leaves the week")
    func duplicates() {
        var ledger = RateLedger()
        for day in 1...5 {
            ledger.recordCertificate(
                names: ["www.example.org", "example.org"], at: Self.now.addingTimeInterval(Double(-day) * 86_400),
                replaces: false)
        }
        let candidates: [RateBudget.Candidate] = [
            .init(id: "same", names: ["example.org", "WWW.example.org"], replaces: false),
            .init(id: "other", names: ["example.org"], replaces: false),
        ]
        let plan = RateBudget.plan(limits: .letsEncrypt, ledger: ledger, now: Self.now, candidates: candidates)
        #expect(plan.admitted == ["other"])
        #expect(plan.deferred.map(\.limit) == [.nameSet])
        #expect(plan.deferred.first?.until == Self.now.addingTimeInterval(-5 * 86_400 + Self.week))
    }

    @Test("what the ledger holds counts: 299 orders in the last hours leave one")
    func ledgerCounts() {
        var ledger = RateLedger()
        for minute in 0..<299 {
            ledger.recordOrder(at: Self.now.addingTimeInterval(Double(-minute - 1) * 30), replaces: false)
        }
        let plan = RateBudget.plan(
            limits: .letsEncrypt, ledger: ledger, now: Self.now, candidates: Self.candidates(3) { "e\($0).org" })
        #expect(plan.admitted == ["c0"])
        // The oldest order (299 x 30 s ago) leaves the window first, then the next.
        #expect(
            plan.deferred.map(\.until) == [-299.0, -298.0].map { Self.now.addingTimeInterval($0 * 30 + 3 * Self.hour) })
    }

    @Test("an ARI renewal the CA exempts is counted by no limit; where it does not, it is")
    func replacesExempt() throws {
        let renewals = Self.candidates(60, domain: { _ in "mybinder.org" }, replaces: true)
        let exempt = RateBudget.plan(limits: .letsEncrypt, ledger: RateLedger(), now: Self.now, candidates: renewals)
        #expect(exempt.admitted.count == 60 && exempt.deferred.isEmpty && exempt.clearsAt == nil)
        var counted = RateLimits.letsEncrypt
        counted.replacesExempt = false
        let plan = RateBudget.plan(limits: counted, ledger: RateLedger(), now: Self.now, candidates: renewals)
        #expect(plan.admitted.count == 50 && plan.deferred.count == 10)
        // Exempt renewals in the ledger do not count either.
        var ledger = RateLedger()
        for index in 0..<50 {
            ledger.recordCertificate(names: ["r\(index).mybinder.org"], at: Self.now, replaces: true)
        }
        let after = RateBudget.plan(
            limits: .letsEncrypt, ledger: ledger, now: Self.now, candidates: Self.candidates(1) { _ in "mybinder.org" })
        #expect(after.admitted == ["c0"])
    }

    @Test("a rateLimited answer holds what it concerns until its Retry-After, whatever the counts")
    func refusals() {
        var ledger = RateLedger()
        let retry = Self.now.addingTimeInterval(2 * Self.hour)
        ledger.recordRefusal(
            detail: "too many certificates (50) already issued for \"mybinder.org\" in the last 168h0m0s",
            retryAfter: retry, names: ["hub.mybinder.org"], at: Self.now.addingTimeInterval(-60))
        let candidates: [RateBudget.Candidate] = [
            .init(id: "binder", names: ["gke.mybinder.org"], replaces: false),
            .init(id: "other", names: ["hub.example.org"], replaces: false),
            .init(id: "renewal", names: ["ovh.mybinder.org"], replaces: true),
        ]
        let plan = RateBudget.plan(limits: .letsEncrypt, ledger: ledger, now: Self.now, candidates: candidates)
        #expect(plan.admitted == ["other", "renewal"])
        #expect(plan.deferred.map(\.id) == ["binder"])
        #expect(plan.deferred.first?.until == retry)
        #expect(plan.deferred.first?.reason == "the CA answered rateLimited (domain) for mybinder.org")
        // An account's refusal holds every order not exempt; an unknown one the refused order's
        // names alone, even a renewal of them, and not another name of its domain.
        ledger.recordRefusal(detail: "too many new orders (300)", retryAfter: retry, names: [], at: Self.now)
        ledger.recordRefusal(detail: "slow down", retryAfter: retry, names: ["a.example.net"], at: Self.now)
        let held = RateBudget.plan(
            limits: .letsEncrypt, ledger: ledger, now: Self.now,
            candidates: candidates + [
                .init(id: "net", names: ["a.example.net"], replaces: true),
                .init(id: "sibling", names: ["b.example.net"], replaces: true),
            ])
        #expect(held.admitted == ["renewal", "sibling"])
        #expect(held.deferred.map(\.id) == ["binder", "other", "net"])
        // With no limits kept, the refusals still hold, and exempt nothing.
        let none = RateBudget.plan(limits: .none, ledger: ledger, now: Self.now, candidates: candidates)
        #expect(none.admitted.isEmpty && none.deferred.map(\.id) == ["binder", "other", "renewal"])
    }

    @Test(
        "a restore of 300 over one registered domain: 50 now, the most urgent first, the backlog clears in five weeks")
    func restore() {
        let candidates = Self.candidates(300) { _ in "mybinder.org" }
        let plan = RateBudget.plan(limits: .letsEncrypt, ledger: RateLedger(), now: Self.now, candidates: candidates)
        #expect(plan.admitted == (0..<50).map { "c\($0)" })
        #expect(plan.deferred.map(\.id) == (50..<300).map { "c\($0)" }, "most urgent first")
        for (index, deferral) in plan.deferred.enumerated() {
            let weeks = Double(index / 50 + 1)
            #expect(deferral.until == Self.now.addingTimeInterval(weeks * Self.week), "\(deferral.id)")
        }
        #expect(plan.clearsAt == Self.now.addingTimeInterval(5 * Self.week))
    }

    @Test("no limits: everything goes, nothing waits")
    func none() {
        let plan = RateBudget.plan(
            limits: .none, ledger: RateLedger(), now: Self.now, candidates: Self.candidates(500) { _ in "a.org" })
        #expect(plan.admitted.count == 500 && plan.deferred.isEmpty && plan.clearsAt == nil)
    }

    @Test("a backlog under every limit at once: each projection keeps to every window, in urgency order")
    func projection() throws {
        let limits = try RateLimits.parse("orders=7/1h, domain=5/3h, names=2/6h")
        // Four domains, some names repeated: every limit binds somewhere.
        let candidates = (0..<60).map { index in
            RateBudget.Candidate(id: "c\(index)", names: ["s\(index % 9).d\(index % 4).org"], replaces: false)
        }
        let plan = RateBudget.plan(limits: limits, ledger: RateLedger(), now: Self.now, candidates: candidates)
        var times: [String: Date] = [:]
        for id in plan.admitted { times[id] = Self.now }
        for deferral in plan.deferred { times[deferral.id] = deferral.until }
        #expect(times.count == 60)
        func keepsTo(_ limit: RateLimits.Limit, _ key: (RateBudget.Candidate) -> String) -> Bool {
            let groups = Dictionary(grouping: candidates, by: key)
            return groups.values.allSatisfy { group in
                let sorted = group.compactMap { times[$0.id] }.sorted()
                return sorted.indices.allSatisfy { index in
                    index < limit.count || sorted[index].timeIntervalSince(sorted[index - limit.count]) >= limit.window
                }
            }
        }
        #expect(keepsTo(try #require(limits.newOrders)) { _ in "account" })
        #expect(keepsTo(try #require(limits.registeredDomain)) { RegisteredDomain.limitKey($0.names[0]) })
        #expect(keepsTo(try #require(limits.nameSet)) { $0.names[0] })
        #expect(plan.clearsAt == times.values.max())
    }

    @Test("a refusal fills what the ledger did not see: after its Retry-After one goes every window/count")
    func refusalFills() {
        var ledger = RateLedger()
        for index in 0..<10 {
            ledger.recordCertificate(
                names: ["own\(index).mybinder.org"], at: Self.now.addingTimeInterval(-Self.hour), replaces: false)
        }
        let retry = Self.now.addingTimeInterval(3 * Self.hour)
        ledger.recordRefusal(
            detail: "too many certificates (50) already issued for \"mybinder.org\" in the last 168h0m0s",
            retryAfter: retry, names: ["hub.mybinder.org"], at: Self.now, limits: .letsEncrypt)
        #expect(ledger.domains["mybinder.org"]?.count == 50, "40 added to the 10 seen")
        #expect(ledger.domains["mybinder.org"]?.allSatisfy { $0.at <= Self.now } == true, "none in the future")
        let plan = RateBudget.plan(
            limits: .letsEncrypt, ledger: ledger, now: Self.now, candidates: Self.candidates(3) { _ in "mybinder.org" })
        #expect(plan.admitted.isEmpty)
        let refill = 7 * 86_400 / 50.0
        #expect(
            plan.deferred.map(\.until) == [
                retry, retry.addingTimeInterval(refill), retry.addingTimeInterval(2 * refill),
            ])
        #expect(plan.deferred.first?.reason == "the CA answered rateLimited (domain) for mybinder.org")
        #expect(plan.deferred.last?.reason == "the CA answered rateLimited (domain) for mybinder.org")
        // Without the issuer's limits, the refusal only holds.
        var bare = RateLedger()
        bare.recordRefusal(detail: "too many new orders (300)", retryAfter: retry, names: [], at: Self.now)
        #expect(bare.eventCount == 0 && bare.refusals.count == 1)
    }
}
