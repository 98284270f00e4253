import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing
import Transport

/// `certctl migrate` on a cluster shaped like mybinder's: two ClusterIssuers, seven Ingresses,
/// the Certificates ingress-shim made for them and their Secrets, served by the fake from
/// cert-manager's CRDs.
@Suite("certctl migrate", .serialized)
struct MigrateTests {
    static let sites: [(ingress: String, hosts: [String])] = [
        ("binder", ["mybinder.org"]), ("hub", ["hub.mybinder.org"]), ("static", ["static.mybinder.org"]),
        ("grafana", ["grafana.mybinder.org"]), ("prometheus", ["prometheus.mybinder.org"]),
        ("federation-redirect", ["gke.mybinder.org"]),
        ("redirector", ["www.mybinder.org", "beta.mybinder.org", "docs.mybinder.org"]),
    ]

    static func certificate(
        _ name: String, hosts: [String], owner: String?, key: String = "ECDSA", extra: [String: JSONValue] = [:]
    ) -> CertificateObject {
        var spec: [String: JSONValue] = [
            "secretName": .string(name), "dnsNames": .array(hosts.map { .string($0) }),
            "issuerRef": .object([
                "name": .string("letsencrypt-prod"), "kind": .string("ClusterIssuer"),
                "group": .string("cert-manager.io"),
            ]),
            "privateKey": .object(["algorithm": .string(key), "size": JSONValue(key == "RSA" ? 2048 : 256)]),
        ]
        spec.merge(extra) { $1 }
        var metadata = ObjectMeta(name: name, namespace: "prod")
        if let owner {
            metadata.ownerReferences = [
                OwnerReference(
                    apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: owner,
                    uid: UUID().uuidString.lowercased(),
                    controller: true)
            ]
        }
        return CertificateObject(metadata: metadata, spec: .object(spec))
    }

    @Test("a mybinder-like cluster: adopt, renew, issue, decisions and what cannot be carried, line by line")
    func mybinder() async throws {
        let server = try await FakeAPIServer.start(customResourceDefinitions: FakeAPIServer.certManagerCRDs)
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        for name in ["letsencrypt-prod", "letsencrypt-staging"] {
            _ = try await admin.create(
                ClusterIssuerTests.clusterIssuer(
                    name, spec: ClusterIssuerTests.acme("https://acme-\(name).example.org/directory", account: name)))
        }
        let authority = try TestCertificateAuthority()
        for (index, site) in Self.sites.enumerated() {
            let secret = "kubelego-tls-\(site.ingress)"
            _ = try await admin.create(
                ingress(
                    "prod", site.ingress, annotations: ["cert-manager.io/cluster-issuer": "letsencrypt-prod"],
                    tls: [(site.hosts, secret)]))
            let extra: [String: JSONValue] =
                site.ingress == "grafana"
                ? [
                    "keystores": .object([
                        "pkcs12": .object([
                            "create": .bool(true),
                            "passwordSecretRef": .object(["name": .string("p12"), "key": .string("password")]),
                        ])
                    ])
                ] : [:]
            _ = try await admin.create(
                Self.certificate(
                    secret, hosts: site.hosts, owner: site.ingress, key: site.ingress == "hub" ? "RSA" : "ECDSA",
                    extra: extra))
            guard site.ingress != "static" else { continue }  // its Secret is gone: issued at the first run
            let key = try PrivateKey(generating: site.ingress == "hub" ? .rsa2048 : .ecdsaP256)
            // prometheus's is 70 days into 90: past the 2/3 rule, renewed at the first run.
            let notBefore = Date().addingTimeInterval(
                (site.ingress == "prometheus" ? -70 : -10) * 86_400 - Double(index))
            let pem = try authority.issuePEM(
                for: key, names: site.hosts, notBefore: notBefore, notAfter: notBefore.addingTimeInterval(90 * 86_400))
            _ = try await admin.create(
                tlsSecret(
                    "prod", secret,
                    data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]))
        }
        // A Certificate of cert-manager's own, with no Ingress.
        _ = try await admin.create(Self.certificate("wildcard-tls", hosts: ["*.mybinder.org"], owner: nil))

        let project = try PodProject.make(server, name: "migrate")
        let before = await server.requestLog.count
        let result = try await CertctlProcess.run(
            ["migrate", "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--issuers-from-cluster", "-n", "prod"],
            directory: project.folder)
        #expect(result.status == 1, "something needs a decision: \(result.standardOutput)\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map {
            $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        }
        let expected = [
            "VERDICT OBJECT SECRET WHAT HAPPENS",
            "adopt Certificate prod/kubelego-tls-binder prod/kubelego-tls-binder the Secret is kept, no new order; renewed from",
            "adopt Certificate prod/kubelego-tls-federation-redirect prod/kubelego-tls-federation-redirect the Secret is kept, no new order; renewed from",
            "not carried Certificate prod/kubelego-tls-grafana prod/kubelego-tls-grafana spec.keystores (JKS, PKCS#12): certctl writes tls.crt and tls.key only",
            "adopt Certificate prod/kubelego-tls-grafana prod/kubelego-tls-grafana the Secret is kept, no new order; renewed from",
            "decide Certificate prod/kubelego-tls-hub prod/kubelego-tls-hub cert-manager made RSA 2048 keys; certctl will make ecdsa-p256: annotate the Ingress with cert-manager.io/private-key-algorithm: RSA to keep them",
            "adopt Certificate prod/kubelego-tls-hub prod/kubelego-tls-hub the Secret is kept, no new order; renewed from",
            "renew Certificate prod/kubelego-tls-prometheus prod/kubelego-tls-prometheus the first run renews it: past its renewal time",
            "adopt Certificate prod/kubelego-tls-redirector prod/kubelego-tls-redirector the Secret is kept, no new order; renewed from",
            "issue Certificate prod/kubelego-tls-static prod/kubelego-tls-static no Secret yet: the first run issues it",
            "not carried Certificate prod/wildcard-tls prod/wildcard-tls no managed Ingress names this Secret: certctl keeps only the certificates of Ingress spec.tls entries (annotate an Ingress, or keep cert-manager for it)",
        ]
        #expect(lines.count >= expected.count + 1, "\(result.standardOutput)")
        for (index, line) in expected.enumerated() where index < lines.count {
            #expect(lines[index].hasPrefix(line), "line \(index): \(lines[index])")
        }
        #expect(
            result.standardOutput.contains("10 lines for cluster fake: 3 need a decision."), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("1. scale cert-manager to zero"))

        let json = try await CertctlProcess.run(
            [
                "migrate", "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--issuers-from-cluster", "-n", "prod",
                "-o", "json",
            ], directory: project.folder)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        #expect(object["needsDecision"] as? Bool == true)
        #expect((object["items"] as? [[String: Any]])?.count == 10)
        // Read only: migrate's requests are gets and lists.
        let made = Array(await server.requestLog.dropFirst(before))
        #expect(!made.isEmpty && made.allSatisfy { $0.hasPrefix("get ") || $0.hasPrefix("list ") }, "\(made)")
    }
}
