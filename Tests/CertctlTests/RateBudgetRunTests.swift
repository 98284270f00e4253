import CertctlTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import CertctlCore

/// The rate budget through the run (README, "When the CA fails"): a restore over one registered
/// domain against the in-process CA keeping Let's Encrypt's kind of limits.
@Suite("The run keeps within its CA's limits", .serialized)
struct RateBudgetRunTests {
    /// A restore's fixture: `count` sites of one registered domain, none with a Secret, the CA and
    /// the issuer keeping `limits` (the issuer's may be looser: another cluster spends the rest).
    static func restore(
        _ kind: StoreKind, count: Int, caLimits: String, issuerLimits: String, clock: Shared<TimeInterval>
    ) async throws -> (RunFixture, TestACMEServer) {
        let port = freeLoopbackPort()
        var behaviour = TestACMEServer.Behaviour()
        behaviour.rateLimits = try RateLimits.parse(caLimits)
        behaviour.now = { Date().addingTimeInterval(clock.value.withLock { $0 }) }
        let server = try await TestACMEServer.start(validationPort: port, behaviour: behaviour)
        let fixture = try await RunFixture.make(
            kind, ingresses: siteIngresses(count), server: server.directoryURL, caBundle: nil, port: port)
        let limits = try RateLimits.parse(issuerLimits)
        let run = fixture.with {
            $0.issuers["pebble"]?.rateLimits = limits
            $0.concurrency = 1
        }.withClock { Date().addingTimeInterval(clock.value.withLock { $0 }) }
        return (run, server)
    }

    /// What `status` shows: the certificates as stored, with the account's ledger.
    static func statuses(_ run: RunFixture, at now: Date) async throws -> [CertificateStatus] {
        let inventory = try await Inventory.load(
            from: run.fixture.store, scope: .all, issuers: run.options.issuers, defaultIssuer: "pebble")
        let ledgers = try #require(run.run.ledgers)
        let (read, notes) = await RateLedgers.read(issuers: run.options.issuers, from: ledgers, now: now)
        #expect(notes.isEmpty, "\(notes)")
        return CertificateStatus.all(in: inventory, issuers: run.options.issuers, ledgers: read, now: now)
    }

    static func limited(_ report: RunReport) -> [String: RateBudget.Deferral] {
        var held: [String: RateBudget.Deferral] = [:]
        for certificate in report.certificates {
            if case .limited(let deferral) = certificate.action.kind { held[certificate.desired.id] = deferral }
        }
        return held
    }

