import ACME
import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Logging
import Synchronization
import Testing
import Transport

/// A run wired for tests: local directory or fake API server, against a given ACME server.
struct RunFixture {
    let fixture: StoreFixture
    let run: CertificateRun
    let options: CertificateRun.Options
    let requests: RequestCount
    /// The issuer's YAML, as a file in `issuers/` would hold it.
    let issuerYAML: String

    static func make(
        _ kind: StoreKind,
        ingresses: [Ingress],
        server: String,
        caBundle: [UInt8]?,
        port: Int,
        apiTimeout: Duration? = nil,
        profile: String? = nil,
        solvers: [String] = [],
        http01: ((KubernetesClient) -> HTTP01Setup.Route)? = nil
    ) async throws -> RunFixture {
        let fixture = try await StoreFixture.make(kind, ingresses: ingresses, apiTimeout: apiTimeout)
        // `solvers`: each a flow-style YAML mapping of `spec.acme.solvers[]`.
        let yaml = """
            kind: ClusterIssuer
            metadata: {name: pebble}
            spec:
              acme:
                server: \(server)
                privateKeySecretRef: {name: pebble-account}
            \(caBundle.map { "    caBundle: \(Data($0).base64EncodedString())" } ?? "")
            \(profile.map { "    profile: \($0)" } ?? "")
            \(solvers.isEmpty ? "" : "    solvers:\n" + solvers.map { "      - \($0)" }.joined(separator: "\n"))
            """
        let issuer = try #require(try IssuerLoader.parse(yaml, source: "issuers/pebble.yaml").first)
        let state = fixture.directory.appendingPathComponent("state").path
        let logger = Logger(label: "run-test")
        let transport = CurlTransport(userAgent: "certctl-tests")
        let counter = RequestCount()
        var run: CertificateRun
        if fixture.server != nil, case let store as KubernetesStore = fixture.store {
            let pod = PodEnvironment(name: nil, labels: [:], identity: "test-\(UUID().uuidString)")
            run = CertificateRun.inCluster(
                client: store.client, namespace: "certctl", pod: pod, issuers: ["pebble": issuer],
                http01Port: port, transport: transport, logger: logger)
            if let http01 { run.http01 = http01(store.client) }
        } else {
            run = CertificateRun.local(store: fixture.store, state: state, transport: transport, logger: logger)
        }
        let requests = counter
        run.observer = { record in
            requests.value.withLock { $0 += 1 }
            requests.actions.withLock { $0.append(record.action) }
        }
        let options = CertificateRun.Options(
            scope: .all,
            issuers: ["pebble": issuer],
            defaultIssuer: "pebble",
            http01Listen: ListenAddress(host: "127.0.0.1", port: port)
        )
        return RunFixture(fixture: fixture, run: run, options: options, requests: counter, issuerYAML: yaml)
    }

    /// The same run with its planning clock replaced (to step past back-offs).
    func withClock(_ now: @escaping @Sendable () -> Date) -> RunFixture {
        var shifted = run
        shifted.now = now
        return RunFixture(fixture: fixture, run: shifted, options: options, requests: requests, issuerYAML: issuerYAML)
    }

    /// The same run with its options changed.
    func with(_ change: (inout CertificateRun.Options) -> Void) -> RunFixture {
        var changed = options
        change(&changed)
        return RunFixture(fixture: fixture, run: run, options: changed, requests: requests, issuerYAML: issuerYAML)
    }

    /// Runs once; returns the report and the ACME requests it made.
    func runOnce(_ change: (inout CertificateRun.Options) -> Void = { _ in }) async throws -> (RunReport, Int) {
        requests.value.withLock { $0 = 0 }
        requests.actions.withLock { $0 = [] }
        var options = self.options
        change(&options)
        let report = try await run.run(options)
        return (report, requests.value.withLock { $0 })
    }
}

final class RequestCount: Sendable {
    let value = Mutex(0)
    /// The ACME actions (`newOrder`, `finalize`, ...) of the last `runOnce`, in order.
    let actions = Mutex<[String]>([])
}

/// `count` Ingresses shaped like a meta chart's, one name each.
func siteIngresses(_ count: Int, namespace: String = "prod") -> [Ingress] {
    (0..<count).map { ingress(namespace, "site\($0)", tls: [(["site\($0).mybinder.org"], "kubelego-tls-site\($0)")]) }
}

@Suite("certctl run against Pebble", .serialized)
struct RunTests {
    @Test(
        "20 Ingresses: the first run issues all, the second makes no ACME request; a broken Secret is re-issued alone",
        arguments: StoreKind.allCases)
    func twentyIngresses(kind: StoreKind) async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let run = try await RunFixture.make(
            kind, ingresses: siteIngresses(20), server: pebble.directoryURL, caBundle: Pebble.caBundle, port: port)
        defer { Task { await run.fixture.stop() } }

        let (first, firstRequests) = try await run.runOnce()
        #expect(first.certificates.count == 20)
        #expect(first.certificates.allSatisfy { $0.outcome == .issued }, "\(first.certificates.map(\.outcome))")
        #expect(first.exitCode(at: Date()) == 0)
        #expect(firstRequests > 20 * 5)

        let recorded = try #require(await run.run.history?.lastSuccess(), "a clean run records its success")
        #expect(abs(recorded.timeIntervalSinceNow) < 60)

