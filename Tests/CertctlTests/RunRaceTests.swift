import CertctlCore
import CertctlTestSupport
import Foundation
import Kubernetes
import Logging
import Synchronization
import Testing
import Transport

/// A store whose first list of Secrets answers with what it held, and runs `meanwhile` (another
/// whole run) before answering: the run reading through it plans from a read that is stale by
/// the time it takes the lock.
struct StaleFirstRead: ForwardingStore {
    let base: any ClusterStore
    let meanwhile: @Sendable () async throws -> Void
    let listed: Shared<Bool>

    func tlsSecrets<T: Sendable>(
        in scope: NamespaceScope, keeping: @Sendable (Secret) throws -> T?
    ) async throws -> (items: [T], problems: [ObjectProblem]) {
        let read = try await base.tlsSecrets(in: scope, keeping: keeping)
        let first = listed.value.withLock { listed in
            defer { listed = true }
            return !listed
        }
        if first { try await meanwhile() }
        return read
    }
}

@Suite("Two runs that meet", .serialized)
struct RunRaceTests {
    @Test(
        "run B reads before run A stores and locks after A released: B reads again under its lock and orders nothing"
    )
    func planUnderTheLock() async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let first = try await RunFixture.make(
            .local, ingresses: siteIngresses(2), server: ca.directoryURL, caBundle: nil, port: port)
        defer { Task { await first.fixture.stop() } }
        // Both certificates due: the operator asked for them (`certctl renew`).
        let seeded = try await FaultTests.seedRenewals(2, in: first.fixture.store)
        let state = first.fixture.directory.appendingPathComponent("state").path
        let reportA = Shared<RunReport?>(nil)
        let store = StaleFirstRead(
            base: first.fixture.store,
            meanwhile: {
                let report = try await first.run.run(first.options)
                reportA.value.withLock { $0 = report }
            }, listed: Shared(false))
        // B: the same state directory (the same lock file), reading through the stale store.
        let second = CertificateRun.local(
            store: store, state: state, transport: CurlTransport(userAgent: "certctl-tests"),
            logger: Logger(label: "run-b"))
        let reportB = try await second.run(first.options)

        let a = try #require(reportA.value.withLock { $0 })
        #expect(a.certificates.filter { $0.outcome == .issued }.count == 2, "A issued both")
        #expect(reportB.certificates.filter { $0.outcome == .issued }.isEmpty, "B ordered nothing: \(reportB)")
        #expect(await ca.orders.count == 2, "one order per certificate, not two")
        for (name, before) in seeded {
            let now = try #require(try await first.fixture.store.secret(namespace: "prod", name: name))
            #expect(now.data?["tls.crt"] != before.data?["tls.crt"], "\(name) renewed once, by A")
        }
    }
}
