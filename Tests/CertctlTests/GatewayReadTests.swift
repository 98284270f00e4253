import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing

/// A Gateway `web` in `prod` for the issuer `local`: listeners `a` and `b` share Secret `web-tls`,
/// `c` has `c-tls`; a ListenerSet `extra` attached to it with Secret `extra-tls`.
let gatewayManifests = """
    apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: web, namespace: prod, annotations: {cert-manager.io/cluster-issuer: local}}
    spec:
      gatewayClassName: traefik
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
    }

    /// The objects of `gatewayManifests`, created through the API.
    func create(_ client: KubernetesClient) async throws {
        for document in gatewayManifests.components(separatedBy: "---\n") {
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
        try await create(store.client)
        let with = try await Inventory.load(
            from: store, scope: .only(["prod"]), issuers: ["local"], defaultIssuer: "local")
        #expect(with.servesGatewayAPI)
        #expect(hosts(with) == expected)
        #expect(with.problems.isEmpty, "\(with.problems)")
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