        let (second, secondRequests) = try await run.runOnce()
        #expect(secondRequests == 0)
        #expect(second.certificates.allSatisfy { $0.outcome == .unchanged })

        // Break one Secret: a key that is not the certificate's.
        let store = run.fixture.store
        var broken = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site7"))
        broken.data?["tls.key"] = Data(try PrivateKey(generating: .ecdsaP256).pemRepresentation().utf8)
        _ = try await store.update(broken)
        let (third, _) = try await run.runOnce()
        let reissued = third.certificates.filter { $0.outcome == .issued }
        #expect(reissued.map(\.desired.secretName) == ["kubelego-tls-site7"])
        #expect(reissued.first?.action.reason == .keyMismatch)
        let repaired = CurrentCertificate(
            secret: try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site7")))
        #expect(repaired.isUsable)
        #expect(repaired.record.serial == repaired.summary?.serialHex)
    }

    @Test(
        "CA down: the old valid Secret is untouched, the failure and back-off recorded, exit 1; no order inside the back-off"
    )
    func caDown() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        let run = try await RunFixture.make(
            .local, ingresses: siteIngresses(2), server: pebble.directoryURL, caBundle: Pebble.caBundle, port: port)
        _ = try await run.runOnce()
        let before = try #require(try await run.fixture.store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        pebble.stop()

        // Force a renewal of site0 through the operator's request, with the CA down.
        var requested = before
        var annotations = requested.metadata.annotations ?? [:]
        annotations["certctl.io/renew-requested"] = "true"
        requested.metadata.annotations = annotations
        _ = try await run.fixture.store.update(requested)
        let (report, _) = try await run.runOnce()
        let site0 = try #require(report.certificates.first { $0.desired.secretName == "kubelego-tls-site0" })
        guard case .failed(let failure, let stillValid) = site0.outcome, case let message = failure.message else {
            Issue.record("expected a failure, got \(site0.outcome)")
            return
        }
        #expect(stillValid)
        #expect(message.contains("cannot reach the ACME server"))
        #expect(report.exitCode(at: Date()) == 1)
        let after = try #require(try await run.fixture.store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        #expect(after.data?["tls.crt"] == before.data?["tls.crt"])
        #expect(after.data?["tls.key"] == before.data?["tls.key"])
        let record = RenewalRecord(annotations: after.metadata.annotations ?? [:])
        #expect(record.failureCount == 1)
        #expect(record.lastFailure?.contains("cannot reach") == true)
        let nextAttempt = try #require(record.nextAttempt)
        #expect(abs(nextAttempt.timeIntervalSinceNow - 3600) < 60)

        let (again, requests) = try await run.runOnce()
        #expect(requests == 0)
        #expect(again.certificates.first { $0.desired.secretName == "kubelego-tls-site0" }?.outcome == .deferred)
    }

    @Test("a second run while the lock is held issues nothing and says so")
    func lockHeld() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let run = try await RunFixture.make(
            .local, ingresses: siteIngresses(2), server: pebble.directoryURL, caBundle: Pebble.caBundle, port: port)
        let other = FileRunLock(stateDirectory: run.fixture.directory.appendingPathComponent("state").path)
        #expect(try await other.acquire())
        let (report, requests) = try await run.runOnce()
        #expect(report.lockHeld)
        #expect(requests == 0)
        #expect(report.certificates.allSatisfy { $0.outcome == .deferred })
        await other.release()
        let (after, _) = try await run.runOnce()
        #expect(!after.lockHeld)
        #expect(after.certificates.allSatisfy { $0.outcome == .issued })
    }
}

