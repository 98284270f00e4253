import ACME
import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Logging
import Testing
import Transport

/// The in-process CA keeping Let's Encrypt's limits as Let's Encrypt keeps them (token buckets,
/// Boulder's words), an ACME client against it; and the budget and ledger against that CA.
@Suite("Rate limits at the in-process CA, and the budget against them", .serialized)
struct RateLimitedCATests {
    static let documentation = "https://letsencrypt.org/docs/rate-limits/"

    static func behaviour(_ setting: String) throws -> TestACMEServer.Behaviour {
        var behaviour = TestACMEServer.Behaviour()
        behaviour.rateLimits = try RateLimits.parse(setting)
        return behaviour
    }

    /// The rateLimited refusal `body` must end in.
    static func refusal(_ body: () async throws -> IssuedCertificate) async throws -> ACMEError {
        do {
            _ = try await body()
            Issue.record("the order must be refused, not issued")
            throw CancellationError()
        } catch let error as ACMEError {
            #expect(error.isRateLimited, "\(error)")
            return error
        }
    }

    /// Another account at the same CA on the same clock: another cluster.
    static func otherAccount(_ server: TestACMEServer, clock: TestClock) async throws -> ACMEClient {
        let client = ACMEClient(
            configuration: .init(directoryURL: server.directoryURL), accountKey: try AccountKey(generating: .ecdsaP256),
            transport: CurlTransport(userAgent: "certctl-tests"), clock: clock, now: { clock.date },
            logger: Logger(label: "test"))
        _ = try await client.register()
        return client
    }

    @Test("new orders per account: a bucket that refills one per window/count, refused in Boulder's words")
    func newOrders() async throws {
        try await withRFCServer(try Self.behaviour("orders=3/3h")) { server, client, clock, responder in
            await server.update { $0.now = { clock.date } }
            let start = clock.date
            for index in 0..<3 { _ = try await client.issue("site\(index).example.org", responder: responder) }
            let error = try await Self.refusal { try await client.issue("site3.example.org", responder: responder) }
            let retry = try #require(error.retryAfter)
            // Three spent at once: the next of the bucket's one an hour is an hour after the first.
            #expect(abs(retry.timeIntervalSince(start) - 3600) < 3, "\(retry) vs \(start)")
            let detail = try #require(error.problem?.detail)
            #expect(detail.hasPrefix("too many new orders (3) from this account in the last 3h0m0s, retry after 20"))
            #expect(detail.hasSuffix(" UTC: see \(Self.documentation)#new-orders-per-account"), "\(detail)")
            #expect(RateLedger.limitNamed(in: detail).limit == .newOrders)
            try await clock.sleep(for: .seconds(retry.timeIntervalSince(clock.date) + 1))
            _ = try await client.issue("site3.example.org", responder: responder)
            _ = try await Self.refusal { try await client.issue("site4.example.org", responder: responder) }
            #expect(await server.orders.map(\.status) == [201, 201, 201, 429, 201, 429])
        }
    }

