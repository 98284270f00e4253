import ACME
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Logging
import Synchronization
import Testing
import Transport

@testable import CertctlCore

/// The cluster as the issue stage sees it, each read it makes counted. It has no write to
/// count: `ClusterReader` has none, so a write from the issue stage does not compile.
final class CountingReader: ClusterReader {
    let base: any ClusterStore
    let reads = Mutex<[String]>([])

    init(_ base: any ClusterStore) { self.base = base }

    var name: String { base.name }

    func ingresses(in scope: NamespaceScope) async throws -> (items: [Ingress], problems: [ObjectProblem]) {
        reads.withLock { $0.append("ingresses") }
        return try await base.ingresses(in: scope)
    }

    func tlsSecrets<T: Sendable>(in scope: NamespaceScope, keeping: @Sendable (Secret) throws -> T?) async throws
        -> (items: [T], problems: [ObjectProblem])
    {
        reads.withLock { $0.append("tlsSecrets") }
        return try await base.tlsSecrets(in: scope, keeping: keeping)
    }

    func secret(namespace: String, name: String) async throws -> Secret? {
        reads.withLock { $0.append("secret \(namespace)/\(name)") }
        return try await base.secret(namespace: namespace, name: name)
    }

    func pendingRecord(namespace: String, secretName: String) async throws -> [String: String]? {
        reads.withLock { $0.append("pending \(namespace)/\(secretName)") }
        return try await base.pendingRecord(namespace: namespace, secretName: secretName)
    }
}

/// The store stage's kept-order writes as the issue stage asks for them, recorded.
final class RecordingKeptOrders: KeptOrderWriter {
    let kept = Mutex<[String]>([])
    let forgotten = Mutex<[String]>([])
    var keepsOrders: Bool { true }

    func keep(_ order: OrderInFlight, for issuer: Issuer) async throws {
        kept.withLock { $0.append(order.certificate) }
    }

    func forget(_ certificate: String, issuer: Issuer) async {
        forgotten.withLock { $0.append(certificate) }
    }
}

@Suite("The run's stages one at a time", .serialized)
struct StageTests {
    let logger = Logger(label: "stage-test")

    /// An issuer of the in-process CA, and the inventory of `sites` Ingresses read from `store`.
    func prepare(_ store: any ClusterStore, ca: TestACMEServer) async throws -> (Issuer, Inventory) {
        let yaml = """
            kind: ClusterIssuer
            metadata: {name: test-ca}
            spec: {acme: {server: \(ca.directoryURL), privateKeySecretRef: {name: test-ca-account}}}
            """
        let issuer = try #require(try IssuerLoader.parse(yaml, source: "issuers/test-ca.yaml").first)
        let inventory = try await Inventory.load(
            from: store, scope: .all, issuers: ["test-ca": issuer], defaultIssuer: "test-ca")
        return (issuer, inventory)
    }

    /// The issue stage over every entry, its results by certificate; `reader` the cluster it sees.
    func issue(
        _ inventory: Inventory, issuer: Issuer, reader: CountingReader, kept: RecordingKeptOrders, port: Int,
        state: String
    ) async throws -> [String: IssuanceResult] {
        let now = Date()
        let due = inventory.entries.map {
            (
                $0,
                RenewalPlan.decide(
                    desired: $0.desired, current: $0.current, pending: $0.pending, profile: nil, now: now)
            )
        }
        var options = CertificateRun.Options(
            scope: .all, issuers: ["test-ca": issuer], defaultIssuer: "test-ca",
            http01Listen: ListenAddress(host: "127.0.0.1", port: port))
        options.concurrency = 2
        let keeper = LockKeeper(FileRunLock(stateDirectory: state), logger: logger, now: { Date() })
        defer { Task { await keeper.stop() } }
        let place = AccountPlace.local(state: state)
        let issuance = Issuance(
            reader: reader, accounts: place.accounts, secrets: place.secrets, orders: place.orders, keptOrders: kept,
            transport: CurlTransport(userAgent: "certctl-tests"), logger: logger, warnings: RunWarnings(logger: logger),
            observer: { _ in }, progress: nil, now: { Date() }, options: options, keeper: keeper,
            budgets: RateAccounts(store: nil, warnings: RunWarnings(logger: logger), now: { Date() }))
        let results = Mutex<[String: IssuanceResult]>([:])
        let setup = HTTP01Setup(
            listen: options.http01Listen, route: .direct, transport: CurlTransport(userAgent: "t"), logger: logger)
        _ = try await HTTP01Session.with(setup) { http01 in
            await issuance.run(due, http01: http01) { entry, action, result in
                results.withLock { $0[entry.desired.id] = result }
                return CertificateReport(entry, action, .planned)
            }
        }
        return results.withLock { $0 }
    }