@Suite("certctl run: rate limits and the cluster", .serialized)
struct RunClusterTests {
    @Test("rateLimited: not retried before its Retry-After, across runs")
    func rateLimited() async throws {
        let port = freeLoopbackPort()
        var behaviour = TestACMEServer.Behaviour()
        behaviour.rateLimitedOrders = 1
        behaviour.rateLimitRetryAfter = "7200"
        let server = try await TestACMEServer.start(validationPort: port, behaviour: behaviour)
        let run = try await RunFixture.make(
            .local, ingresses: siteIngresses(1), server: server.directoryURL, caBundle: nil, port: port)
        let (first, _) = try await run.runOnce()
        guard case .failed(let failure, _) = first.certificates.first?.outcome, case let message = failure.message
        else {
            Issue.record("expected a rate-limit failure")
            return
        }
        #expect(message.contains("rateLimited"))
        #expect(first.certificates.first?.failureKind == .rateLimited)
        #expect(first.figures(finished: Date(), duration: .seconds(1)).failuresByReason == ["rate_limited": 1])
        let recorded = try #require(
            try await run.fixture.store.pendingRecord(namespace: "prod", secretName: "kubelego-tls-site0"))
        #expect(RenewalRecord(annotations: recorded).lastFailureKind == .rateLimited)
        let nextAttempt = try #require(first.certificates.first?.nextAttempt)
        #expect(abs(nextAttempt.timeIntervalSinceNow - 7200) < 60, "Retry-After (2 h) beats the 1 h back-off")
        let (second, requests) = try await run.runOnce()
        #expect(requests == 0)
        #expect(second.certificates.first?.outcome == .deferred)
        #expect(await server.orders.count == 1)
        await server.stop()
    }

    @Test("a CA that accepts connections but never answers fails the certificate within --acme-timeout")
    func silentCA() async throws {
        let silent = try await HTTPServer.start(host: "127.0.0.1", port: freeLoopbackPort()) { _ in
            try? await Task.sleep(for: .seconds(300))
            return ServerResponse(status: 500)
        }
        defer { Task { await silent.stop() } }
        let project = try LocalProject.make(server: "http://127.0.0.1:\(silent.port)/dir", sites: ["quiet"])
        let clock = ContinuousClock()
        let started = clock.now
        let result = try await CertctlProcess.run(
            ["run", "--acme-timeout", "1", "--http01-listen", "127.0.0.1:\(freeLoopbackPort())"] + LocalProject.flags,
            directory: project.directory)
        let elapsed = clock.now - started
        #expect(result.status == 2, "\(result.standardOutput)\(result.standardError)")
        #expect(result.standardOutput.contains("failed"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("[timeout] cannot reach the ACME server"), "\(result.standardOutput)")
        // Three attempts of 1 s and the pauses between them (1 s, 2 s), about 6 s alone; with the
        // default 30 s timeout the same run takes over 90 s. The bound sits between the two, with
        // room for a machine busy building the image beside it (20 s and 31 s were seen then).
        #expect(elapsed < .seconds(60), "took \(elapsed)")
        let refused = try await CertctlProcess.run(
            ["run", "--acme-timeout", "0"] + LocalProject.flags, directory: project.directory)
        #expect(refused.status == 64)
        #expect(refused.standardError.contains("--acme-timeout must be 1 to 600 seconds"), "\(refused.standardError)")
    }

    @Test("more names than the issuer's profile takes are refused before ordering")
    func profileNameLimit() async throws {
        let port = freeLoopbackPort()
        let server = try await TestACMEServer.start(validationPort: port)
        defer { Task { await server.stop() } }
        let hosts = (0..<26).map { "h\($0).mybinder.org" }
        let run = try await RunFixture.make(
            .local, ingresses: [ingress("prod", "many", tls: [(hosts, "tls-many")])], server: server.directoryURL,
            caBundle: nil, port: port, profile: "shortlived")
        let (report, _) = try await run.runOnce()
        guard case .failed(let failure, _) = report.certificates.first?.outcome, case let message = failure.message
        else {
            Issue.record("expected a refusal: \(report.certificates.map(\.outcome))")
            return
        }
        #expect(
            message.contains("Secret prod/tls-many: has 26 names; Let's Encrypt's shortlived profile takes at most 25"))
        #expect(report.certificates.first?.failureKind == .configuration)
        #expect(await server.orders.isEmpty, "no order was made")
    }

    @Test("an Event the server refuses and a record it cannot store are warnings of the run, once each")
    func warnings() async throws {
        let down = try await PodRBACTests.DownCA()
        defer { Task { await down.server.stop() } }
        let run = try await RunFixture.make(
            .kubernetes, ingresses: siteIngresses(3), server: down.url, caBundle: nil, port: freeLoopbackPort())
        let server = try #require(run.fixture.server)
        // Refusals, not a busy server (a 500 or 429 would be sent again).
        await server.failNext("create", collection: "events.k8s.io/v1/events", status: 403, count: 100)
        // The first pending record cannot be stored: that certificate has no back-off.
        await server.failNext("create", collection: "v1/configmaps", status: 403, count: 1)
        let (report, _) = try await run.runOnce()
        let events = report.warnings.filter { $0.hasPrefix("cannot record Events") }
        let records = report.warnings.filter { $0.hasPrefix("cannot store the failure record") }
        #expect(events.count == 1, "once per run, not once per Event: \(report.warnings)")
        #expect(events.first?.contains("Forbidden") == true)
        #expect(records.count == 1, "\(report.warnings)")
        #expect(report.certificates.count == 3)
        #expect(
            report.certificates.filter { $0.nextAttempt == nil }.count == 1, "no back-off claimed that was not stored")
        #expect(report.certificates.filter { $0.nextAttempt != nil }.count == 2)
        let maps = try await (run.fixture.store as? KubernetesStore)?.client.list(ConfigMap.self, namespace: "prod")
        #expect(maps?.count == 2, "the two records that could be stored are")
    }

    @Test(
        "in a pod: per challenge a Service and an Exact-path Ingress, removed afterwards; Secrets, Lease and account in the cluster"
    )
    func clusterSolver() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let pod = IngressSolver.Pod(
            name: "certctl-123", namespace: "prod", labels: ["app": "certctl", "job-name": "certctl-123"], port: 8089)
        let run = try await RunFixture.make(
            .kubernetes,
            ingresses: siteIngresses(3),
            server: pebble.directoryURL,
            caBundle: Pebble.caBundle,
            port: port,
            http01: { client in .cluster(client: client, pod: pod, selfCheckPasses: 0) }
        )
        defer { Task { await run.fixture.stop() } }
        let server = try #require(run.fixture.server)
        let (report, _) = try await run.runOnce()
        #expect(report.certificates.allSatisfy { $0.outcome == .issued }, "\(report.certificates.map(\.outcome))")

        let log = await server.requestLog
        let createdServices = log.filter { $0.hasPrefix("create v1/services prod/") }
        let deletedServices = log.filter { $0.hasPrefix("delete v1/services prod/certctl-http01-") }
        let createdIngresses = log.filter { $0.hasPrefix("create networking.k8s.io/v1/ingresses prod/") }
        let deletedIngresses = log.filter { $0.hasPrefix("delete networking.k8s.io/v1/ingresses prod/certctl-http01-") }
        #expect(createdServices.count >= 3)
        #expect(deletedServices.count == createdServices.count)
        #expect(deletedIngresses.count == createdIngresses.count - 3, "the three site Ingresses were seeded")
        #expect(log.contains { $0.hasPrefix("create coordination.k8s.io/v1/leases certctl/") })
        #expect(
            log.filter { $0.hasPrefix("create events.k8s.io/v1/events prod/") }.count == 3,
            "an Issued Event per Ingress")
        let account = await server.object("v1/secrets", namespace: "certctl", name: "pebble-account")
        #expect(
            (account?["data"] as? [String: String])?["tls.key"] != nil, "the account key lives in privateKeySecretRef")
        #expect(
            await server.object("v1/secrets", namespace: "prod", name: "kubelego-tls-site1")?["type"] as? String
                == "kubernetes.io/tls")
        let client = fakeClient(server)
        #expect(
            try await client.list(Service.self, namespace: "prod", labelSelector: "certctl.io/http01-solver=true")
                .isEmpty)
        let lease = try await client.get(Lease.self, namespace: "certctl", name: "certctl-run")
        #expect(lease.spec?.holderIdentity == nil, "released after the run")
    }

    @Test("the solver's objects: host, Exact path, class and selector")
    func solverObjects() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        let responder = try await HTTP01Responder.start(host: "127.0.0.1", port: 0, logger: Logger(label: "t"))
        defer { Task { await responder.stop() } }
        let pod = IngressSolver.Pod(name: "certctl-1", namespace: "prod", labels: ["job-name": "certctl-1"], port: 8089)
        let solver = IngressSolver(
            client: client, responder: responder, pod: pod, namespace: "prod", ingressClass: .name("traefik"),
            selfCheckPasses: 0,
            transport: CurlTransport(userAgent: "t"), logger: Logger(label: "t")
        )
        try await solver.present(
            identifier: .dns("hub.mybinder.org"), token: "tok123", keyAuthorization: "tok123.thumb")
        let ingresses = try await client.list(Ingress.self, namespace: "prod")
        let ingress = try #require(ingresses.first)
        #expect(ingress.spec?.ingressClassName == "traefik")
        #expect(ingress.metadata.annotations?["kubernetes.io/ingress.class"] == nil)
        let rule = try #require(ingress.spec?.rules?.first)
        #expect(rule.host == "hub.mybinder.org")
        #expect(rule.http?.paths.first?.path == "/.well-known/acme-challenge/tok123")
        #expect(rule.http?.paths.first?.pathType == "Exact")
        let service = try #require(try await client.list(Service.self, namespace: "prod").first)
        #expect(service.spec?.selector == ["job-name": "certctl-1"])
        #expect(service.spec?.ports?.first?.targetPort == 8089)
        #expect(service.spec?.type == "ClusterIP")
        #expect(rule.http?.paths.first?.backend.service?.name == service.metadata.name)

        await solver.cleanUp(identifier: .dns("hub.mybinder.org"), token: "tok123")
        #expect(try await client.list(Ingress.self, namespace: "prod").isEmpty)
        #expect(try await client.list(Service.self, namespace: "prod").isEmpty)

        // A leftover from a killed run is removed by the next.
        try await solver.present(identifier: .dns("hub.mybinder.org"), token: "left", keyAuthorization: "left.thumb")
        #expect(await IngressSolver.removeLeftovers(client: client, namespaces: ["prod"]) == 2)

        // The legacy class where the issuer asks for it, and the issuer's service type.
        let legacy = IngressSolver(
            client: client, responder: responder, pod: pod, namespace: "prod",
            ingressClass: .legacyAnnotation("nginx"), serviceType: "NodePort", selfCheckPasses: 0,
            transport: CurlTransport(userAgent: "t"), logger: Logger(label: "t"))
        try await legacy.present(identifier: .dns("hub.mybinder.org"), token: "old", keyAuthorization: "old.thumb")
        let annotated = try #require(try await client.list(Ingress.self, namespace: "prod").first)
        #expect(annotated.metadata.annotations?["kubernetes.io/ingress.class"] == "nginx")
        #expect(annotated.spec?.ingressClassName == nil)
        let nodePort = try #require(try await client.list(Service.self, namespace: "prod").first)
        #expect(nodePort.spec?.type == "NodePort")
        await legacy.cleanUp(identifier: .dns("hub.mybinder.org"), token: "old")
    }

    @Test("in another namespace: a Service without selector and an EndpointSlice to the pod's IP; all three removed")
    func solverAcrossNamespaces() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        let responder = try await HTTP01Responder.start(host: "127.0.0.1", port: 0, logger: Logger(label: "t"))
        defer { Task { await responder.stop() } }
        func solver(ip: String?) -> IngressSolver {
            IngressSolver(
                client: client, responder: responder,
                pod: .init(
                    name: "certctl-1", namespace: "certctl", labels: ["job-name": "certctl-1"], port: 8089, ip: ip),
                namespace: "prod", ingressClass: .none, selfCheckPasses: 0, transport: CurlTransport(userAgent: "t"),
                logger: Logger(label: "t"))
        }
        try await solver(ip: "10.1.2.3").present(
            identifier: .dns("hub.mybinder.org"), token: "x1", keyAuthorization: "x1.t")
        let service = try #require(try await client.list(Service.self, namespace: "prod").first)
        #expect(service.spec?.selector == nil, "no selector: the pod is in another namespace")
        let slice = try #require(try await client.list(EndpointSlice.self, namespace: "prod").first)
        #expect(slice.metadata.labels?[EndpointSlice.serviceNameLabel] == service.metadata.name)
        #expect(slice.addressType == "IPv4")
        #expect(slice.endpoints?.first?.addresses == ["10.1.2.3"])
        #expect(slice.ports?.first?.port == 8089 && slice.ports?.first?.name == service.spec?.ports?.first?.name)
        await solver(ip: "10.1.2.3").cleanUp(identifier: .dns("hub.mybinder.org"), token: "x1")
        #expect(try await client.list(EndpointSlice.self, namespace: "prod").isEmpty)
        #expect(try await client.list(Service.self, namespace: "prod").isEmpty)
        #expect(try await client.list(Ingress.self, namespace: "prod").isEmpty)

        // A leftover slice is removed by the next run, and without POD_IP the error says what to set.
        try await solver(ip: "fd00::7").present(
            identifier: .dns("hub.mybinder.org"), token: "x2", keyAuthorization: "x2.t")
        #expect(try await client.list(EndpointSlice.self, namespace: "prod").first?.addressType == "IPv6")
        #expect(await IngressSolver.removeLeftovers(client: client, namespaces: ["prod"]) == 3)
        do {
            try await solver(ip: nil).present(
                identifier: .dns("hub.mybinder.org"), token: "x3", keyAuthorization: "x3.t")
            Issue.record("without POD_IP the solver cannot reach the pod")
        } catch let error as CertctlError {
            #expect(error.description.contains("POD_IP"), "\(error)")
        }
    }

    @Test(
        "the solver's class: the issuer's ingressClassName, else its legacy class, else the certificate's own Ingress's",
        arguments: [
            (nil, nil, "traefik", false, IngressSolver.IngressClass.name("traefik")),
            (nil, nil, "traefik", true, .legacyAnnotation("traefik")),
            ("nginx", nil, "traefik", false, .name("nginx")),
            (nil, "haproxy", "traefik", false, .legacyAnnotation("haproxy")),
            ("nginx", "haproxy", nil, false, .name("nginx")),
            (nil, nil, nil, false, .none),
        ] as [(String?, String?, String?, Bool, IngressSolver.IngressClass)])
    func solverClass(
        issuerClassName: String?, issuerClass: String?, own: String?, legacy: Bool, expected: IngressSolver.IngressClass
    ) {
        var desired = DesiredCertificate(
            namespace: "prod", secretName: "s", hosts: ["a.mybinder.org"], issuer: "i", issuerKind: "ClusterIssuer",
            ingresses: ["a"], ingressClass: own)
        desired.ingressClassIsLegacy = legacy
        let solver =
            issuerClassName == nil && issuerClass == nil
            ? nil
            : Issuer.HTTP01Solver(
                ingressClass: issuerClass, ingressClassName: issuerClassName, serviceType: nil)
        #expect(IngressSolver.IngressClass.choose(solver: solver, desired: desired) == expected)
    }
}

