import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Logging
import Testing
import Transport

/// A Gateway `web` in `prod` for the issuer `local`: listeners `a` and `b` share Secret `web-tls`,
/// `c` has `c-tls`; a ListenerSet `extra` attached to it (its namespace's allowed) with Secret
/// `extra-tls`.
let gatewayManifests = """
    apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: web, namespace: prod, annotations: {cert-manager.io/cluster-issuer: local}}
    spec:
      gatewayClassName: traefik
      allowedListeners: {namespaces: {from: Same}}
      listeners:
      - {name: http, port: 80, protocol: HTTP}
      - {name: a, port: 443, protocol: HTTPS, hostname: a.mybinder.org, tls: {certificateRefs: [{name: web-tls}]}}
      - {name: b, port: 443, protocol: HTTPS, hostname: b.mybinder.org, tls: {certificateRefs: [{name: web-tls}]}}
      - {name: c, port: 443, protocol: HTTPS, hostname: c.mybinder.org, tls: {certificateRefs: [{name: c-tls}]}}
    ---
    apiVersion: gateway.networking.k8s.io/v1
    kind: ListenerSet
    metadata: {name: extra, namespace: prod}
    spec:
      parentRef: {name: web}
      listeners:
      - {name: x, port: 443, protocol: HTTPS, hostname: extra.mybinder.org, tls: {certificateRefs: [{name: extra-tls}]}}
    """

@Suite("Gateways in the read stage, on both cluster seams", .serialized)
struct GatewayReadTests {
    let expected: [String: [String]] = [
        "prod/web-tls": ["a.mybinder.org", "b.mybinder.org"], "prod/c-tls": ["c.mybinder.org"],
        "prod/extra-tls": ["extra.mybinder.org"],
    ]