    @Test(
        "a restore of 12 over one registered domain: each run orders what the limits allow, no rateLimited answer, status names when the backlog clears",
        arguments: StoreKind.allCases)
    func restore(kind: StoreKind) async throws {
        let clock = Shared<TimeInterval>(0)
        let limits = "orders=5/3h, domain=4/24h, names=5/168h"
        let (run, server) = try await Self.restore(
            kind, count: 12, caLimits: limits, issuerLimits: limits, clock: clock)
        defer { Task { await run.fixture.stop() } }
        let start = Date()

        let (first, _) = try await run.runOnce()
        #expect(first.certificates.filter { $0.outcome == .issued }.count == 4)
        let held = Self.limited(first)
        #expect(held.count == 8, "\(first.certificates.map { ($0.desired.id, $0.outcome) })")
        #expect(held.values.allSatisfy { $0.limit == .registeredDomain && $0.reason.contains("mybinder.org") })
        #expect(first.warnings.contains { $0.contains("8 due certificates wait for the CA's limits") })
        // The next four can go once the first four leave the day's window, the last four a day later.
        let clears = try #require(held.values.map(\.until).max())
        #expect(abs(clears.timeIntervalSince(start) - 2 * 86_400) < 120, "\(clears)")
        #expect(held.values.filter { $0.until < clears }.count == 4)

        // status, from the stored ledger: the same eight held, until the same time.
        let shown = try await Self.statuses(run, at: Date())
        let backlog = try #require(CertificateStatus.backlog(shown))
        #expect(backlog.count == 8)
        #expect(abs(backlog.clearsAt.timeIntervalSince(clears)) < 120)
        #expect(
            StatusTable.summaryLine(shown).contains("8 certificates wait for the CA's limits; the backlog clears by"))
        let metrics = CertificateMetrics.render(shown, problems: [], run: nil, lastSuccess: nil)
        let series = metrics.split(separator: "\n").filter {
            $0.hasPrefix("certctl_certificate_rate_limited_until_timestamp_seconds{")
        }
        #expect(series.count == 8, "\(metrics)")
        #expect(series.allSatisfy { $0.contains(#"limit="domain""#) })
        let page = StatusPage.render(Overview(certificates: shown), now: Date(), refreshed: Date())
        #expect(
            page.contains("8 certificates wait for the CA&#39;s limits; the backlog clears by")
                || page.contains("8 certificates wait for the CA's limits; the backlog clears by"), "\(page)")
        #expect(page.contains("waits for the CA"))

        // A run before their time asks the CA nothing.
        clock.value.withLock { $0 = 3600 }
        let (early, requests) = try await run.runOnce()
        #expect(requests == 0)
        #expect(Self.limited(early).count == 8)

        clock.value.withLock { $0 = 86_400 + 120 }
        let (second, _) = try await run.runOnce()
        #expect(second.certificates.filter { $0.outcome == .issued }.count == 4)
        #expect(Self.limited(second).count == 4)
        clock.value.withLock { $0 = 2 * 86_400 + 240 }
        let (third, _) = try await run.runOnce()
        #expect(third.certificates.filter { $0.outcome == .issued }.count == 4)
        #expect(Self.limited(third).isEmpty)
        let statuses = await server.orders.map(\.status)
        #expect(statuses == Array(repeating: 201, count: 12), "\(statuses)")
    }

    @Test(
        "Let's Encrypt's own limits: a restore of 300 over one registered domain goes in six weeks of runs, 50 a week, none refused"
    )
    func restoreOf300() async throws {
        let clock = Shared<TimeInterval>(0)
        let limits = "letsencrypt"
        let (fixture, server) = try await Self.restore(
            .local, count: 300, caLimits: "\(RateLimits.letsEncrypt)", issuerLimits: limits, clock: clock)
        let run = fixture.with { $0.concurrency = 8 }
        defer { Task { await run.fixture.stop() } }
        var issued: [String] = []
        var clears: Date?
        for week in 0..<7 {
            clock.value.withLock { $0 = Double(week) * (7 * 86_400 + 60) }
            let (report, _) = try await run.runOnce()
            let now = issued.count
            issued += report.certificates.filter { $0.outcome == .issued }.map(\.desired.id)
            let held = Self.limited(report)
            if week == 0 {
                clears = held.values.map(\.until).max()
                // The backlog clears when the sixth week's fifty can go.
                #expect(held.count == 250)
                let status = try await Self.statuses(run, at: Date())
                // The same time, but for the seconds the run took: the plan counted its orders as
                // sent when it planned, the ledger has them as the CA answered.
                let shown = try #require(CertificateStatus.backlog(status))
                #expect(shown.count == 250)
                #expect(abs(shown.clearsAt.timeIntervalSince(clears ?? .distantPast)) <= 60)
                // Most urgent first: with none held, by name; every one issued sorts before every one held.
                #expect(
                    issued.max() ?? "" < held.keys.min() ?? "~", "\(issued.max() ?? "") vs \(held.keys.min() ?? "")")
            }
            #expect(issued.count - now == (week < 6 ? 50 : 0), "week \(week)")
        }
        #expect(Set(issued).count == 300)
        let week5 = Date().addingTimeInterval(5 * (7 * 86_400 + 60))
        #expect(abs((clears ?? .distantPast).timeIntervalSince(week5)) < 7 * 86_400, "\(String(describing: clears))")
        let statuses = await server.orders.map(\.status)
        #expect(statuses.count == 300 && statuses.allSatisfy { $0 == 201 }, "\(Set(statuses))")
    }

    @Test("concurrent orders exactly at the limit: each order's spending replaces its reservation, none is held")
    func concurrentAtTheLimit() async throws {
        let clock = Shared<TimeInterval>(0)
        let limits = "orders=9/3h, domain=9/24h"
        let (fixture, server) = try await Self.restore(
            .local, count: 9, caLimits: limits, issuerLimits: limits, clock: clock)
        let run = fixture.with { $0.concurrency = 3 }
        defer { Task { await run.fixture.stop() } }
        let (report, _) = try await run.runOnce()
        #expect(report.certificates.allSatisfy { $0.outcome == .issued }, "\(report.certificates.map(\.outcome))")
        #expect(await server.orders.map(\.status) == Array(repeating: 201, count: 9))
        // The ledger holds what was spent, not the reservations beside it: the next order waits.
        let shown = try await Self.statuses(run, at: Date())
        #expect(CertificateStatus.backlog(shown) == nil)
        let ledgers = try #require(run.run.ledgers)
        let issuer = try #require(run.options.issuers["pebble"])
        let stored = RateLedger.decoded(try await ledgers.ledger(for: issuer), now: Date(), limits: issuer.rateLimits)
        #expect(stored.ledger.orders.count == 9)
        #expect(stored.ledger.domains["mybinder.org"]?.count == 9)
    }

    @Test(
        "the CA counts orders this account never made (another cluster): its rateLimited answer holds the rest of the run and the next",
        arguments: StoreKind.allCases)
    func refusalHolds(kind: StoreKind) async throws {
        let clock = Shared<TimeInterval>(0)
        // The CA allows three for the domain; this issuer thinks five.
        let (run, server) = try await Self.restore(
            kind, count: 8, caLimits: "domain=3/24h", issuerLimits: "domain=5/24h", clock: clock)
        defer { Task { await run.fixture.stop() } }

        let (first, _) = try await run.runOnce()
        #expect(first.certificates.filter { $0.outcome == .issued }.count == 3)
        // The fourth was refused; the fifth, admitted by the plan, is not sent after that answer.
        #expect(await server.orders.map(\.status) == [201, 201, 201, 429])
        // Only the refused one failed; the fifth waits, no failure recorded (no CA was asked for it).
        let failed = first.certificates.filter { $0.failureKind == .rateLimited }
        #expect(failed.count == 1, "\(first.certificates.map { ($0.desired.id, $0.outcome) })")
        let held = Self.limited(first)
        #expect(held.count == 4, "three past the issuer's own count, one held by the refusal")
        #expect(first.certificates.filter { held[$0.desired.id] != nil }.allSatisfy { $0.failureCount == 0 })

        clock.value.withLock { $0 = 600 }
        let (second, requests) = try await run.runOnce()
        #expect(requests == 0, "the refusal is in the ledger: nothing is sent before its Retry-After")
        #expect(second.certificates.filter { $0.outcome == .issued }.isEmpty)
        #expect(await server.orders.count == 4)
    }

    @Test("missing certificates past their own issuer's limits go to its fallback in the same run, no order refused")
    func budgetToFallback() async throws {
        let port = freeLoopbackPort()
        var behaviour = TestACMEServer.Behaviour()
        behaviour.rateLimits = try RateLimits.parse("orders=1/3h")
        let ca = try await TestACMEServer.start(validationPort: port, behaviour: behaviour)
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        var issuers = try FallbackRunTests.issuers(primary: ca.directoryURL, pebble: pebble.directoryURL)
        issuers["primary"]?.rateLimits = try RateLimits.parse("orders=1/3h")
        let run = try await FallbackRunTests.chained(
            .local, siteIngresses(3), issuers: issuers, server: pebble.directoryURL, caBundle: Pebble.caBundle,
            port: port)
        defer { Task { await run.fixture.stop() } }

        let (first, _) = try await run.runOnce()
        #expect(first.certificates.allSatisfy { $0.outcome == .issued }, "\(first.certificates.map(\.outcome))")
        #expect(first.certificates.filter { $0.fallbackIssuer == "pebble" }.count == 2)
        #expect(await ca.orders.map(\.status) == [201])
        let byFallback = try #require(first.certificates.first { $0.fallbackIssuer == "pebble" })
        let record = try await FallbackRunTests.record(run, byFallback.desired.secretName)
        #expect(
            record.fallbackReason?.contains("waits for the CA's limit until") == true, "\(record.fallbackReason ?? "")")
    }

    @Test("certctl check's line: what the ledger spent of each limit, replaces-exempt renewals not counted")
    func checkLine() throws {
        let now = Date()
        var ledger = RateLedger()
        for index in 0..<4 {
            ledger.recordOrder(at: now.addingTimeInterval(-Double(index) * 600), replaces: index == 3)
            ledger.recordCertificate(
                names: ["site\(index).mybinder.org"], at: now.addingTimeInterval(-Double(index) * 600),
                replaces: index == 3)
        }
        ledger.recordOrder(at: now.addingTimeInterval(-4 * 3600), replaces: false)
        ledger.recordCertificate(names: ["hub.example.org"], at: now, replaces: false)
        let line = Preflight.spent(
            ledger, try RateLimits.parse("orders=300/3h, domain=50/168h, replaces=exempt"), now: now)
        #expect(
            line
                == "this account: 3 of 300 new orders in the last 3h, 3 of 50 certificates for mybinder.org, the busiest registered domain"
        )
    }

    @Test("a run killed after its plan leaves its orders counted for their hours, never certificates it did not get")
    func reservationsStored() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("certctl-ledger-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let store = LocalOrderStore(stateDirectory: state)
        var issuer = try #require(
            try IssuerLoader.parse(
                RateLimitsTests.issuer(server: "https://ca.example/dir", annotation: "letsencrypt"), source: "le.yaml"
            ).first)
        issuer.rateLimits = .letsEncrypt
        let budgets = RateAccounts(store: store, warnings: RunWarnings(logger: Logger(label: "t")), now: { Date() })
        let candidates = (0..<3).map {
            RateBudget.Candidate(id: "prod/s\($0)", names: ["s\($0).mybinder.org"], replaces: false)
        }
        #expect(await budgets.admit(candidates, issuer: issuer).admitted.count == 3)
        await budgets.save()
        let (stored, _) = RateLedger.decoded(
            try await store.ledger(for: issuer), now: Date(), limits: issuer.rateLimits)
        #expect(stored.orders.count == 3)
        #expect(stored.domains.isEmpty && stored.nameSets.isEmpty)
        // One issued, one failed before ordering: the stored ledger holds what was spent.
        await budgets.spend(.order(replaces: false), certificate: "prod/s0", issuer: issuer)
        await budgets.spend(
            .certificate(names: ["s0.mybinder.org"], replaces: false), certificate: "prod/s0", issuer: issuer)
        await budgets.settle(certificate: "prod/s0", issuer: issuer)
        await budgets.settle(certificate: "prod/s1", issuer: issuer)
        await budgets.save()
        let (after, _) = RateLedger.decoded(try await store.ledger(for: issuer), now: Date(), limits: issuer.rateLimits)
        #expect(after.orders.count == 2, "s0's order, and s2's still reserved")
        #expect(after.domains["mybinder.org"]?.count == 1)
    }

    @Test("most urgent first: no certificate, then inside the safety margin, then the earlier expiry")
    func urgency() {
        let now = Date()
        let missing = RateBudget.Urgency(notAfter: nil, urgent: true, id: "b")
        let margin = RateBudget.Urgency(notAfter: now.addingTimeInterval(86_400 * 5), urgent: true, id: "a")
        let soon = RateBudget.Urgency(notAfter: now.addingTimeInterval(86_400 * 20), urgent: false, id: "c")
        let later = RateBudget.Urgency(notAfter: now.addingTimeInterval(86_400 * 40), urgent: false, id: "a")
        #expect([later, soon, margin, missing].sorted() == [missing, margin, soon, later])
    }
}