@Suite("The _total metrics count across runs", .serialized)
struct RunCounterTests {
    @Test(
        "two runs that issue: the totals kept beside the lock add up, and the exposition shows them",
        arguments: StoreKind.allCases)
    func totals(kind: StoreKind) async throws {
        let port = freeLoopbackPort()
        let server = try await TestACMEServer.start(validationPort: port)
        defer { Task { await server.stop() } }
        let run = try await RunFixture.make(
            kind, ingresses: siteIngresses(1), server: server.directoryURL, caBundle: nil, port: port)
        defer { Task { await run.fixture.stop() } }
        let (first, firstRequests) = try await run.runOnce()
        #expect(first.totals?["issuances|issued"] == 1)
        var secret = try #require(try await run.fixture.store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        secret.metadata.annotations?["certctl.io/renew-requested"] = "true"
        _ = try await run.fixture.store.update(secret)
        let (second, secondRequests) = try await run.runOnce()
        #expect(second.totals?["issuances|issued"] == 2, "\(second.totals ?? [:])")
        let requests = (second.totals ?? [:]).filter { $0.key.hasPrefix("acme_requests|") }.values.reduce(0, +)
        #expect(requests == firstRequests + secondRequests)
        let text = CertificateMetrics.render([], run: second.figures(finished: Date(), duration: .seconds(1)))
        #expect(text.contains(#"certctl_issuances_total{result="issued"} 2"#), "\(text)")
        #expect(text.contains("certctl_rate_limited_total 0"))
        // A run with nothing to do adds only its own API requests, and still reports the totals.
        let (quiet, _) = try await run.runOnce()
        let notAPI = { (totals: [String: Int]?) in (totals ?? [:]).filter { !$0.key.hasPrefix("kubernetes_") } }
        #expect(notAPI(quiet.totals) == notAPI(second.totals))
        if kind == .kubernetes {
            let lists = { (totals: [String: Int]?) in totals?["kubernetes_requests|list|200"] ?? 0 }
            #expect(lists(quiet.totals) > lists(second.totals), "the API requests count across runs")
            #expect(text.contains("certctl_kubernetes_requests_total{verb=\"list\",code=\"200\"}"), "\(text)")
        }
    }
}