    func hosts(_ inventory: Inventory) -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: inventory.entries.map { ($0.desired.id, $0.desired.hosts) })
    }

    @Test("manifests in the local directory")
    func local() async throws {
        let fixture = try await StoreFixture.make(.local, rawManifests: ["gateway.yaml": gatewayManifests])
        defer { Task { await fixture.stop() } }
        let inventory = try await Inventory.load(
            from: fixture.store, scope: .all, issuers: ["local"], defaultIssuer: "local")
        #expect(hosts(inventory) == expected)
        #expect(inventory.problems.isEmpty, "\(inventory.problems)")
        let sources = Set(inventory.entries.map(\.desired.sourceList))
        #expect(sources == ["Gateway prod/web", "ListenerSet prod/extra"])
        // The status table's object column and the metrics' ingress label name them by kind.
        let statuses = CertificateStatus.all(in: inventory, issuers: [:], now: Date())
        let table = StatusTable.render(
            statuses, now: Date(), style: .init(colour: false, wide: true, showCluster: false, width: 200))
        #expect(table.contains("Gateway/web") && table.contains("ListenerSet/extra"), "\(table)")
        let metrics = CertificateMetrics.render(statuses)
        #expect(
            metrics.contains(
                #"secret="extra-tls",ingress="ListenerSet/extra",issuer="local",object_kind="ListenerSet"}"#),
            "\(metrics)")
    }

    /// The objects of `gatewayManifests`, created through the API, for `issuer`.
    func create(_ client: KubernetesClient, issuer: String = "local") async throws {
        let manifests = gatewayManifests.replacingOccurrences(
            of: "cert-manager.io/cluster-issuer: local", with: "cert-manager.io/cluster-issuer: \(issuer)")
        for document in manifests.components(separatedBy: "---\n") {
            let object = try #require(try YAMLText.load(document) as? [String: Any])
            let data = try JSONSerialization.data(withJSONObject: object)
            if object["kind"] as? String == "Gateway" {
                _ = try await client.create(try JSONDecoder().decode(Gateway.self, from: data))
            } else {
                _ = try await client.create(try JSONDecoder().decode(ListenerSet.self, from: data))
            }
        }
    }

    @Test("an API server with the Gateway API: listed in scope; without it: one discovery request, nothing else")
    func cluster() async throws {
        let fixture = try await StoreFixture.make(.kubernetes)
        defer { Task { await fixture.stop() } }
        let server = try #require(fixture.server)
        let store = try #require(fixture.store as? KubernetesStore)

        let without = try await Inventory.load(from: store, scope: .all, issuers: ["local"], defaultIssuer: "local")
        #expect(without.entries.isEmpty)
        #expect(!without.servesGatewayAPI)
        #expect(without.notes.isEmpty)
        #expect(await !server.requestLog.contains { $0.contains("gateway.networking.k8s.io") }, "no list without it")

        try await server.install(customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        // Group discovery is for authenticated users (system:discovery), as on a real server.
        let anonymous = try await CurlTransport(userAgent: "t").send(
            HTTPRequest(url: server.url + "/apis/gateway.networking.k8s.io", tls: server.tls))
        #expect(anonymous.status == 403)
        #expect(try await store.client.serves(group: GatewayAPI.group))
        try await create(store.client)
        let with = try await Inventory.load(
            from: store, scope: .only(["prod"]), issuers: ["local"], defaultIssuer: "local")
        #expect(with.servesGatewayAPI)
        #expect(hosts(with) == expected)
        #expect(with.problems.isEmpty, "\(with.problems)")
    }

    @Test(
        "allowedListeners by Selector through the API server: the ListenerSets' namespaces read for their labels, one matching attached, one not refused"
    )
    func selectorThroughTheServer() async throws {
        let server = try await FakeAPIServer.start(customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        _ = try await admin.create(Namespace(metadata: ObjectMeta(name: "edge", labels: ["gateway-access": "web"])))
        _ = try await admin.create(Namespace(metadata: ObjectMeta(name: "other")))
        _ = try await admin.create(
            gateway(
                "prod", "web", annotations: ["cert-manager.io/cluster-issuer": "local"], allowing: "Selector",
                selector: LabelSelector(matchLabels: ["gateway-access": "web"]),
                [https("a", "a.mybinder.org", ["web-tls"])]))
        for namespace in ["edge", "other"] {
            _ = try await admin.create(
                ListenerSet(
                    metadata: ObjectMeta(name: "extra", namespace: namespace),
                    spec: .init(
                        parentRef: .init(name: "web", namespace: "prod"),
                        listeners: [https("x", "\(namespace).mybinder.org", ["\(namespace)-tls"])])))
        }
        let inventory = try await Inventory.load(
            from: KubernetesStore(client: admin), scope: .all, issuers: ["local"], defaultIssuer: "local")
        #expect(Set(inventory.entries.map(\.desired.id)) == ["prod/web-tls", "edge/edge-tls"])
        #expect(inventory.problems.map(\.object) == ["ListenerSet other/extra"], "\(inventory.problems)")
        #expect(inventory.problems.first?.kind == .notAllowed)
        let log = await server.requestLog
        let namespaceReads = log.filter { $0.hasPrefix("get v1/namespaces ") }
        #expect(namespaceReads.count == 2, "the two ListenerSets' namespaces, once each: \(namespaceReads)")
    }

    @Test("a Role without the Gateway API: a note naming what to grant, not a failure")
    func forbidden() async throws {
        let server = try await FakeAPIServer.start(
            users: [
                .admin(),
                .serviceAccount(
                    "prod", "job", token: "job-token",
                    rules: [
                        FakeAPIRule(
                            namespace: "prod", groups: ["networking.k8s.io"], resources: ["ingresses"], verbs: ["list"]),
                        FakeAPIRule(
                            namespace: "prod", groups: [""], resources: ["secrets", "configmaps"],
                            verbs: ["get", "list"]),
                    ]),
            ], customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        defer { Task { await server.stop() } }
        var job = fakeClient(server, token: "job-token")
        job.retry = RequestRetry.never
        let inventory = try await Inventory.load(
            from: KubernetesStore(client: job), scope: .only(["prod"]), issuers: ["local"], defaultIssuer: "local")
        #expect(inventory.entries.isEmpty)
        #expect(inventory.notes.count == 1)
        #expect(inventory.notes.first?.contains("certctl.gatewayAPI: true") == true, "\(inventory.notes)")
    }

    @Test("certctl run in local mode issues a Gateway's and a ListenerSet's certificates; the next run orders nothing")
    func localRun() async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let project = try LocalProject.make(server: ca.directoryURL, sites: [])
        try gatewayManifests.write(
            to: project.directory.appendingPathComponent("ingress/gateway.yaml"), atomically: true, encoding: .utf8)
        let arguments = ["run"] + LocalProject.flags + ["--http01-listen", "127.0.0.1:\(port)"]
        let first = try await CertctlProcess.run(arguments, directory: project.directory)
        #expect(first.status == 0, "\(first.standardOutput)\(first.standardError)")
        for (id, names) in expected {
            let parts = id.components(separatedBy: "/")
            let secret = try #require(try await project.store.secret(namespace: parts[0], name: parts[1]), "\(id)")
            #expect(CurrentCertificate(secret: secret).summary?.dnsNames.sorted() == names)
        }
        #expect(await ca.orders.count == 3)
        let second = try await CertctlProcess.run(arguments, directory: project.directory)
        #expect(second.status == 0)
        #expect(await ca.orders.count == 3, "nothing due the second time")
    }
}

@Suite("HTTP-01 through an HTTPRoute attached to the Gateway", .serialized)
struct GatewayHTTPRouteTests {
    @Test(
        "gatewayHTTPRoute: {}: per challenge a Service and an HTTPRoute attached to the certificate's Gateway or ListenerSet, removed afterwards"
    )
    func attachedToSource() async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let pod = IngressSolver.Pod(name: "certctl-1", namespace: "prod", labels: ["app": "certctl"], port: 8089)
        let run = try await RunFixture.make(
            .kubernetes, ingresses: [], server: ca.directoryURL, caBundle: nil, port: port,
            solvers: ["{http01: {gatewayHTTPRoute: {labels: {team: binder}}}}"],
            http01: { client in .cluster(client: client, pod: pod, selfCheckPasses: 0) })
        defer { Task { await run.fixture.stop() } }
        let server = try #require(run.fixture.server)
        try await server.install(customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        let client = try #require(run.fixture.store as? KubernetesStore).client
        try await GatewayReadTests().create(client, issuer: "pebble")

        let (report, _) = try await run.runOnce()
        #expect(report.certificates.count == 3)
        #expect(report.certificates.allSatisfy { $0.outcome == .issued }, "\(report.certificates.map(\.outcome))")
        let log = await server.requestLog
        let created = log.filter { $0.hasPrefix("create gateway.networking.k8s.io/v1/httproutes prod/") }
        let deleted = log.filter { $0.hasPrefix("delete gateway.networking.k8s.io/v1/httproutes prod/certctl-http01-") }
        #expect(created.count == 4, "one route per name: a, b, c, extra: \(created)")
        #expect(deleted.count == created.count, "each removed after its challenge")
        #expect(!log.contains { $0.hasPrefix("create networking.k8s.io/v1/ingresses") }, "no solver Ingress")
        #expect(try await client.list(HTTPRoute.self, namespace: "prod").isEmpty)
        let events = try await client.list(Event.self, namespace: "prod")
        let regarding = Set(events.map { "\($0.regarding?.kind ?? "") \($0.regarding?.name ?? "")" })
        #expect(regarding == ["Gateway web", "ListenerSet extra"], "Issued Events on the Gateway and the ListenerSet")
        #expect(events.count == 3 && events.allSatisfy { $0.reason == "Issued" })
        #expect(try await client.list(Service.self, namespace: "prod").isEmpty)
    }

    @Test("the route as it is sent: the parents, one host, the Exact token path to port 80 of the solver Service")
    func routeShape() throws {
        var desired = DesiredCertificate(
            namespace: "prod", secretName: "extra-tls", hosts: ["extra.mybinder.org"], issuer: "local",
            issuerKind: "ClusterIssuer", ingresses: [], ingressClass: nil)
        desired.sources = [
            .init(.listenerSet, namespace: "prod", name: "extra"), .init(.gateway, namespace: "edge", name: "web"),
        ]
        let parents = IngressSolver.parents(of: desired)
        #expect(
            parents == [
                HTTPRoute.ParentReference(group: "gateway.networking.k8s.io", kind: "ListenerSet", name: "extra"),
                HTTPRoute.ParentReference(
                    group: "gateway.networking.k8s.io", kind: "Gateway", name: "web", namespace: "edge"),
            ])
        let route = HTTPRoute(
            metadata: ObjectMeta(name: "certctl-http01-abc", namespace: "prod"), parents: parents,
            hostname: "extra.mybinder.org", path: "/.well-known/acme-challenge/t", service: "certctl-http01-abc")
        #expect(route.spec?.rules.first?.backendRefs.first?.port == 80)
        #expect(route.spec?.rules.first?.matches.first?.path?.type == "Exact")
        #expect(route.spec?.hostnames == ["extra.mybinder.org"])
        var ingressOnly = desired
        ingressOnly.sources = [.init(.ingress, namespace: "prod", name: "a")]
        #expect(IngressSolver.parents(of: ingressOnly).isEmpty)
    }
}

