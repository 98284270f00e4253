import Basics
import CertctlCore
import CertctlTestSupport
import Foundation
import Kubernetes
import Testing
import Transport

/// `--issuers-from-cluster`: cert-manager's ClusterIssuer and Issuer objects, served by the fake
/// from cert-manager's CRDs as a real server serves custom resources.
@Suite("Issuers read from the cluster", .serialized)
struct ClusterIssuerTests {
    static func clusterIssuer(_ name: String, spec: JSONValue) -> ClusterIssuerObject {
        ClusterIssuerObject(metadata: ObjectMeta(name: name), spec: spec)
    }

    static func acme(_ server: String, account: String) -> JSONValue {
        .object([
            "acme": .object([
                "server": .string(server), "privateKeySecretRef": .object(["name": .string(account)]),
                "solvers": .array([.object(["http01": .object(["ingress": .object([:])])])]),
            ])
        ])
    }

    @Test(
        "an ACME ClusterIssuer and a namespaced Issuer are used like files; a CA issuer is passed over; two objects of one name are an error naming both"
    )
    func fromCluster() async throws {
        let server = try await FakeAPIServer.start(customResourceDefinitions: FakeAPIServer.certManagerCRDs)
        defer { Task { await server.stop() } }
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let admin = fakeClient(server)
        _ = try await admin.create(
            Self.clusterIssuer("in-cluster", spec: Self.acme(ca.directoryURL, account: "in-cluster-account")))
        _ = try await admin.create(
            Self.clusterIssuer("internal-ca", spec: .object(["ca": .object(["secretName": .string("root")])])))
        _ = try await admin.create(
            IssuerObject(
                metadata: ObjectMeta(name: "team", namespace: "prod"),
                spec: Self.acme(ca.directoryURL, account: "team-account")))
        _ = try await admin.create(
            ingress(
                "prod", "hub", annotations: ["cert-manager.io/cluster-issuer": "in-cluster"],
                tls: [(["hub.mybinder.org"], "tls-hub")]))
        _ = try await admin.create(
            ingress(
                "prod", "team", annotations: ["cert-manager.io/issuer": "team"],
                tls: [(["team.mybinder.org"], "tls-team")]))
        let project = try PodProject.make(server, name: "cluster-issuers")
        let common = ["--kubeconfig", "kubeconfig", "--issuers", "issuers", "--issuers-from-cluster", "-n", "prod"]

        let discovered = try await CertctlProcess.run(["discover"] + common, directory: project.folder)
        #expect(discovered.status == 0, "\(discovered.standardOutput)\(discovered.standardError)")
        #expect(discovered.standardOutput.contains("2 certificates in fake"), "\(discovered.standardOutput)")

        let run = try await CertctlProcess.run(
            ["run", "--http01-listen", "127.0.0.1:\(port)", "--http01-self-check-passes", "0", "--log-level", "notice"]
                + common,
            environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
        #expect(run.standardOutput.contains("2 certificates in fake: 2 issued"), "\(run.standardOutput)")
        #expect(
            run.standardError.contains(
                "ClusterIssuer internal-ca (cluster fake) is not an ACME issuer; certctl passes it over"))
        for name in ["tls-hub", "tls-team"] {
            let secret = try await admin.get(Secret.self, namespace: "prod", name: name)
            #expect(
                secret.metadata.annotations?["cert-manager.io/issuer-kind"]
                    == (name == "tls-hub" ? "ClusterIssuer" : "Issuer"))
        }

    }

    @Test(
        "an Issuer serves its own namespace alone: same-named Issuers side by side, each with its account in its namespace; another namespace's Issuer is not borrowed"
    )
    func issuersByNamespace() async throws {
        let server = try await FakeAPIServer.start(customResourceDefinitions: FakeAPIServer.certManagerCRDs)
        defer { Task { await server.stop() } }
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let admin = fakeClient(server)
        // The usual cert-manager layout: each team an Issuer `letsencrypt`, the same account
        // Secret name; a ClusterIssuer of that name too.
        _ = try await admin.create(
            Self.clusterIssuer("letsencrypt", spec: Self.acme(ca.directoryURL, account: "letsencrypt-account")))
        for team in ["team-a", "team-b"] {
            _ = try await admin.create(Namespace(metadata: ObjectMeta(name: team)))
            _ = try await admin.create(
                IssuerObject(
                    metadata: ObjectMeta(name: "letsencrypt", namespace: team),
                    spec: Self.acme(ca.directoryURL, account: "letsencrypt-account")))
            _ = try await admin.create(
                ingress(
                    team, "site", annotations: ["cert-manager.io/issuer": "letsencrypt"],
                    tls: [(["\(team).mybinder.org"], "tls-site")]))
        }
        // team-b's own Issuer, with an EAB key in team-b; team-a asks for it by name.
        _ = try await admin.create(
            IssuerObject(
                metadata: ObjectMeta(name: "team-b", namespace: "team-b"),
                spec: Self.acme(ca.directoryURL, account: "team-b-account")))
        _ = try await admin.create(
            ingress(
                "team-a", "borrow", annotations: ["cert-manager.io/issuer": "team-b"],
                tls: [(["borrow.mybinder.org"], "tls-borrow")]))
        _ = try await admin.create(
            ingress(
                "team-a", "shared", annotations: ["cert-manager.io/cluster-issuer": "letsencrypt"],
                tls: [(["shared.mybinder.org"], "tls-shared")]))
        let project = try PodProject.make(server, name: "issuer-scope")
        let common = [
            "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--issuers-from-cluster", "-n", "team-a", "-n",
            "team-b",
        ]
        let run = try await CertctlProcess.run(
            ["run", "--http01-listen", "127.0.0.1:\(port)", "--http01-self-check-passes", "0"] + common,
            environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(run.status == 1, "a misconfigured object: \(run.standardOutput)\(run.standardError)")
        #expect(run.standardOutput.contains("3 issued"), "\(run.standardOutput)")
        #expect(
            run.standardOutput.contains(
                "Ingress team-a/borrow: names the Issuer \"team-b\", which namespace team-a does not have; Issuer team-b/team-b serves only its own namespace's objects"
            ), "\(run.standardOutput)")
        await #expect(throws: (any Error).self) {
            try await admin.get(Secret.self, namespace: "team-a", name: "tls-borrow")
        }
        // Each Issuer's account in its own namespace, the ClusterIssuer's in certctl's (prod).
        var accounts: Set<String> = []
        for namespace in ["team-a", "team-b", "prod"] {
            let account = try await admin.get(Secret.self, namespace: namespace, name: "letsencrypt-account")
            accounts.insert(account.metadata.annotations?["certctl.io/account-url"] ?? "")
        }
        #expect(accounts.count == 3, "three accounts, one per issuer: \(accounts)")
        for team in ["team-a", "team-b"] {
            let secret = try await admin.get(Secret.self, namespace: team, name: "tls-site")
            #expect(secret.metadata.annotations?["cert-manager.io/issuer-kind"] == "Issuer")
        }
        let shared = try await admin.get(Secret.self, namespace: "team-a", name: "tls-shared")
        #expect(shared.metadata.annotations?["cert-manager.io/issuer-kind"] == "ClusterIssuer")
        #expect(await ca.orders.count == 3)
    }

    @Test(
        "a tenant's Issuer with any value of an issuer annotation stops nothing; a valid one is used (a chain reaches the ClusterIssuer)",
        arguments: [
            (IssuerLoader.fallbackAnnotation, "ClusterIssuer/in-cluster"),
            (RateLimits.annotation, "orders=300/3h, domain=50/168h"),
        ])
    func hostileFallbacks(annotation: String, valid: String) async throws {
        let tenants = (0...HostileValueTests.values.count).map { "t\($0)" }
        let server = try await FakeAPIServer.start(
            namespaces: FakeAPIServer.testNamespaces + tenants, customResourceDefinitions: FakeAPIServer.certManagerCRDs
        )
        defer { Task { await server.stop() } }
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let admin = fakeClient(server)
        _ = try await admin.create(
            Self.clusterIssuer("in-cluster", spec: Self.acme(ca.directoryURL, account: "in-cluster-account")))
        let namespaces = tenants
        for (index, value) in (HostileValueTests.values.map(\.text) + [valid]).enumerated() {
            let namespace = tenants[index]
            _ = try await admin.create(
                IssuerObject(
                    metadata: ObjectMeta(
                        name: "le", namespace: namespace, annotations: [annotation: value]),
                    spec: Self.acme(ca.directoryURL, account: "le-account")))
            _ = try await admin.create(
                ingress(
                    namespace, "site", annotations: ["cert-manager.io/issuer": "le"],
                    tls: [(["site\(index).mybinder.org"], "tls-site")]))
        }
        _ = try await admin.create(
            ingress(
                "prod", "hub", annotations: ["cert-manager.io/cluster-issuer": "in-cluster"],
                tls: [(["hub.mybinder.org"], "tls-hub")]))
        let project = try PodProject.make(server, name: "hostile-fallbacks")
        let scope = (namespaces + ["prod"]).flatMap { ["-n", $0] }
        let run = try await CertctlProcess.run(
            ["run", "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--issuers-from-cluster"] + scope + [
                "--http01-listen", "127.0.0.1:\(port)", "--http01-self-check-passes", "0", "--log-level", "notice",
            ], environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(run.status <= 2, "\(run.standardOutput)\(run.standardError)")
        _ = try await admin.get(Secret.self, namespace: "prod", name: "tls-hub")
        // The valid value is used: no note for it, and its namespace's certificate is issued.
        let last = namespaces.last ?? ""
        #expect(!run.standardError.contains("namespace \(last)): \(annotation)"), "\(run.standardError)")
        _ = try await admin.get(Secret.self, namespace: last, name: "tls-site")
        // Every hostile value is either a valid chain to an undefined issuer (said, with what to
        // do) or an Issuer passed over naming the annotation; its namespace gets no certificate.
        for (index, namespace) in namespaces.dropLast().enumerated() {
            let value = HostileValueTests.values[index]
            let stored = try? await admin.get(Secret.self, namespace: namespace, name: "tls-site")
            let note = run.standardError.split(separator: "\n").first {
                $0.contains("Issuer \"le\" (cluster fake, namespace \(namespace)) is passed over")
            }
            if let note {
                #expect(note.contains(annotation), "\(value.what): \(note)")
                #expect(stored == nil)
            } else {
                #expect(stored != nil, "\(value.what): \(run.standardError.suffix(3000))")
            }
        }
    }

    @Test("a namespaced Issuer may not run a program in certctl's pod (dns01.exec); a ClusterIssuer may")
    func execOnlyClusterWide() throws {
        let spec: [String: Any] = [
            "acme": [
                "server": "https://127.0.0.1:1/dir", "privateKeySecretRef": ["name": "k"],
                "solvers": [["dns01": ["exec": ["command": "/bin/sh", "args": ["-c", "id"]]]]],
            ]
        ]
        let issuer = try #require(
            try IssuerLoader.issuer(kind: "Issuer", name: "mine", spec: spec, source: "cluster fake, namespace a"))
        #expect(throws: CertctlError.self) { try issuer.scoped(to: "a") }
        let eab = try #require(
            try IssuerLoader.issuer(
                kind: "Issuer", name: "eab",
                spec: [
                    "acme": [
                        "server": "https://127.0.0.1:1/dir", "privateKeySecretRef": ["name": "k"],
                        "externalAccountBinding": ["keyID": "id", "keySecretRef": ["name": "eab", "key": "k"]],
                    ]
                ], source: "cluster fake, namespace a"))
        let scoped = try eab.scoped(to: "a")
        #expect(scoped.externalAccountBinding?.keySecret.namespace == "a")
        #expect(scoped.key == IssuerKey(name: "eab", namespace: "a"))
    }

    @Test(
        "moving off cert-manager with the chart: a ClusterIssuer named like a bundled issuer file is used, the file set aside with one warning in the run and in check"
    )
    func namedLikeABundledFile() async throws {
        let server = try await FakeAPIServer.start(customResourceDefinitions: FakeAPIServer.certManagerCRDs)
        defer { Task { await server.stop() } }
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let admin = fakeClient(server)
        // mybinder.org's ClusterIssuer from its cert-manager days, at the test CA.
        _ = try await admin.create(
            Self.clusterIssuer("letsencrypt-prod", spec: Self.acme(ca.directoryURL, account: "letsencrypt-prod")))
        _ = try await admin.create(
            ingress(
                "prod", "hub", annotations: ["cert-manager.io/cluster-issuer": "letsencrypt-prod"],
                tls: [(["hub.mybinder.org"], "tls-hub")]))
        let project = try PodProject.make(server, name: "bundled-clash")
        // The chart's bundled issuer files, as its ConfigMap mounts them (letsencrypt-prod among them).
        let bundled = CertctlProcess.repository.appendingPathComponent("mybinder/charts/certctl/files/issuers")
        for file in try FileManager.default.contentsOfDirectory(at: bundled, includingPropertiesForKeys: nil) {
            try FileManager.default.copyItem(
                at: file, to: project.folder.appendingPathComponent("issuers/\(file.lastPathComponent)"))
        }
        let common = [
            "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--issuers-from-cluster", "-n", "prod",
            "--default-issuer", "letsencrypt-prod",
        ]
        let note =
            "the issuer \"letsencrypt-prod\" of cluster fake (ClusterIssuer letsencrypt-prod) is used; issuers/letsencrypt-prod.yaml (ClusterIssuer letsencrypt-prod) of the same name is set aside (delete or rename the file to silence this)"
        let run = try await CertctlProcess.run(
            ["run", "--http01-listen", "127.0.0.1:\(port)", "--http01-self-check-passes", "0"] + common,
            environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
        #expect(await ca.orders.count == 1, "issued by the cluster's issuer, at the test CA")
        let said = run.standardOutput.components(separatedBy: note).count - 1
        #expect(said == 1, "warned once in the summary: \(run.standardOutput)")
        let check = try await CertctlProcess.run(
            ["check"] + common, environment: ["POD_NAMESPACE": "prod"], directory: project.folder)
        #expect(
            check.standardOutput.contains("warn  issuers      \(note)"), "\(check.standardOutput)\(check.standardError)"
        )
    }

    @Test("a cluster without cert-manager's CRDs: the issuers of --issuers, and a note")
    func withoutCRDs() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        _ = try await fakeClient(server).create(ingress("prod", "hub", tls: [(["hub.mybinder.org"], "tls-hub")]))
        let project = try PodProject.make(server, name: "no-crds")
        try project.writeIssuer("pebble", server: "https://127.0.0.1:1/dir")
        let result = try await CertctlProcess.run(
            [
                "discover", "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--default-issuer", "pebble",
                "--issuers-from-cluster", "-n", "prod", "--log-level", "notice",
            ], directory: project.folder)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("1 certificate in fake"))
        #expect(
            result.standardError.contains("cluster fake has no cert-manager CRDs (cert-manager.io/v1)"),
            "\(result.standardError)")
    }
}