    @Test("issue: values from the in-process CA, orders kept through the store stage, nothing in the cluster")
    func issueWritesNothing() async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let fixture = try await StoreFixture.make(.local, ingresses: siteIngresses(3))
        defer { Task { await fixture.stop() } }
        let (issuer, inventory) = try await prepare(fixture.store, ca: ca)
        let reader = CountingReader(fixture.store)
        let kept = RecordingKeptOrders()
        let results = try await issue(
            inventory, issuer: issuer, reader: reader, kept: kept, port: port,
            state: fixture.directory.appendingPathComponent("state").path)

        #expect(results.count == 3)
        for (id, result) in results {
            guard case .issued(let value) = result else {
                Issue.record("\(id): \(result)")
                continue
            }
            let summary = CertificateSummary(value.certificate.chain.leaf)
            let site = id.replacingOccurrences(of: "prod/kubelego-tls-", with: "")
            #expect(summary.dnsNames == ["\(site).mybinder.org"])
            #expect(value.account?.hasPrefix(ca.directoryURL.replacingOccurrences(of: "/dir", with: "")) == true)
            #expect(value.keptOrder, "kept before finalize, as a run killed then picks it up")
        }
        #expect(kept.kept.withLock { $0.sorted() } == results.keys.sorted(), "each order kept by the store stage")
        #expect(kept.forgotten.withLock { $0.isEmpty }, "forgetting a stored order is the store stage's, after")
        #expect(reader.reads.withLock { $0.isEmpty }, "keys are new: no Secret read: \(reader.reads.withLock { $0 })")
        #expect(try await fixture.store.tlsSecrets(in: .all).items.isEmpty, "no Secret written")
        for entry in inventory.entries {
            #expect(
                try await fixture.store.pendingRecord(namespace: "prod", secretName: entry.desired.secretName) == nil)
        }
    }

    @Test(
        "store: what the issue stage returned, and a failure, written and returned as stored",
        arguments: StoreKind.allCases)
    func store(kind: StoreKind) async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let fixture = try await StoreFixture.make(kind, ingresses: siteIngresses(2))
        defer { Task { await fixture.stop() } }
        let (issuer, inventory) = try await prepare(fixture.store, ca: ca)
        let state = fixture.directory.appendingPathComponent("state").path
        let results = try await issue(
            inventory, issuer: issuer, reader: CountingReader(fixture.store), kept: RecordingKeptOrders(), port: port,
            state: state)
        let storage = CertificateStorage(
            store: fixture.store, orders: LocalOrderStore(stateDirectory: state), issuers: ["test-ca": issuer],
            warnings: RunWarnings(logger: logger), logger: logger, now: { Date() })
        let issued = try #require(inventory.entries.first { $0.desired.secretName == "kubelego-tls-site0" })
        let failing = try #require(inventory.entries.first { $0.desired.secretName == "kubelego-tls-site1" })
        let action = RenewalPlan.decide(desired: issued.desired, current: nil, pending: nil, profile: nil, now: Date())

        guard case .issued(let value) = try #require(results[issued.desired.id]) else {
            Issue.record("site0 was not issued: \(String(describing: results[issued.desired.id]))")
            return
        }
        let (report, entry) = await storage.store(issued, action, .issued(value))
        #expect(report.outcome == .issued)
        let serial = CertificateSummary(value.certificate.chain.leaf).serialHex
        #expect(entry.current?.summary?.serialHex == serial, "the entry as stored")
        let secret = try #require(try await fixture.store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        #expect(CurrentCertificate(secret: secret).summary?.serialHex == serial)
        #expect(CurrentCertificate(secret: secret).keyMatches)
        let record = RenewalRecord(annotations: secret.metadata.annotations ?? [:])
        #expect(record.issuer == "test-ca")
        #expect(record.account == value.account)

        let failure = CertificateFailure(ACMEError(.transport, "the CA did not answer"))
        let (failed, after) = await storage.store(failing, action, .failed(failure))
        #expect(failed.outcome == .failed(failure, stillValid: false))
        #expect(failed.failureKind == .caUnreachable)
        #expect(after.pending?.failureCount == 1, "returned as stored")
        let pending = try #require(
            try await fixture.store.pendingRecord(namespace: "prod", secretName: "kubelego-tls-site1"))
        let stored = RenewalRecord(annotations: pending)
        #expect(stored.failureCount == 1)
        #expect(stored.lastFailureKind == .caUnreachable)
        #expect(stored.nextAttempt != nil, "the back-off holds")
        #expect(try await fixture.store.secret(namespace: "prod", name: "kubelego-tls-site1") == nil)
    }
}
