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
        "an ACME ClusterIssuer and a namespaced Issuer are used like files; a CA issuer is passed over; a name in both places is an error naming both"
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

        // The same name as a file too: refused, naming both.
        try IssueCommandTests.issuerYAML(server: ca.directoryURL, name: "in-cluster").write(
            to: project.folder.appendingPathComponent("issuers/in-cluster.yaml"), atomically: true, encoding: .utf8)
        let twice = try await CertctlProcess.run(["discover"] + common, directory: project.folder)
        #expect(twice.status == 64, "\(twice.standardError)")
        #expect(
            twice.standardError.contains(
                "cluster fake (ClusterIssuer in-cluster): the issuer \"in-cluster\" is also defined in issuers/in-cluster.yaml (ClusterIssuer in-cluster); keep one"
            ), "\(twice.standardError)")
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
