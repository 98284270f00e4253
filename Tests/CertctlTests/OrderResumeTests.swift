import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Synchronization
import Testing
import Transport

/// A store that hands every call to `base`: a test's wrapper writes only the calls it changes.
protocol ForwardingStore: ClusterStore {
    var base: any ClusterStore { get }
}

extension ForwardingStore {
    var name: String { base.name }

    func ingresses(in scope: NamespaceScope) async throws -> (items: [Ingress], problems: [ObjectProblem]) {
        try await base.ingresses(in: scope)
    }

    func tlsSecrets<T: Sendable>(
        in scope: NamespaceScope, keeping: @Sendable (Secret) throws -> T?
    ) async throws -> (items: [T], problems: [ObjectProblem]) {
        try await base.tlsSecrets(in: scope, keeping: keeping)
    }

    func secret(namespace: String, name: String) async throws -> Secret? {
        try await base.secret(namespace: namespace, name: name)
    }

    func create(_ secret: Secret) async throws -> Secret { try await base.create(secret) }

    func patch(_ patch: SecretPatch, namespace: String, name: String) async throws -> Secret {
        try await base.patch(patch, namespace: namespace, name: name)
    }

    func pendingRecord(namespace: String, secretName: String) async throws -> [String: String]? {
        try await base.pendingRecord(namespace: namespace, secretName: secretName)
    }

    func savePendingRecord(_ annotations: [String: String]?, namespace: String, secretName: String) async throws {
        try await base.savePendingRecord(annotations, namespace: namespace, secretName: secretName)
    }

    func deleteSecret(_ secret: Secret) async throws {
        try await base.deleteSecret(secret)
    }
}

/// A store whose Secret writes fail while `failing` is set: a run that gets the certificate
/// and cannot store it, as one killed between the CA's answer and the write.
struct SecretWritesFail: ForwardingStore {
    let base: any ClusterStore
    let failing: Shared<Bool>

    func create(_ secret: Secret) async throws -> Secret {
        try check()
        return try await base.create(secret)
    }

    func patch(_ patch: SecretPatch, namespace: String, name: String) async throws -> Secret {
        try check()
        return try await base.patch(patch, namespace: namespace, name: name)
    }

    func deleteSecret(_ secret: Secret) async throws {
        try check()
        try await base.deleteSecret(secret)
    }

    private func check() throws {
        if failing.value.withLock({ $0 }) { throw CertctlError(.io, object: "test", "the write is refused") }
    }
}

/// A value several tasks and closures share.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}

/// An order store that cannot keep anything.
struct OrdersUnavailable: OrderStore {
    func orders(for issuer: Issuer) async throws -> (orders: [String: OrderInFlight], problems: [String]) { ([:], []) }
    func save(_ order: OrderInFlight, for issuer: Issuer) async throws {
        throw CertctlError(.io, object: "orders", "the store is down")
    }
    func remove(certificate: String, for issuer: Issuer) async throws {}
}

@Suite("An order finalized by a run that did not store it is picked up, not made again", .serialized)
struct OrderResumeTests {
    /// A run over one site against the in-process CA, its ACME actions recorded, its Secret
    /// writes failing while `failing` says so, its clock `offset` ahead.
    struct Setup {
        let server: TestACMEServer
        let fixture: RunFixture
        let run: CertificateRun
        let failing: Shared<Bool>
        let offset: Shared<TimeInterval>

        static func make(_ kind: StoreKind) async throws -> Setup {
            let port = freeLoopbackPort()
            let server = try await TestACMEServer.start(validationPort: port)
            let fixture = try await RunFixture.make(
                kind, ingresses: siteIngresses(1), server: server.directoryURL, caBundle: nil, port: port)
            let failing = Shared<Bool>(false)
            let offset = Shared<TimeInterval>(0)
            var run = fixture.run
            run.store = SecretWritesFail(base: run.store, failing: failing)
            run.now = { Date().addingTimeInterval(offset.value.withLock { $0 }) }
            return Setup(server: server, fixture: fixture, run: run, failing: failing, offset: offset)
        }

        /// Runs once; the report and the ACME actions of that run (the fixture's observer records them).
        func runOnce() async throws -> (RunReport, [String]) {
            fixture.requests.actions.withLock { $0 = [] }
            let report = try await run.run(fixture.options)
            return (report, fixture.requests.actions.withLock { $0 })
        }

        var kept: [String: OrderInFlight] {
            get async throws {
                let issuer = try #require(fixture.options.issuers["pebble"])
                return try await #require(run.orders).orders(for: issuer).orders
            }
        }

        func stop() async {
            await server.stop()
            await fixture.fixture.stop()
        }
    }

    static let id = "prod/kubelego-tls-site0"