@Suite("The report stage, in the run", .serialized)
struct RunReporterTests {
    @Test("metrics are published by the run itself while it holds the lock, over the certificates as it left them")
    func underTheLock() async throws {
        let port = freeLoopbackPort()
        let server = try await TestACMEServer.start(validationPort: port)
        defer { Task { await server.stop() } }
        let fixture = try await RunFixture.make(
            .local, ingresses: siteIngresses(2), server: server.directoryURL, caBundle: nil, port: port)
        let state = fixture.fixture.directory.appendingPathComponent("state").path
        // A Pushgateway that checks, as the push arrives, whether another run could take the lock.
        let lockFree = Mutex<[Bool]>([])
        let pushed = Mutex<String>("")
        let gateway = try await HTTPServer.start(host: "127.0.0.1", port: freeLoopbackPort()) { request in
            let other = FileRunLock(stateDirectory: state)
            let free = (try? await other.acquire()) ?? true
            if free { await other.release() }
            lockFree.withLock { $0.append(free) }
            pushed.withLock { $0 = String(decoding: request.body, as: UTF8.self) }
            return ServerResponse(status: 200)
        }
        defer { Task { await gateway.stop() } }
        let file = fixture.fixture.directory.appendingPathComponent("metrics.prom").path
        var run = fixture.run
        run.reporter = RunReporter(
            metricsFile: file, pushgateway: "http://127.0.0.1:\(gateway.port)", notifications: nil,
            transport: CurlTransport(userAgent: "t"), logger: Logger(label: "t"))
        let report = try await run.run(fixture.options)
        #expect(report.certificates.allSatisfy { $0.outcome == .issued })
        #expect(lockFree.withLock { $0 } == [false], "the push happened under the run's lock")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text == pushed.withLock { $0 }, "the file and the push carry the same exposition")
        for site in ["site0", "site1"] {
            #expect(
                text.contains(#"certctl_certificate_ready{namespace="prod",secret="kubelego-tls-\#(site)""#)
                    && text.contains(
                        #"secret="kubelego-tls-\#(site)",ingress="\#(site)",issuer="pebble",object_kind="Ingress"} 1"#),
                "\(site) is ready in the metrics")
        }
        #expect(text.contains(#"certctl_issuances_total{result="issued"} 2"#))
    }
}

@Suite("certctl run as a process in a pod", .serialized)
struct RunProcessTests {
    @Test("SIGTERM mid-run: the solver's Service and Ingress are deleted and the Lease released")
    func sigterm() async throws {
        let port = freeLoopbackPort()
        let acme = try await TestACMEServer.start(validationPort: port)
        let server = try await FakeAPIServer.start()
        let client = fakeClient(server)
        for site in siteIngresses(1) { _ = try await client.create(site) }
        let project = try PodProject.make(server, name: "sigterm")
        try project.writeIssuer("local", server: acme.directoryURL)
        let process = try project.start(
            project.runArguments(issuer: "local", port: port, ["--http01-self-check-passes", "3"]), pod: "certctl-1")

        // The self-check cannot reach site0.mybinder.org here, so the run waits in it: until the
        // solver's Service and then its Ingress are seen (the Ingress is made after the Service).
        var created = false
        for _ in 0..<100 {
            let services = try await client.list(
                Service.self, namespace: "prod", labelSelector: "certctl.io/http01-solver=true")
            let ingresses = try await client.list(
                Ingress.self, namespace: "prod", labelSelector: "certctl.io/http01-solver=true")
            if !services.isEmpty, ingresses.count == 1 {
                created = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(created, "the solver Service and Ingress should appear")
        process.terminate()  // SIGTERM
        process.waitUntilExit()

        #expect(
            try await client.list(Service.self, namespace: "prod", labelSelector: "certctl.io/http01-solver=true")
                .isEmpty)
        #expect(
            try await client.list(Ingress.self, namespace: "prod", labelSelector: "certctl.io/http01-solver=true")
                .isEmpty)
        let lease = try await client.get(Lease.self, namespace: "prod", name: "certctl-run")
        #expect(lease.spec?.holderIdentity == nil)
        #expect(await acme.orders.count == 1)
        await server.stop()
        await acme.stop()
    }
}

@Suite("Run locks")
struct RunLockTests {
    @Test("a live Lease holds off a second run; a stale one is taken over; release frees it")
    func lease() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        let first = LeaseRunLock(client: client, namespace: "prod", identity: "pod-a", duration: 600)
        let second = LeaseRunLock(client: client, namespace: "prod", identity: "pod-b", duration: 600)
        #expect(try await first.acquire())
        #expect(try await !second.acquire())
        await first.release()
        #expect(try await second.acquire())