    @Test("certificates per registered domain: every account's count, not a renewal's, refused naming the domain")
    func registeredDomain() async throws {
        try await withRFCServer(try Self.behaviour("domain=2/168h")) { server, client, clock, responder in
            await server.update { $0.now = { clock.date } }
            _ = try await client.issue("a.example.org", responder: responder)
            _ = try await client.issue("b.example.org", responder: responder)
            let error = try await Self.refusal { try await client.issue("c.example.org", responder: responder) }
            let detail = try #require(error.problem?.detail)
            #expect(
                detail.hasPrefix(#"too many certificates (2) already issued for "example.org" in the last 168h0m0s"#))
            #expect(detail.hasSuffix("#new-certificates-per-registered-domain"), "\(detail)")
            #expect(RateLedger.limitNamed(in: detail) == (.registeredDomain, "example.org"))
            let retry = try #require(error.retryAfter)
            #expect(abs(retry.timeIntervalSince(clock.date) - 84 * 3600) < 5)
            // Another domain has its own count; another account shares this one's.
            _ = try await client.issue("hub.example.net", responder: responder)
            let other = try await Self.otherAccount(server, clock: clock)
            _ = try await Self.refusal { try await other.issue("d.example.org", responder: responder) }
            // The same set of names again is a renewal: not counted against its domain.
            _ = try await client.issue("a.example.org", responder: responder)
            #expect(await server.orders.map(\.status) == [201, 201, 429, 201, 429, 201])
        }
    }

    @Test("duplicates: an identical set of names five times a week at most; an ARI renewal exempt where the CA says")
    func nameSets() async throws {
        try await withRFCServer(try Self.behaviour("names=2/168h, replaces=exempt")) {
            server, client, clock, responder in
            await server.update { $0.now = { clock.date } }
            _ = try await client.issue("hub.example.org", responder: responder)
            let second = try await client.issue("hub.example.org", responder: responder)
            let error = try await Self.refusal { try await client.issue("hub.example.org", responder: responder) }
            let detail = try #require(error.problem?.detail)
            #expect(
                detail.hasPrefix(
                    "too many certificates (2) already issued for this exact set of identifiers in the last 168h0m0s"))
            #expect(detail.hasSuffix("#new-certificates-per-exact-set-of-identifiers"), "\(detail)")
            #expect(RateLedger.limitNamed(in: detail).limit == .nameSet)
            let replaces = try #require(CertificateSummary(second.chain.leaf).ariCertificateID)
            let renewed = try await client.issue("hub.example.org", replaces: replaces, responder: responder)
            #expect(await server.orders.last?.replaces == replaces)
            // Where the CA counts `replaces`, the renewal is refused like any order.
            await server.update { $0.rateLimits?.replacesExempt = false }
            let next = try #require(CertificateSummary(renewed.chain.leaf).ariCertificateID)
            _ = try await Self.refusal {
                try await client.issue("hub.example.org", replaces: next, responder: responder)
            }
            #expect(await server.orders.map(\.status) == [201, 201, 429, 201, 429])
        }
    }

    @Test("the older rateLimitedOrders answer still comes first, then the limits")
    func scriptedRefusalFirst() async throws {
        var behaviour = try Self.behaviour("orders=1/3h")
        behaviour.rateLimitedOrders = 1
        try await withRFCServer(behaviour) { server, client, clock, responder in
            await server.update { $0.now = { clock.date } }
            let scripted = try await Self.refusal { try await client.issue("a.example.org", responder: responder) }
            #expect(scripted.problem?.detail == "too many new orders recently")
            _ = try await client.issue("a.example.org", responder: responder)
            _ = try await Self.refusal { try await client.issue("b.example.org", responder: responder) }
            #expect(await server.orders.map(\.status) == [429, 201, 429])
        }
    }

    /// One run as the run's plan and issue stages would: the ledger read from its stored form,
    /// the budget's plan, each admitted candidate ordered and recorded, the ledger stored again.
    /// A refusal is recorded, and what is left of the plan planned again. Returns the ids issued.
    static func run(
        _ candidates: [RateBudget.Candidate], stored: inout Data?, limits: RateLimits, client: ACMEClient,
        clock: TestClock, responder: HTTP01Responder
    ) async throws -> (issued: [String], plan: RateBudget.Plan) {
        var (ledger, warning) = RateLedger.decoded(stored, now: clock.date, limits: limits, object: "Secret acme")
        #expect(warning == nil)
        let plan = RateBudget.plan(limits: limits, ledger: ledger, now: clock.date, candidates: candidates)
        var admitted = plan.admitted
        var issued: [String] = []
        while let id = admitted.first, let candidate = candidates.first(where: { $0.id == id }) {
            admitted.removeFirst()
            do {
                _ = try await client.issue(candidate.names[0], responder: responder)
                ledger.recordOrder(at: clock.date, replaces: false)
                ledger.recordCertificate(names: candidate.names, at: clock.date, replaces: false)
                issued.append(id)
            } catch let error as ACMEError where error.isRateLimited {
                ledger.recordRefusal(
                    detail: error.problem?.detail, retryAfter: error.retryAfter, names: candidate.names,
                    at: clock.date, limits: limits)
                let left = candidates.filter { admitted.contains($0.id) }
                admitted = RateBudget.plan(limits: limits, ledger: ledger, now: clock.date, candidates: left).admitted
            }
        }
        stored = Data(ledger.encoded(now: clock.date, limits: limits).utf8)
        return (issued, plan)
    }

