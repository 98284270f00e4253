import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Synchronization
import Testing
import Transport

/// Faults: a CA and a network that fail at the worst time. `CERTCTL_FAULT_ORDERS` sets how many
/// orders the soak reaches before it lets the last run through cleanly (30 in the regular tests;
/// `scripts/faults` runs 300), `CERTCTL_FAULT_SEED` replays a sequence of faults.
/// True when the Secret holds a readable, matching pair, valid now: what an ingress can serve.
func isServable(_ secret: Secret) -> Bool {
    let current = CurrentCertificate(secret: secret)
    return current.problems.isEmpty && current.isValid(at: Date())
}

@Suite("Faults: nothing lost, nothing half-written", .serialized)
struct FaultTests {
    static let minimumOrders = Int(ProcessInfo.processInfo.environment["CERTCTL_FAULT_ORDERS"] ?? "") ?? 30
    static let seed =
        UInt64(ProcessInfo.processInfo.environment["CERTCTL_FAULT_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)

    /// Secrets certctl must renew (the operator asked): valid, from another CA, byte-identical
    /// until certctl replaces them with something valid.
    static func seedRenewals(_ count: Int, in store: any ClusterStore) async throws -> [String: Secret] {
        let authority = try TestCertificateAuthority(name: "kube-lego era CA")
        var seeded: [String: Secret] = [:]
        for index in 0..<count {
            let key = try PrivateKey(generating: .ecdsaP256)
            let notBefore = Date().addingTimeInterval(-10 * 86_400)
            let pem = try authority.issuePEM(
                for: key, names: ["site\(index).mybinder.org"], notBefore: notBefore,
                notAfter: notBefore.addingTimeInterval(90 * 86_400))
            let secret = Secret(
                metadata: ObjectMeta(
                    name: "kubelego-tls-site\(index)", namespace: "prod",
                    annotations: ["certctl.io/renew-requested": "true"]),
                type: Secret.tlsType,
                data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]
            )
            seeded[secret.metadata.name!] = try await store.create(secret)
        }
        return seeded
    }

    /// Every Secret present holds a readable, matching, unexpired pair; a seeded one is either
    /// untouched or replaced. Returns how many hold a certificate certctl obtained.
    static func checkSecrets(
        _ store: any ClusterStore, count: Int, seeded: [String: Secret], report: RunReport?
    ) async throws -> Int {
        var obtained = 0
        for index in 0..<count {
            let name = "kubelego-tls-site\(index)"
            guard let secret = try await store.secret(namespace: "prod", name: name) else {
                #expect(seeded[name] == nil, "the seeded Secret \(name) disappeared")
                continue
            }
            let current = CurrentCertificate(secret: secret)
            #expect(current.problems.isEmpty, "\(name): \(current.problems)")
            #expect(current.isValid(at: Date()), "\(name) is not valid")
            if let old = seeded[name], old.data == secret.data {
                // Untouched: if this run tried and failed, it says so on the Secret.
                if let outcome = report?.certificates.first(where: { $0.desired.secretName == name })?.outcome,
                    case .failed = outcome
                {
                    let record = RenewalRecord(annotations: secret.metadata.annotations ?? [:])
                    #expect(record.failureCount > 0 && record.lastFailure != nil, "\(name): failure not recorded")
                }
            } else {
                obtained += 1
            }
        }
        return obtained
    }

    @Test(
        "through a fault-injecting proxy and Pebble rejecting half the nonces, every certificate ends valid or keeps its old Secret"
    )
    func acmeFaults() async throws {
        let port = freeLoopbackPort()
        var pebbleOptions = Pebble.Options()
        pebbleOptions.nonceRejectPercent = 50
        pebbleOptions.authorizationReusePercent = 0
        let pebble = try await Pebble.start(httpPort: port, options: pebbleOptions)
        defer { pebble.stop() }
        let upstream = String(pebble.directoryURL.dropLast("/dir".count))
        let proxy = try await FaultProxy.start(
            upstream: upstream, upstreamTLS: pebble.tls,
            plan: .init(rate: 0.1, slowDelay: .milliseconds(2500), seed: Self.seed))
        let count = 24
        var run = try await RunFixture.make(
            .local, ingresses: siteIngresses(count), server: proxy.url + "/dir", caBundle: proxy.caBundle, port: port)
        let seeded = try await Self.seedRenewals(8, in: run.fixture.store)
        // Each run starts two hours after the last, past the one-hour back-off of a failure.
        let offset = Mutex<TimeInterval>(0)
        run = run.withClock { Date().addingTimeInterval(offset.withLock { $0 }) }

        var runs = 0
        var failures = 0
        while proxy.statistics.ordersAttempted < Self.minimumOrders, runs < 60 {
            let (report, _) = try await run.runOnce { $0.acmeRequestTimeout = .seconds(1) }
            runs += 1
            failures += report.certificates.filter { if case .failed = $0.outcome { true } else { false } }.count
            let obtained = try await Self.checkSecrets(run.fixture.store, count: count, seeded: seeded, report: report)
            offset.withLock { $0 += 7200 }
            // Keep ordering once everything is issued: ask for renewals again.
            if obtained == count {
                for index in 0..<count {
                    guard
                        var secret = try await run.fixture.store.secret(
                            namespace: "prod", name: "kubelego-tls-site\(index)")
                    else { continue }
                    secret.metadata.annotations?["certctl.io/renew-requested"] = "true"
                    _ = try await run.fixture.store.update(secret)
                }
            }
        }
        // The network heals: one clean run leaves every certificate issued and valid.
        proxy.setRate(0)
        offset.withLock { $0 += 7200 }
        let (last, _) = try await run.runOnce()
        let obtained = try await Self.checkSecrets(run.fixture.store, count: count, seeded: seeded, report: last)
        let statistics = proxy.statistics
        print(
            "fault soak (seed \(Self.seed)): \(runs + 1) runs, \(statistics.ordersAttempted) orders, \(statistics.requests) requests, "
                + "\(statistics.faultsInjected) faults injected \(statistics.faults.map { "\($0.key.rawValue) \($0.value)" }.sorted()), "
                + "\(failures) certificate failures recorded, \(count - obtained) certificates lost"
        )
        #expect(obtained == count, "seed \(Self.seed)")
        #expect(statistics.ordersAttempted >= Self.minimumOrders)
        #expect(statistics.faults.count == FaultProxy.Fault.allCases.count, "every kind of fault was injected")
        await proxy.stop()
    }
}

/// What passed between certctl and the CA, read off the proxy: which orders were finalized,
/// which certificates came of them, and, when an order is placed, whether the names' last
/// finalized order had its certificate stored first. A run killed after finalizing must leave
/// the next one to pick that order up, not to order again (Let's Encrypt's duplicate limit).
final class OrderLedger: Sendable {
    struct State {
        /// finalize URL → names, from the orders the CA answered.
        var namesOfFinalize: [String: Set<String>] = [:]
        /// certificate URL → finalize URL.
        var finalizeOfCertificate: [String: String] = [:]
        /// names → the finalize URL of their last finalized order, and the process that sent it.
        var lastFinalized: [Set<String>: (url: String, process: Int)] = [:]
        /// finalize URL → the serial of its certificate, once downloaded.
        var serialOfFinalize: [String: String] = [:]
        var process = 0
        var finalized = 0
        var ordersPlaced = 0
        /// Certificates downloaded by a later process than the one that finalized their order.
        var pickedUp = 0
        var violations: [String] = []
        /// SIGKILL this process when its next finalize has reached the CA.
        var killAtFinalize: Int32?
        var killedAtFinalize = 0
    }