    @Test(
        "the Secret write failed after the CA issued: the next run downloads that order's certificate",
        arguments: StoreKind.allCases)
    func resumed(kind: StoreKind) async throws {
        let setup = try await Setup.make(kind)
        setup.failing.value.withLock { $0 = true }
        let (first, firstActions) = try await setup.runOnce()
        guard case .failed = first.certificates.first?.outcome else {
            Issue.record("the first run cannot store: \(first.certificates)")
            return
        }
        #expect(firstActions.filter { $0 == "finalize" }.count == 1)
        let kept = try #require(try await setup.kept[Self.id], "the order is kept before it is finalized")
        #expect(kept.names == ["site0.mybinder.org"])
        if let server = setup.fixture.fixture.server {
            // In a cluster it is a key of the account's Secret, which only the job reads.
            let account = await server.object("v1/secrets", namespace: "certctl", name: "pebble-account")
            let keys = ((account?["data"] as? [String: String]) ?? [:]).keys.sorted()
            #expect(keys.contains("tls.key") && keys.contains { $0.hasPrefix("order-") && $0.hasSuffix(".json") })
        }

        // Past the failure's back-off, with the store back.
        setup.failing.value.withLock { $0 = false }
        setup.offset.value.withLock { $0 = 2 * 3600 }
        let (second, secondActions) = try await setup.runOnce()
        #expect(second.certificates.first?.outcome == .issued, "\(second.certificates)")
        #expect(!secondActions.contains("newOrder"), "\(secondActions)")
        #expect(!secondActions.contains("finalize"))
        #expect(secondActions.contains("certificate"))
        #expect(await setup.server.orders.count == 1, "one order in all")
        let secret = try #require(
            try await setup.fixture.fixture.store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        #expect(isServable(secret))
        let stored = try #require(CurrentCertificate(secret: secret).summary)
        #expect(stored.names == ["site0.mybinder.org"])
        #expect(try await setup.kept.isEmpty, "forgotten once stored")
        await setup.stop()
    }

    @Test("a kept order whose certificate is already stored, or for other names, is forgotten and a new order made")
    func stale() async throws {
        let setup = try await Setup.make(.kubernetes)
        setup.failing.value.withLock { $0 = true }
        _ = try await setup.runOnce()
        let kept = try #require(try await setup.kept[Self.id])
        setup.failing.value.withLock { $0 = false }
        setup.offset.value.withLock { $0 = 2 * 3600 }
        _ = try await setup.runOnce()
        let issuer = try #require(setup.fixture.options.issuers["pebble"])
        let orders = try #require(setup.run.orders)

        // The same order again (a removal that never happened), and the operator asks to renew.
        try await orders.save(kept, for: issuer)
        var secret = try #require(
            try await setup.fixture.fixture.store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        let serial = CurrentCertificate(secret: secret).summary?.serialHex
        secret.metadata.annotations?["certctl.io/renew-requested"] = "true"
        _ = try await setup.fixture.fixture.store.update(secret)
        let (renewed, actions) = try await setup.runOnce()
        #expect(renewed.certificates.first?.outcome == .issued)
        #expect(actions.contains("newOrder"), "the stored order is not stored again: \(actions)")
        #expect(await setup.server.orders.count == 2)
        let after = try #require(
            try await setup.fixture.fixture.store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        #expect(CurrentCertificate(secret: after).summary?.serialHex != serial, "a new certificate")
        #expect(try await setup.kept.isEmpty)

        // An order kept for other names (the Ingress changed since): not picked up.
        var other = kept
        other.names = ["other.mybinder.org"]
        try await orders.save(other, for: issuer)
        var again = after
        again.metadata.annotations?["certctl.io/renew-requested"] = "true"
        _ = try await setup.fixture.fixture.store.update(again)
        let (_, otherActions) = try await setup.runOnce()
        #expect(otherActions.contains("newOrder"))
        #expect(
            !otherActions.contains("pollOrder")
                || otherActions.firstIndex(of: "newOrder")! < otherActions.firstIndex(of: "pollOrder")!)
        #expect(try await setup.kept.isEmpty)
        await setup.stop()
    }

    @Test(
        "a CA that does not answer when the order is picked up: the certificate fails and the order stays kept; no new order"
    )
    func caDownOnResume() async throws {
        let setup = try await Setup.make(.local)
        setup.failing.value.withLock { $0 = true }
        _ = try await setup.runOnce()
        #expect(try await setup.kept[Self.id] != nil)
        await setup.server.stop()
        setup.failing.value.withLock { $0 = false }
        setup.offset.value.withLock { $0 = 2 * 3600 }
        let (second, actions) = try await setup.runOnce()
        guard case .failed = second.certificates.first?.outcome else {
            Issue.record("should fail while the CA is down: \(second.certificates)")
            await setup.stop()
            return
        }
        #expect(!actions.contains("newOrder"), "no order while a finalized one may still give it: \(actions)")
        #expect(try await setup.kept[Self.id] != nil, "kept for the next run")
        await setup.fixture.fixture.stop()
    }

    @Test("an order that cannot be kept first is not finalized", arguments: StoreKind.allCases)
    func notKept(kind: StoreKind) async throws {
        var setup = try await Setup.make(kind)
        var run = setup.run
        run.orders = OrdersUnavailable()
        setup = Setup(
            server: setup.server, fixture: setup.fixture, run: run, failing: setup.failing, offset: setup.offset)
        let (report, actions) = try await setup.runOnce()
        guard case .failed(let failure, _) = report.certificates.first?.outcome, case let message = failure.message
        else {
            Issue.record("the certificate should fail: \(report.certificates)")
            return
        }
        #expect(message.contains("was not finalized"), "\(message)")
        #expect(actions.contains("newOrder") && !actions.contains("finalize"), "\(actions)")
        #expect(try await setup.fixture.fixture.store.secret(namespace: "prod", name: "kubelego-tls-site0") == nil)
        await setup.stop()
    }
}