    @Test(
        "a restore of 300 certificates over one registered domain, a run an hour: no rateLimited answer, the most urgent first, done when the first run said",
        .timeLimit(.minutes(5)))
    func restore() async throws {
        var behaviour = TestACMEServer.Behaviour()
        behaviour.rateLimits = .letsEncrypt
        try await withRFCServer(behaviour) { server, client, clock, responder in
            await server.update { $0.now = { clock.date } }
            let candidates = (0..<300).map {
                RateBudget.Candidate(id: "c\($0)", names: ["site\($0).mybinder.org"], replaces: false)
            }
            var stored: Data?
            var issued: [String] = []
            var done: Set<String> = []
            var clears: Date?
            var lastRun = clock.date
            for _ in 0..<1000 where issued.count < candidates.count {
                let pending = candidates.filter { !done.contains($0.id) }
                let start = clock.date
                let (now, plan) = try await Self.run(
                    pending, stored: &stored, limits: .letsEncrypt, client: client, clock: clock, responder: responder)
                clears = clears ?? plan.clearsAt
                if !now.isEmpty { lastRun = start }
                issued += now
                done.formUnion(now)
                try await clock.sleep(for: .seconds(3600))
            }
            #expect(await server.orders.map(\.status) == Array(repeating: 201, count: 300), "no rateLimited answer")
            #expect(issued == candidates.map(\.id), "the most urgent first")
            let said = try #require(clears)
            // Five weeks after the first run, at the first hourly run once the last of a batch left the week.
            #expect(lastRun >= said && lastRun.timeIntervalSince(said) < 6 * 3600, "\(lastRun) vs \(said)")
        }
    }

    @Test("another cluster shares the registered domain: its refusal is recorded and the rest wait as the CA refills")
    func sharedDomain() async throws {
        let limits = try RateLimits.parse("domain=3/168h")
        var behaviour = TestACMEServer.Behaviour()
        behaviour.rateLimits = limits
        try await withRFCServer(behaviour) { server, client, clock, responder in
            await server.update { $0.now = { clock.date } }
            let other = try await Self.otherAccount(server, clock: clock)
            for index in 0..<2 { _ = try await other.issue("other\(index).example.org", responder: responder) }
            let candidates =
                (0..<3).map {
                    RateBudget.Candidate(id: "c\($0)", names: ["site\($0).example.org"], replaces: false)
                } + [RateBudget.Candidate(id: "net", names: ["hub.example.net"], replaces: false)]
            var stored: Data?
            let (first, plan) = try await Self.run(
                candidates, stored: &stored, limits: limits, client: client, clock: clock, responder: responder)
            #expect(plan.admitted == ["c0", "c1", "c2", "net"], "the ledger knows nothing of the other cluster")
            #expect(first == ["c0", "net"], "c1 refused; c2, known to be refused, not sent")
            #expect(await server.orders.map(\.status) == [201, 201, 201, 429, 201])
            // The CA refills one every 56 hours: c1 then, c2 56 hours later; nothing refused again.
            let (_, waiting) = try await Self.run(
                [candidates[1], candidates[2]], stored: &stored, limits: limits, client: client, clock: clock,
                responder: responder)
            #expect(waiting.admitted.isEmpty)
            let times = waiting.deferred.map { $0.until.timeIntervalSince(clock.date) / 3600 }
            #expect(times.count == 2 && abs(times[0] - 56) < 0.1 && abs(times[1] - 112) < 0.1, "\(times)")
            try await clock.sleep(for: .seconds(waiting.deferred[0].until.timeIntervalSince(clock.date)))
            let (second, _) = try await Self.run(
                [candidates[1], candidates[2]], stored: &stored, limits: limits, client: client, clock: clock,
                responder: responder)
            #expect(second == ["c1"])
            try await clock.sleep(for: .seconds(waiting.deferred[1].until.timeIntervalSince(clock.date)))
            let (third, _) = try await Self.run(
                [candidates[2]], stored: &stored, limits: limits, client: client, clock: clock, responder: responder)
            #expect(third == ["c2"])
            #expect(await server.orders.map(\.status) == [201, 201, 201, 429, 201, 201, 201])
        }
    }
}