    let state = Mutex(State())
    /// The names' Secret's serial now (read from the fake API server).
    let storedSerial: @Sendable (Set<String>) async -> String?

    init(storedSerial: @escaping @Sendable (Set<String>) async -> String?) {
        self.storedSerial = storedSerial
    }

    static func payload(_ request: ServerRequest) -> [String: Any]? {
        guard let jws = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any],
            let encoded = jws["payload"] as? String, let bytes = Base64URL.decode(encoded), !bytes.isEmpty
        else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
    }

    static func names(_ object: [String: Any]) -> Set<String> {
        Set(((object["identifiers"] as? [[String: Any]]) ?? []).compactMap { $0["value"] as? String })
    }

    var observer: FaultProxy.Observer {
        FaultProxy.Observer(
            request: { request in
                guard request.method == "POST", request.uri == "/order-plz", let payload = Self.payload(request)
                else { return }
                let names = Self.names(payload)
                let last = self.state.withLock { $0.lastFinalized[names] }
                let stored = await self.storedSerial(names)
                self.state.withLock { state in
                    state.ordersPlaced += 1
                    guard let last else { return }
                    let issued = state.serialOfFinalize[last.url]
                    if issued == nil || issued != stored {
                        state.violations.append(
                            "\(names.sorted()) ordered again while its order finalized by run \(last.process) "
                                + (issued == nil
                                    ? "was never downloaded" : "was not stored (stored \(stored ?? "none"))"))
                    }
                }
            },
            response: { request, response in
                let path = request.uri
                let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
                var kill: Int32?
                self.state.withLock { state in
                    if let object, let finalize = object["finalize"] as? String {
                        let path = URL(string: finalize)?.path ?? finalize
                        state.namesOfFinalize[path] = Self.names(object)
                        if let certificate = object["certificate"] as? String {
                            state.finalizeOfCertificate[URL(string: certificate)?.path ?? certificate] = path
                        }
                    }
                    if path.hasPrefix("/finalize-order/"), response.status == 200,
                        let names = state.namesOfFinalize[path]
                    {
                        state.finalized += 1
                        state.lastFinalized[names] = (path, state.process)
                        if let target = state.killAtFinalize {
                            kill = target
                            state.killAtFinalize = nil
                            state.killedAtFinalize += 1
                        }
                    }
                    if path.hasPrefix("/certZ/"), response.status == 200,
                        let finalize = state.finalizeOfCertificate[path],
                        let chain = try? CertificateChain(pem: String(decoding: response.body, as: UTF8.self))
                    {
                        state.serialOfFinalize[finalize] = CertificateSummary(chain.leaf).serialHex
                        if let names = state.namesOfFinalize[finalize],
                            let last = state.lastFinalized[names], last.url == finalize, last.process != state.process
                        {
                            state.pickedUp += 1
                        }
                    }
                }
                // Killed the moment the CA has the CSR, before certctl hears back.
                if let kill { Foundation.kill(kill, SIGKILL) }
            })
    }
}