@Suite("Issuers' http01.gatewayHTTPRoute, as cert-manager's schema writes it")
struct GatewayHTTPRouteIssuerTests {
    func solver(_ yaml: String) throws -> Issuer.HTTP01Solver? {
        let text = """
            kind: ClusterIssuer
            metadata: {name: gw}
            spec:
              acme:
                server: https://acme.example/dir
                privateKeySecretRef: {name: gw-account}
                solvers:
                - \(yaml)
            """
        return try IssuerLoader.parse(text, source: "issuers/gw.yaml").first?.http01Solver(for: ["a.mybinder.org"])
    }

    @Test("parentRefs, labels and serviceType are read; the solver answers through routes")
    func parsed() throws {
        let read = try #require(
            try solver(
                "{http01: {gatewayHTTPRoute: {serviceType: NodePort, labels: {team: binder}, parentRefs: [{name: web, namespace: edge, sectionName: http}]}}}"
            ))
        #expect(read.serviceType == "NodePort")
        #expect(read.gatewayHTTPRoute?.labels == ["team": "binder"])
        #expect(
            read.gatewayHTTPRoute?.parentRefs == [
                HTTPRoute.ParentReference(name: "web", namespace: "edge", sectionName: "http")
            ])
        #expect(try solver("{http01: {gatewayHTTPRoute: {}}}")?.gatewayHTTPRoute == Issuer.GatewayHTTPRoute())
        #expect(try solver("{http01: {ingress: {}}}")?.gatewayHTTPRoute == nil)
    }

    @Test(
        "refused with the field named",
        arguments: [
            ("{http01: {gatewayHTTPRoute: {serviceType: LoadBalancer}}}", "serviceType \"LoadBalancer\""),
            ("{http01: {gatewayHTTPRoute: {parentRefs: [{namespace: edge}]}}}", "parentRefs[0] names no Gateway"),
        ])
    func refused(_ yaml: String, _ words: String) {
        #expect {
            _ = try solver(yaml)
        } throws: { error in
            "\(error)".contains(words)
        }
    }
}