        // pod-b dies without releasing; its Lease was renewed an hour ago with 10 minutes to live.
        var lease = try await client.get(Lease.self, namespace: "prod", name: "certctl-run")
        lease.spec?.renewTime = MicroTime(Date().addingTimeInterval(-3600))
        _ = try await client.update(lease)
        #expect(try await first.acquire(), "a stale Lease expires")
        #expect(
            try await client.get(Lease.self, namespace: "prod", name: "certctl-run").spec?.holderIdentity == "pod-a")
    }

    @Test("a renewed Lease stays held past its duration")
    func leaseRenewal() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        let clock = Mutex(Date())
        var holder = LeaseRunLock(client: client, namespace: "prod", identity: "pod-a", duration: 2)
        var other = LeaseRunLock(client: client, namespace: "prod", identity: "pod-b", duration: 2)
        holder.now = { clock.withLock { $0 } }
        other.now = holder.now
        #expect(try await holder.acquire())
        #expect(holder.renewalInterval == .seconds(1))
        let before = try await client.get(Lease.self, namespace: "prod", name: "certctl-run").spec?.renewTime
        clock.withLock { $0 += 1.2 }
        await holder.renew()
        let after = try await client.get(Lease.self, namespace: "prod", name: "certctl-run").spec?.renewTime
        #expect(after.map { abs($0.date.timeIntervalSince(clock.withLock { $0 })) < 0.001 } == true)
        #expect(after != before)
        clock.withLock { $0 += 1.2 }
        // 2.4 s after acquiring, beyond the 2 s duration, but renewed 1.2 s ago: still held.
        #expect(try await !other.acquire())
        await other.renew()  // not its Lease: changes nothing
        #expect(
            try await client.get(Lease.self, namespace: "prod", name: "certctl-run").spec?.holderIdentity == "pod-a")
    }

    @Test("a file lock is exclusive and released with its holder")
    func file() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)").path
        let first = FileRunLock(stateDirectory: folder)
        let second = FileRunLock(stateDirectory: folder)
        #expect(try await first.acquire())
        #expect(try await !second.acquire())
        await first.release()
        #expect(try await second.acquire())
        await second.release()
    }
}