@Suite("Killed runs: nothing lost, nothing left behind", .serialized)
struct KilledRunTests {
    /// Signals delivered to running processes (scripts/faults: 30).
    static let kills = Int(ProcessInfo.processInfo.environment["CERTCTL_FAULT_KILLS"] ?? "") ?? 10

    /// Watches the Secrets while runs come and go; any invalid Secret at any moment is kept.
    final class Watcher: Sendable {
        let seen = Mutex<[String]>([])
        let reads = Mutex(0)

        func watch(_ client: KubernetesClient) -> Task<Void, Never> {
            Task {
                while !Task.isCancelled {
                    if let secrets = try? await client.list(Secret.self, namespace: "prod") {
                        reads.withLock { $0 += 1 }
                        for secret in secrets where secret.type == Secret.tlsType {
                            if !isServable(secret) {
                                let current = CurrentCertificate(secret: secret)
                                seen.withLock { $0.append("\(current.name): \(current.problems)") }
                            }
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }
    }

    @Test(
        "SIGKILL and SIGTERM at random points of runs: the next run completes, no solver object is left, no Secret is ever invalid"
    )
    func killedAtRandom() async throws {
        let port = freeLoopbackPort()
        var options = Pebble.Options()
        options.authorizationReusePercent = 0
        let pebble = try await Pebble.start(httpPort: port, options: options)
        defer { pebble.stop() }
        let server = try await FakeAPIServer.start()
        let client = fakeClient(server)
        let count = 6
        for site in siteIngresses(count) { _ = try await client.create(site) }
        let ledger = OrderLedger { names in
            guard let host = names.first, names.count == 1, let site = host.split(separator: ".").first,
                let secret = await server.object("v1/secrets", namespace: "prod", name: "kubelego-tls-\(site)"),
                let encoded = (secret["data"] as? [String: String])?["tls.crt"],
                let pem = Data(base64Encoded: encoded),
                let chain = try? CertificateChain(pem: String(decoding: pem, as: UTF8.self))
            else { return nil }
            return CertificateSummary(chain.leaf).serialHex
        }
        // Every request to Pebble passes the ledger (no faults: the kills are the faults here).
        let proxy = try await FaultProxy.start(
            upstream: String(pebble.directoryURL.dropLast("/dir".count)), upstreamTLS: pebble.tls,
            plan: .init(rate: 0, seed: FaultTests.seed), observer: ledger.observer)
        defer { Task { await proxy.stop() } }
        let project = try PodProject.make(server, name: "kills")
        try project.writeIssuer("pebble", server: proxy.url + "/dir", caBundle: proxy.caBundle)
        func start(_ pod: Int) throws -> Process {
            let process = try project.start(
                project.runArguments(
                    issuer: "pebble", port: port, ["--http01-self-check-passes", "0", "--lease-seconds", "2"]),
                pod: "certctl-\(pod)")
            ledger.state.withLock { $0.process = pod }
            return process
        }
        func waitForExit(_ process: Process) async throws {
            while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        }

        let watcher = Watcher()
        let watching = watcher.watch(client)
        var random = SplitMix64(seed: FaultTests.seed)
        var signals: [String: Int] = [:]
        var completed = 0
        var attempts = 0
        while signals.values.reduce(0, +) < Self.kills, attempts < Self.kills * 4 {
            attempts += 1
            // Keep every run busy: ask for each certificate again once it exists.
            for secret in try await client.list(Secret.self, namespace: "prod") where secret.type == Secret.tlsType {
                var requested = secret
                requested.metadata.annotations?["certctl.io/renew-requested"] = "true"
                _ = try? await client.update(requested)
            }
            let process = try start(attempts)
            if attempts % 3 == 1 {
                // Every third run is killed at the worst moment: the CA has the CSR, certctl has
                // not heard back, nothing is stored. The next run must pick that order up.
                ledger.state.withLock { $0.killAtFinalize = process.processIdentifier }
                try await waitForExit(process)
                ledger.state.withLock { $0.killAtFinalize = nil }
                signals["SIGKILL at finalize", default: 0] += 1
                try await Task.sleep(for: .milliseconds(2100))
                continue
            }
            try await Task.sleep(for: .milliseconds(Int(random.next() % 500)))
            guard process.isRunning else {
                completed += 1
                try await waitForExit(process)
                continue
            }
            let killed = signals.values.reduce(0, +) % 2 == 0
            Foundation.kill(process.processIdentifier, killed ? SIGKILL : SIGTERM)
            signals[killed ? "SIGKILL" : "SIGTERM", default: 0] += 1
            try await waitForExit(process)
            // A SIGKILLed run keeps the Lease until it expires (2 s here), as a real one does.
            if killed { try await Task.sleep(for: .milliseconds(2100)) }
        }

        // The Lease of a killed run expires (2 s here); then a run goes through.
        try await Task.sleep(for: .seconds(3))
        let last = try start(attempts + 1)
        try await waitForExit(last)
        watching.cancel()
        _ = await watching.value

        #expect(last.terminationStatus == 0, "the run after the kills completes")
        let secrets = try await client.list(Secret.self, namespace: "prod").filter { $0.type == Secret.tlsType }
        #expect(secrets.count == count)
        for secret in secrets {
            #expect(isServable(secret), "\(secret.metadata.name ?? "")")
        }
        let solverServices = try await client.list(
            Service.self, namespace: "prod", labelSelector: "certctl.io/http01-solver=true")
        let solverIngresses = try await client.list(
            Ingress.self, namespace: "prod", labelSelector: "certctl.io/http01-solver=true")
        #expect(solverServices.isEmpty && solverIngresses.isEmpty, "leftover HTTP-01 objects")
        #expect(try await client.get(Lease.self, namespace: "prod", name: "certctl-run").spec?.holderIdentity == nil)
        let invalid = watcher.seen.withLock { $0 }
        #expect(invalid.isEmpty, "invalid Secrets seen: \(invalid.prefix(5))")
        let orders = ledger.state.withLock { $0 }
        #expect(orders.violations.isEmpty, "\(orders.violations.prefix(5))")
        #expect(orders.killedAtFinalize > 0, "a run was killed right after a finalize")
        #expect(
            orders.pickedUp >= orders.killedAtFinalize,
            "each order finalized by a killed run is downloaded by a later one")
        // Every finalized order's certificate is in its Secret or was replaced by a later one.
        for (names, last) in orders.lastFinalized {
            let stored = await ledger.storedSerial(names)
            #expect(
                orders.serialOfFinalize[last.url] != nil && orders.serialOfFinalize[last.url] == stored,
                "\(names.sorted()): the last finalized order's certificate is stored")
        }
        let sent = signals.keys.sorted().map { "\($0) \(signals[$0]!)" }.joined(separator: ", ")
        let reads = watcher.reads.withLock { $0 }
        print(
            "kill soak (seed \(FaultTests.seed)): \(attempts + 1) runs (\(sent); \(completed) ended before their signal), "
                + "\(reads) reads of the Secrets, \(invalid.count) invalid; \(orders.ordersPlaced) orders placed, "
                + "\(orders.finalized) finalized, \(orders.pickedUp) picked up by a later run, "
                + "\(orders.violations.count) ordered again while finalized"
        )
        await server.stop()
    }
}

@Suite("API server faults on Secret writes and Lease updates", .serialized)
struct APIFaultTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var verb: String
        var collection: String
        /// The status answered; 0: the request is carried out but answered after the client's timeout.
        var status: Int
        var testDescription: String {
            "\(verb) \(collection): \(status == 0 ? "carried out, answered too late" : "HTTP \(status)")"
        }
    }