@Suite("A Gateway's certificates as the chart runs certctl (certctl.gatewayAPI: true)", .serialized)
struct GatewayPodTests {
    /// The chart's Role with `certctl.gatewayAPI: true` (`mybinder/charts/certctl/templates/rbac.yaml`).
    static let gatewayRules = [
        FakeAPIRule(
            namespace: "prod", groups: ["gateway.networking.k8s.io"],
            resources: ["gateways", "listenersets", "referencegrants"], verbs: ["list"]),
        FakeAPIRule(
            namespace: "prod", groups: ["gateway.networking.k8s.io"], resources: ["httproutes"],
            verbs: ["list", "create", "delete"]),
    ]

    /// The issuer `gateway` at `server`, answering HTTP-01 through routes attached to the
    /// certificate's Gateway or ListenerSet (`gatewayHTTPRoute: {}`).
    static func writeIssuer(in project: PodProject, server: String) throws {
        try """
        kind: ClusterIssuer
        metadata: {name: gateway}
        spec:
          acme:
            server: \(server)
            privateKeySecretRef: {name: gateway-account}
            solvers:
            - http01: {gatewayHTTPRoute: {}}
        """.write(to: project.folder.appendingPathComponent("issuers/gateway.yaml"), atomically: true, encoding: .utf8)
    }

