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

        // Two objects of the cluster with one name: refused, naming both.
        _ = try await admin.create(
            IssuerObject(
                metadata: ObjectMeta(name: "in-cluster", namespace: "prod"),
                spec: Self.acme(ca.directoryURL, account: "other")))
        let twice = try await CertctlProcess.run(["discover"] + common, directory: project.folder)
        #expect(twice.status == 64, "\(twice.standardError)")
        #expect(
            twice.standardError.contains("the issuer \"in-cluster\" is also cluster fake"), "\(twice.standardError)")
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