    static let secrets = "v1/secrets"
    static let leases = "coordination.k8s.io/v1/leases"
    static let cases: [Case] = [
        Case(verb: "patch", collection: secrets, status: 409), Case(verb: "patch", collection: secrets, status: 500),
        Case(verb: "patch", collection: secrets, status: 0), Case(verb: "create", collection: secrets, status: 500),
        Case(verb: "create", collection: secrets, status: 0), Case(verb: "patch", collection: leases, status: 409),
        Case(verb: "patch", collection: leases, status: 500), Case(verb: "patch", collection: leases, status: 0),
    ]

    @Test(
        "a renewal and a first issuance under the fault: no Secret worse than before; the next run completes",
        arguments: cases)
    func fault(_ testCase: Case) async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let offset = Mutex<TimeInterval>(0)
        let run = try await RunFixture.make(
            .kubernetes, ingresses: siteIngresses(2), server: pebble.directoryURL, caBundle: Pebble.caBundle,
            port: port,
            // Below the fake's late answer (3 s), with room for a loaded machine's slow answers.
            apiTimeout: .seconds(2)
        ).withClock { Date().addingTimeInterval(offset.withLock { $0 }) }
        let server = try #require(run.fixture.server)
        let store = run.fixture.store
        defer { Task { await run.fixture.stop() } }
        let (first, _) = try await run.runOnce()
        #expect(first.exitCode(at: Date()) == 0)