@Suite("certctl renew, and the checks of run's options", .serialized)
struct RenewCommandTests {
    @Test("marks a Secret and, with --now, re-issues it alone")
    func renewNow() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let directory = try LocalProject.make(server: pebble.directoryURL, sites: ["a", "b"]).directory
        let common = LocalProject.flags + ["--http01-listen", "127.0.0.1:\(port)"]
        let first = try await CertctlProcess.run(["run"] + common, directory: directory)
        #expect(first.status == 0, "\(first.standardError)")
        #expect(first.standardOutput.contains("2 issued"))

        let renewed = try await CertctlProcess.run(["renew", "tls-b", "--now"] + common, directory: directory)
        #expect(renewed.status == 0, "\(renewed.standardError)")
        #expect(renewed.standardOutput.contains("prod/tls-b: marked for renewal"))
        #expect(renewed.standardOutput.contains("1 issued"))
        #expect(renewed.standardOutput.contains("renewal requested"))

        let again = try await CertctlProcess.run(["run"] + common, directory: directory)
        #expect(again.standardOutput.contains("2 ok; 0 ACME requests"), "the mark is cleared: \(again.standardOutput)")

        let unknown = try await CertctlProcess.run(["renew", "nope"] + common, directory: directory)
        #expect(unknown.status == 64)
        #expect(unknown.standardError.contains("Secret nope: is not a certificate certctl manages"))
    }

    @Test(
        "bad run options are refused with exit 64, naming the option and what to do",
        arguments: [
            (["--concurrency", "0"], "--concurrency must be 1 to 64"),
            (["--state", "missing/parent/state"], "its parent directory"),
            (["--http01-listen", "PORT-IN-USE"], "another program listens there"),
        ])
    func badOptions(extra: [String], message: String) async throws {
        let project = try LocalProject.make(server: "http://127.0.0.1:\(freeLoopbackPort())/dir", sites: ["a"])
        // A port another program holds.
        let holder = try await HTTPServer.start(host: "127.0.0.1", port: 0) { _ in ServerResponse(status: 200) }
        defer { Task { await holder.stop() } }
        var flags = LocalProject.flags
        var options = extra.map { $0 == "PORT-IN-USE" ? "127.0.0.1:\(holder.port)" : $0 }
        if options.first == "--state", let index = flags.firstIndex(of: "--state") {
            flags[index + 1] = options[1]  // in place of the project's own state directory
            options = []
        }
        let result = try await CertctlProcess.run(["run"] + flags + options, directory: project.directory)
        #expect(result.status == 64, "\(result.standardOutput)\(result.standardError)")
        #expect(result.standardError.contains(message), "\(result.standardError)")
    }

    @Test("after a broken issuer is fixed, renew --now clears the failure's back-off and issues at once")
    func clearsBackOff() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        // The issuer first names a CA where nothing listens: the first issuance fails.
        let project = try LocalProject.make(server: "http://127.0.0.1:\(freeLoopbackPort())/dir", sites: ["down"])
        let directory = project.directory
        let common = LocalProject.flags + ["--http01-listen", "127.0.0.1:\(port)"]
        let failed = try await CertctlProcess.run(["run", "--acme-timeout", "2"] + common, directory: directory)
        #expect(failed.status == 2, "\(failed.standardOutput)")
        let deferred = try await CertctlProcess.run(["run"] + common, directory: directory)
        #expect(deferred.standardOutput.contains("deferred"), "the back-off holds: \(deferred.standardOutput)")
        // status SECRET says why and how to get out of it.
        let explained = try await CertctlProcess.run(["status", "tls-down"] + LocalProject.flags, directory: directory)
        // Its long lines wrap under their key (14 columns in): read them as one.
        let decision = explained.standardOutput.replacingOccurrences(of: "\n              ", with: " ")
        #expect(
            decision.hasPrefix(
                "Decision      Due (there is no Secret yet), but 1 attempt failed, so the next waits until ")
                && decision.contains(
                    "(a back-off of 1 h doubling to 32 h); after fixing the cause, certctl renew tls-down -n prod --now clears it."
                ),
            "\(explained.standardOutput)")
        #expect(explained.standardOutput.contains("Failure kind  ca_unreachable"), "\(explained.standardOutput)")

        try IssueCommandTests.issuerYAML(server: pebble.directoryURL).write(
            to: directory.appendingPathComponent("issuers/test.yaml"), atomically: true, encoding: .utf8)
        let renewed = try await CertctlProcess.run(["renew", "tls-down", "--now"] + common, directory: directory)
        #expect(renewed.status == 0, "\(renewed.standardOutput)\(renewed.standardError)")
        #expect(
            renewed.standardOutput.contains(
                "prod/tls-down: no Secret yet; marked to issue; cleared the back-off of 1 failure"),
            "\(renewed.standardOutput)")
        #expect(renewed.standardOutput.contains("1 certificate in local: 1 issued"), "\(renewed.standardOutput)")
    }
}

