import Foundation
import Testing

@testable import CertctlCore

/// The budget's schedule against the plain reading of its rule (at now and at each time a
/// limit frees room, try every waiting candidate, most urgent first), on random restores.
@Suite("The rate budget's schedule is the plain rule, faster")
struct RateBudgetScheduleTests {
    /// The rule as written: every waiting candidate tried at each time the first hold ends.
    static func reference(limits: RateLimits, ledger: RateLedger, now: Date, candidates: [RateBudget.Candidate])
        -> RateBudget.Plan
    {
        var tally = RateBudget.Tally(limits: limits, ledger: ledger)
        var pending = candidates.map { RateBudget.Counted($0, limits: limits) }
        var plan = RateBudget.Plan()
        var holds: [String: RateBudget.Hold] = [:]
        var time = now
        // Passes that admit nothing (a hold ends, another holds on) are passes too: no cap short of that.
        for _ in 0...(100 * candidates.count + 100) {
            var next: Date?
            var waiting: [RateBudget.Counted] = []
            for candidate in pending {
                if let hold = tally.hold(candidate, at: time) {
                    if time == now { holds[candidate.id] = hold }
                    next = min(next ?? hold.until, hold.until)
                    waiting.append(candidate)
                    continue
                }
                tally.admit(candidate, at: time)
                if time == now {
                    plan.admitted.append(candidate.id)
                } else if let hold = holds[candidate.id] {
                    plan.deferred.append(
                        RateBudget.Deferral(
                            id: candidate.id, until: time, limit: hold.limit, reason: tally.reason(hold)))
                }
            }
            pending = waiting
            guard let next, !pending.isEmpty else { break }
            time = next
        }
        let order = Dictionary(uniqueKeysWithValues: candidates.enumerated().map { ($1.id, $0) })
        plan.deferred.sort { order[$0.id, default: 0] < order[$1.id, default: 0] }
        return plan
    }

    /// A deterministic generator, so that a failure names its seed.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("random restores: the same plan as the plain rule", arguments: 1...200)
    func sameAsTheRule(seed: Int) throws {
        var random = Generator(state: UInt64(seed))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let settings = [
            "orders=3/1h", "domain=2/2h", "names=1/3h", "orders=4/1h, domain=2/2h, names=2/3h, replaces=exempt",
            "orders=5/30m, domain=3/1h", "domain=1/1h, names=1/2h, replaces=exempt",
        ]
        let limits = try RateLimits.parse(settings[Int.random(in: 0..<settings.count, using: &random)])
        let domains = ["a.org", "b.org", "c.net", "d.co.uk"]
        func names() -> [String] {
            (0..<Int.random(in: 1...2, using: &random)).map { _ in
                "h\(Int.random(in: 0..<4, using: &random)).\(domains[Int.random(in: 0..<domains.count, using: &random)])"
            }
        }
        var ledger = RateLedger()
        for _ in 0..<Int.random(in: 0...8, using: &random) {
            let at = now.addingTimeInterval(-Double(Int.random(in: 0...10_000, using: &random)))
            let replaces = Bool.random(using: &random)
            ledger.recordOrder(at: at, replaces: replaces)
            ledger.recordCertificate(names: names(), at: at, replaces: replaces)
        }
        if Bool.random(using: &random) {
            let detail = [
                "too many new orders (3)", "too many certificates (2) already issued for \"b.org\"", "slow down",
            ]
            ledger.recordRefusal(
                detail: detail[Int.random(in: 0..<3, using: &random)],
                retryAfter: now.addingTimeInterval(Double(Int.random(in: 60...7200, using: &random))), names: names(),
                at: now, limits: limits)
        }
        let candidates = (0..<Int.random(in: 1...30, using: &random)).map {
            RateBudget.Candidate(id: "c\($0)", names: names(), replaces: Int.random(in: 0..<5, using: &random) == 0)
        }
        let fast = RateBudget.plan(limits: limits, ledger: ledger, now: now, candidates: candidates)
        let plain = Self.reference(limits: limits, ledger: ledger, now: now, candidates: candidates)
        #expect(fast.admitted == plain.admitted, "seed \(seed)")
        #expect(fast.deferred == plain.deferred, "seed \(seed)")
    }
}