    @Test(
        "through the binary as a pod: issued over HTTP-01 through solver HTTPRoutes, none left, Events on both objects, every Gateway API verb granted used; the next run orders nothing"
    )
    func pod() async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let rules = try PodRBACTests.chartRole(namespace: "prod").rules + Self.gatewayRules
        let server = try await FakeAPIServer.start(
            users: [.admin(), .serviceAccount("prod", "certctl", token: PodRBACTests.jobToken, rules: rules)],
            customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        try await GatewayReadTests().create(admin, issuer: "gateway")
        let project = try PodRBACTests.project(server, "gateway-pod")
        try Self.writeIssuer(in: project, server: ca.directoryURL)
        let arguments = project.runArguments(issuer: "gateway", port: port, ["--http01-self-check-passes", "0"])
        let first = try await CertctlProcess.run(
            arguments, environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(first.status == 0, "\(first.standardOutput)\(first.standardError)")
        #expect(!first.standardOutput.contains("warning"), "\(first.standardOutput)")
        #expect(await ca.orders.count == 3)
        #expect(try await admin.list(HTTPRoute.self, namespace: "prod").isEmpty, "no route left")
        let events = try await admin.list(Event.self, namespace: "prod")
        #expect(Set(events.compactMap { $0.regarding?.kind }) == ["Gateway", "ListenerSet"])
        let used = await PodRBACTests.verbsUsed(server).filter { $0.key.hasPrefix("gateway.networking.k8s.io") }
        #expect(
            used == [
                "gateway.networking.k8s.io/v1/gateways": ["list"],
                "gateway.networking.k8s.io/v1/listenersets": ["list"],
                "gateway.networking.k8s.io/v1/referencegrants": ["list"],
                "gateway.networking.k8s.io/v1/httproutes": ["list", "create", "delete"],
            ], "the Role's Gateway API rules, each used")
        let second = try await CertctlProcess.run(
            arguments, environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(second.status == 0)
        #expect(await ca.orders.count == 3, "nothing due")
    }

    @Test("certctl check in a pod probes HTTP-01 through an HTTPRoute to its responder and removes the route")
    func probe() async throws {
        let server = try await FakeAPIServer.start(
            users: [
                .admin(),
                .serviceAccount(
                    "prod", "certctl", token: PodRBACTests.jobToken,
                    rules: try PodRBACTests.chartRole(namespace: "prod").rules + Self.gatewayRules),
            ],
            customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        defer { Task { await server.stop() } }
        let ca = try await TestACMEServer.start(validationPort: freeLoopbackPort())
        defer { Task { await ca.stop() } }
        let bind = try await BIND.start(zone: "mybinder.org", otherZones: ["org"])
        defer { bind.stop() }
        let admin = fakeClient(server)
        try await GatewayReadTests().create(admin, issuer: "gateway")
        let project = try PodRBACTests.project(server, "gateway-check")
        try Self.writeIssuer(in: project, server: ca.directoryURL)
        // The responder listens on a loopback port and is fetched there, as the Gateway would
        // route each host's challenge path to the solver Service.
        let port = freeLoopbackPort()
        let result = try await CertctlProcess.run(
            [
                "check", "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--default-issuer", "gateway",
                "--resolver", bind.address, "--http01-listen", "127.0.0.1:\(port)", "--http01-probe-address",
                "127.0.0.1:\(port)",
            ], environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        for host in ["a", "b", "c", "extra"] {
            #expect(
                result.standardOutput.contains(
                    "\(host).mybinder.org: the probe token came back through an HTTPRoute"), "\(result.standardOutput)")
        }
        let log = await server.requestLog
        #expect(log.filter { $0.hasPrefix("create gateway.networking.k8s.io/v1/httproutes prod/ ") }.count == 4)
        #expect(!log.contains { $0.hasPrefix("create networking.k8s.io/v1/ingresses") }, "no solver Ingress")
        #expect(try await admin.list(HTTPRoute.self, namespace: "prod").isEmpty, "the probe's routes are removed")
        #expect(
            try await admin.list(Service.self, namespace: "prod", labelSelector: "certctl.io/http01-solver=true")
                .isEmpty)
    }
}

@Suite("certctl check and the Gateway API")
struct GatewayCheckTests {
    func check(_ server: FakeAPIServer, token: String = "test-token") async -> [Preflight.Result] {
        let client = fakeClient(server, token: token)
        let preflight = Preflight(
            store: KubernetesStore(client: client), scope: .only(["prod"]), issuers: [:], defaultIssuer: nil,
            place: .cluster(client: client, namespace: "prod"), transport: CurlTransport(userAgent: "t"),
            client: client, namespace: "prod", resolver: nil, requestTimeout: .seconds(5),
            logger: Logger(label: "check"))
        return await preflight.run().filter { $0.check == "Gateway API" || $0.check == "permissions" }
    }