@Suite("certctl run with ARI", .serialized)
struct RunARITests {
    @Test("the window is recorded at issuance, re-checked when due, and a moved window renews with replaces")
    func ariWindowMoves() async throws {
        let port = freeLoopbackPort()
        let server = try await TestACMEServer.start(validationPort: port)
        defer { Task { await server.stop() } }
        let run = try await RunFixture.make(
            .local, ingresses: siteIngresses(1), server: server.directoryURL, caBundle: nil, port: port)
        let (first, _) = try await run.runOnce()
        #expect(first.certificates.first?.outcome == .issued)
        let store = run.fixture.store
        let issued = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        let record = RenewalRecord(annotations: issued.metadata.annotations ?? [:])
        let windowStart = try #require(record.ariWindowStart)
        let windowEnd = try #require(record.ariWindowEnd)
        let renewalTime = try #require(record.renewalTime)
        #expect(renewalTime >= windowStart && renewalTime < windowEnd)
        #expect(
            abs((record.ariNextCheck ?? .distantPast).timeIntervalSinceNow - 21_600) < 60, "Retry-After of renewalInfo")

        // Before the next check: no request at all.
        let (quiet, requests) = try await run.runOnce()
        #expect(requests == 0)
        #expect(quiet.certificates.first?.outcome == .unchanged)

        // The CA moves the window into the past (say, a mass revocation) and the check is due.
        await server.update { behaviour in
            behaviour.renewalWindow = { _, _ in (Date().addingTimeInterval(-7200), Date().addingTimeInterval(-3600)) }
        }
        var due = issued
        due.metadata.annotations?["certctl.io/ari-next-check"] = "2026-01-01T00:00:00Z"
        _ = try await store.update(due)
        let oldID = try #require(CurrentCertificate(secret: issued).summary?.ariCertificateID)
        let (moved, _) = try await run.runOnce()
        #expect(moved.certificates.first?.outcome == .issued)
        #expect(moved.certificates.first?.action.reason == .ariWindow)
        #expect(await server.orders.last?.replaces == oldID)
        #expect(await server.renewalInfoQueries.contains(oldID))
    }

    @Test("a due renewalInfo check waits for the lock: another run holding it means no request and no write")
    func ariUnderLock() async throws {
        let port = freeLoopbackPort()
        let server = try await TestACMEServer.start(validationPort: port)
        defer { Task { await server.stop() } }
        let run = try await RunFixture.make(
            .local, ingresses: siteIngresses(1), server: server.directoryURL, caBundle: nil, port: port)
        _ = try await run.runOnce()
        let store = run.fixture.store
        var due = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        due.metadata.annotations?["certctl.io/ari-next-check"] = "2026-01-01T00:00:00Z"
        let marked = try await store.update(due)
        let queries = await server.renewalInfoQueries.count

        let other = FileRunLock(stateDirectory: run.fixture.directory.appendingPathComponent("state").path)
        #expect(try await other.acquire())
        let (held, requests) = try await run.runOnce()
        #expect(held.lockHeld, "the check needs the lock")
        #expect(requests == 0)
        #expect(await server.renewalInfoQueries.count == queries)
        let untouched = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        #expect(untouched.metadata.annotations == marked.metadata.annotations, "nothing written without the lock")

        await other.release()
        let (checked, _) = try await run.runOnce()
        #expect(!checked.lockHeld)
        #expect(await server.renewalInfoQueries.count == queries + 1)
        let after = try #require(try await store.secret(namespace: "prod", name: "kubelego-tls-site0"))
        let record = RenewalRecord(annotations: after.metadata.annotations ?? [:])
        #expect((record.ariNextCheck ?? .distantPast) > Date(), "the next check moved forward, stored under the lock")
    }
}
