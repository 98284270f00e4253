import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing
import Transport

/// The meta chart with `routing: gateway`: its Gateway and HTTPRoutes as rendered for prod
/// (`tests/chart/gateway-prod.yaml`, kept equal to the rendering by the chart's tests).
@Suite("The meta chart through a Gateway (routing: gateway)", .serialized)
struct MetaChartGatewayTests {
    static let rendered = CertctlProcess.repository.appendingPathComponent("tests/chart/gateway-prod.yaml")

    static func documents() throws -> [[String: Any]] {
        let text = try String(contentsOf: rendered, encoding: .utf8)
        return try text.components(separatedBy: "\n---\n").compactMap { try YAMLText.load($0) as? [String: Any] }
    }

    /// Secret → hosts, and the kinds of the objects asking for each.
    static func certificates(_ inventory: Inventory) -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: inventory.entries.map { ($0.desired.secretName, $0.desired.hosts.sorted()) })
    }

    /// Creates the rendered objects as the admin; each must be accepted.
    static func create(in server: FakeAPIServer) async throws {
        let documents = try Self.documents()
        #expect(documents.count == 9, "a Gateway, the redirect and 7 routes")
        for object in documents {
            let kind = try #require(object["kind"] as? String)
            let plural = kind == "Gateway" ? "gateways" : "httproutes"
            let answer = try await CurlTransport(userAgent: "t").send(
                HTTPRequest(
                    method: .post, url: server.url + "/apis/gateway.networking.k8s.io/v1/namespaces/prod/\(plural)",
                    headers: ["Authorization": "Bearer test-token", "Content-Type": "application/json"],
                    body: Array(try JSONSerialization.data(withJSONObject: object)), tls: server.tls))
            #expect(answer.status == 201, "\(kind): \(String(decoding: answer.body, as: UTF8.self))")
        }
    }

    @Test(
        "the API server with the Gateway API CRDs accepts the rendered Gateway and routes; they ask for the certificates its Ingresses ask for"
    )
    func accepted() async throws {
        let server = try await FakeAPIServer.start(customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        defer { Task { await server.stop() } }
        try await Self.create(in: server)
        let issuers: Set<IssuerKey> = ["letsencrypt-prod"]
        let throughGateway = try await Inventory.load(
            from: KubernetesStore(client: fakeClient(server)), scope: .only(["prod"]), issuers: issuers,
            defaultIssuer: "letsencrypt-prod")
        #expect(throughGateway.problems.isEmpty, "\(throughGateway.problems)")
        let throughIngresses = try await Inventory.load(
            from: LocalDirectoryStore(
                manifests: CertctlProcess.repository.appendingPathComponent("ingress").path,
                state: FileManager.default.temporaryDirectory.appendingPathComponent("unused-\(UUID())").path),
            scope: .all, issuers: issuers, defaultIssuer: "letsencrypt-prod")
        #expect(Self.certificates(throughIngresses).count == 7)
        #expect(Self.certificates(throughGateway) == Self.certificates(throughIngresses))
        #expect(throughGateway.entries.allSatisfy { $0.desired.objectNames == ["Gateway/mybinder"] })
    }

    @Test("moving from the Ingresses to the Gateway keeps every certificate: nothing is ordered, during or after")
    func move() async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let project = try LocalProject.make(server: ca.directoryURL, sites: [])
        let manifests = project.directory.appendingPathComponent("ingress")
        let ingresses = try FileManager.default.contentsOfDirectory(
            at: CertctlProcess.repository.appendingPathComponent("ingress"), includingPropertiesForKeys: nil)
        for file in ingresses {
            try FileManager.default.copyItem(at: file, to: manifests.appendingPathComponent(file.lastPathComponent))
        }
        let arguments = ["run"] + LocalProject.flags + ["--http01-listen", "127.0.0.1:\(port)"]
        let first = try await CertctlProcess.run(arguments, directory: project.directory)
        #expect(first.status == 0, "\(first.standardOutput)\(first.standardError)")
        #expect(await ca.orders.count == 7)

        // During the move: the Ingresses and the Gateway side by side, one certificate each.
        try FileManager.default.copyItem(at: Self.rendered, to: manifests.appendingPathComponent("gateway.yaml"))
        let during = try await CertctlProcess.run(arguments, directory: project.directory)
        #expect(during.status == 0, "\(during.standardOutput)\(during.standardError)")
        let discovered = try await CertctlProcess.run(
            ["discover"] + LocalProject.flags, directory: project.directory)
        #expect(discovered.standardOutput.contains("Gateway/mybinder"), "\(discovered.standardOutput)")

        // After: the Gateway alone.
        for file in ingresses {
            try FileManager.default.removeItem(at: manifests.appendingPathComponent(file.lastPathComponent))
        }
        let after = try await CertctlProcess.run(arguments, directory: project.directory)
        #expect(after.status == 0, "\(after.standardOutput)\(after.standardError)")
        #expect(await ca.orders.count == 7, "no certificate ordered again")
        let inventory = try await Inventory.load(
            from: project.store, scope: .all, issuers: ["local"], defaultIssuer: "local")
        #expect(inventory.entries.count == 7)
        for entry in inventory.entries {
            let secret = try #require(try await project.store.secret(namespace: "prod", name: entry.desired.secretName))
            #expect(CurrentCertificate(secret: secret).summary?.dnsNames.sorted() == entry.desired.hosts.sorted())
        }
    }

    @Test(
        "as the chart runs it (its Role with gatewayAPI, its issuers' HTTP-01 through routes): every certificate issued through HTTPRoutes on the Gateway's http listener, none left"
    )
    func pod() async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let rules = try PodRBACTests.chartRole(namespace: "prod").rules + GatewayPodTests.gatewayRules
        let server = try await FakeAPIServer.start(
            users: [.admin(), .serviceAccount("prod", "certctl", token: PodRBACTests.jobToken, rules: rules)],
            customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        defer { Task { await server.stop() } }
        try await Self.create(in: server)
        let project = try PodRBACTests.project(server, "meta-chart-gateway")
        // The solver as mybinder/config/gateway.yaml sets it (tests/chart/test_chart.py checks the rendering).
        try """
        kind: ClusterIssuer
        metadata: {name: letsencrypt-prod}
        spec:
          acme:
            server: \(ca.directoryURL)
            privateKeySecretRef: {name: letsencrypt-prod}
            solvers:
            - http01:
                gatewayHTTPRoute:
                  parentRefs: [{name: mybinder, sectionName: http}]
        """.write(
            to: project.folder.appendingPathComponent("issuers/letsencrypt-prod.yaml"), atomically: true,
            encoding: .utf8)
        let arguments = project.runArguments(
            issuer: "letsencrypt-prod", port: port, ["--http01-self-check-passes", "0"])
        let run = try await CertctlProcess.run(
            arguments, environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
        #expect(await ca.orders.count == 7)
        let log = await server.requestLog
        let created = log.filter {
            $0.hasPrefix("create gateway.networking.k8s.io/v1/httproutes prod/ ") && $0.hasSuffix(PodRBACTests.jobUser)
        }
        #expect(created.count == 9, "one route per host: \(created.count)")
        let admin = fakeClient(server)
        let routes = try await admin.list(HTTPRoute.self, namespace: "prod")
        #expect(routes.count == 8, "the chart's own routes stay; the solver's are removed")
        #expect(!routes.contains { ($0.metadata.name ?? "").hasPrefix("certctl-http01-") })
        let events = try await admin.list(Event.self, namespace: "prod")
        #expect(events.count == 7 && events.allSatisfy { $0.regarding?.kind == "Gateway" })
    }
}