        // site0 is to be renewed, site1's Secret was deleted: one update and one create to come.
        var site0 = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        let before = site0.data
        site0.metadata.annotations?["certctl.io/renew-requested"] = "true"
        _ = try await store.update(site0)
        let client = try #require(store as? KubernetesStore).client
        try await client.delete(Secret.self, namespace: "prod", name: "kubelego-tls-site1")

        let logged = await server.requestLog.count
        if testCase.status == 0 {
            await server.answerLate(testCase.verb, collection: testCase.collection)
        } else {
            await server.failNext(testCase.verb, collection: testCase.collection, status: testCase.status)
        }
        do {
            let (report, _) = try await run.runOnce()
            for certificate in report.certificates {
                if case .failed(_, let stillValid) = certificate.outcome,
                    certificate.desired.secretName.hasSuffix("site0")
                {
                    #expect(stillValid, "site0 had a valid certificate")
                }
            }
        } catch {
            // Only the Lease may stop a run before it starts; Secret faults are per certificate.
            #expect(testCase.collection == Self.leases, "run failed: \(error)")
        }
        let hit = await server.requestLog.dropFirst(logged).contains {
            $0.hasPrefix("\(testCase.verb) \(testCase.collection) ")
        }
        #expect(hit, "the run made the faulted request")
        let after = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        #expect(isServable(after), "site0 is never worse")
        if after.data == before, RenewalRecord(annotations: after.metadata.annotations ?? [:]).failureCount > 0 {
            #expect(after.metadata.annotations?["certctl.io/renew-requested"] == "true", "the request is kept")
        }
        if let site1 = try await store.secret(namespace: "prod", name: "kubelego-tls-site1") {
            #expect(isServable(site1))
        }

        // Past any back-off and any Lease left behind, the next run leaves both issued.
        try await Task.sleep(for: FakeAPIServer.lateAnswer)
        offset.withLock { $0 += 7200 }
        let (next, _) = try await run.runOnce()
        #expect(
            next.exitCode(at: Date()) == 0, "\(next.certificates.map { "\($0.desired.secretName): \($0.outcome)" })")
        for name in ["kubelego-tls-site0", "kubelego-tls-site1"] {
            #expect(isServable(try #require(try await store.secret(namespace: "prod", name: name))), "\(name)")
        }
        let renewed = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        #expect(renewed.data != before, "site0 was renewed in the end")
    }
}