    @Test("a cluster without it is noted, not a failure; with it, its certificates are counted and its verbs checked")
    func served() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let without = await check(server)
        #expect(without.contains { $0.outcome == .ok && $0.message.contains("not served by this cluster") })
        try await server.install(customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        try await GatewayReadTests().create(fakeClient(server))
        let with = await check(server)
        #expect(
            with.contains { $0.outcome == .ok && $0.message == "served: 0 certificates from Gateways and ListenerSets" }
        )
        let permissions = try #require(with.first { $0.check == "permissions" })
        #expect(permissions.outcome == .ok, "the admin may do all: \(permissions.message)")
    }
}

@Suite("certctl migrate and Gateways")
struct GatewayMigrateTests {
    @Test(
        "a Certificate cert-manager made for a Gateway is matched by its Secret; one it did not make is named by its Gateway"
    )
    func adopted() async throws {
        let fixture = try await StoreFixture.make(.local, rawManifests: ["gateway.yaml": gatewayManifests])
        defer { Task { await fixture.stop() } }
        let inventory = try await Inventory.load(
            from: fixture.store, scope: .all, issuers: ["local"], defaultIssuer: "local")
        var certificate = MigrateTests.certificate("web-tls", hosts: ["a.mybinder.org", "b.mybinder.org"], owner: nil)
        certificate.spec = certificate.spec?.merging(
            .object(["issuerRef": .object(["name": .string("local"), "kind": .string("ClusterIssuer")])]))
        let migration = Migration.make(
            cluster: "local", certificates: [certificate], inventory: inventory, keyType: "ecdsa-p256", now: Date(),
            profiles: [:])
        let byObject = Dictionary(grouping: migration.items, by: \.object)
        #expect(byObject["Certificate prod/web-tls"]?.map(\.verdict) == ["issue"], "\(migration.items)")
        #expect(byObject["Gateway prod/web"]?.first?.secret == "prod/c-tls")
        #expect(byObject["ListenerSet prod/extra"]?.first?.secret == "prod/extra-tls")
        #expect(!migration.items.contains { $0.object.hasPrefix("Ingress") })
    }
}
