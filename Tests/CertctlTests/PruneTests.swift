import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing

/// Orphans (Secrets certctl made that nothing names any more) and `certctl prune`, on both
/// cluster seams, against Pebble (README "What nobody asks for any more").
@Suite("Orphaned Secrets and certctl prune", .serialized)
struct PruneTests {
    static let orphanReason =
        "certctl made it (app.kubernetes.io/managed-by: certctl) and no Ingress or Gateway in scope names it any more"

    @Test(
        "local: an Ingress removed leaves its Secret orphaned in status, metrics and check; prune lists it, --delete --revoke revokes and removes only it"
    )
    func local() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let project = try LocalProject.make(server: pebble.directoryURL, sites: ["hub", "docs"])
        func certctl(_ arguments: [String]) async throws -> CertctlProcess.Result {
            try await CertctlProcess.run(arguments + LocalProject.flags, directory: project.directory)
        }
        #expect(try await certctl(["run", "--http01-listen", "127.0.0.1:\(port)"]).status == 0)
        // A TLS Secret someone else made, that nothing names: not certctl's, never touched.
        let authority = try TestCertificateAuthority()
        _ = try await project.seedCertificate("byhand", startDays: -1, authority: authority)
        let docs = try #require(try await project.store.secret(namespace: "prod", name: "tls-docs"))
        let docsSerial = try #require(CurrentCertificate(secret: docs).summary?.serialHex)
        try FileManager.default.removeItem(at: project.directory.appendingPathComponent("ingress/docs.yaml"))

        let status = try await certctl(["status"])
        #expect(status.status == 1, "a problem to look at: \(status.standardOutput)")
        #expect(
            status.standardOutput.contains("problem  Secret prod/tls-docs: \(Self.orphanReason)"),
            "\(status.standardOutput)")
        #expect(!status.standardOutput.contains("tls-byhand"))
        let inventory = try await Inventory.load(
            from: project.store, scope: .all, issuers: ["local"], defaultIssuer: "local")
        #expect(inventory.orphans == ["prod/tls-docs"])
        let metrics = CertificateMetrics.render(
            CertificateStatus.all(in: inventory, issuers: [:], now: Date()), problems: inventory.problems)
        #expect(metrics.contains(#"certctl_problems{namespace="prod",kind="orphaned"} 1"#), "\(metrics)")
        let check = try await certctl(["check", "--resolver", "127.0.0.1:1"])
        #expect(check.standardOutput.contains("warn  object       Secret prod/tls-docs: \(Self.orphanReason)"))

        let listed = try await certctl(["prune"])
        #expect(listed.status == 0)
        #expect(
            listed.standardOutput == """
                orphaned  Secret prod/tls-docs
                1 orphaned Secret in local; certctl prune --delete removes them (--revoke: revokes each certificate first)

                """, "\(listed.standardOutput)")
        #expect(try await project.store.secret(namespace: "prod", name: "tls-docs") != nil, "listing changes nothing")

        let pruned = try await certctl(["prune", "--delete", "--revoke"])
        #expect(pruned.status == 0, "\(pruned.standardOutput)\(pruned.standardError)")
        #expect(pruned.standardOutput == "deleted   Secret prod/tls-docs (its certificate revoked)\n")
        #expect(try await pebble.certificateStatus(serial: docsSerial)?.reason == 5, "cessationOfOperation")
        #expect(try await project.store.secret(namespace: "prod", name: "tls-docs") == nil)
        #expect(try await project.store.secret(namespace: "prod", name: "tls-hub") != nil)
        #expect(try await project.store.secret(namespace: "prod", name: "tls-byhand") != nil)
        #expect(try await certctl(["prune"]).standardOutput == "no orphaned Secret in local\n")
        #expect(try await certctl(["status"]).status == 0)
    }

    @Test(
        "in a cluster: an Ingress without the annotation still naming a Secret keeps it; a Secret without certctl's label is never deleted"
    )
    func cluster() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        let made = ["app.kubernetes.io/managed-by": "certctl"]
        // certctl made all three; only "gone" is named by nothing.
        for name in ["gone", "served", "wanted"] {
            _ = try await admin.create(tlsSecret("prod", "tls-\(name)", labels: made))
        }
        _ = try await admin.create(tlsSecret("prod", "tls-other"))
        _ = try await admin.create(ingress("prod", "wanted", tls: [(["wanted.mybinder.org"], "tls-wanted")]))
        _ = try await admin.create(
            ingress("prod", "served", annotations: [:], tls: [(["served.mybinder.org"], "tls-served")]))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prune-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("issuers"), withIntermediateDirectories: true)
        try IssueCommandTests.issuerYAML(server: "https://127.0.0.1:1/dir").write(
            to: folder.appendingPathComponent("issuers/local.yaml"), atomically: true, encoding: .utf8)
        try server.kubeconfig(namespace: "prod").write(
            to: folder.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
        let common = ["--kubeconfig", "kubeconfig", "--issuers", "issuers", "--default-issuer", "local"]

        let listed = try await CertctlProcess.run(["prune"] + common, directory: folder)
        #expect(listed.standardOutput.hasPrefix("orphaned  Secret prod/tls-gone\n1 orphaned Secret in fake"))
        let pruned = try await CertctlProcess.run(["prune", "--delete"] + common, directory: folder)
        #expect(pruned.status == 0, "\(pruned.standardOutput)\(pruned.standardError)")
        #expect(pruned.standardOutput == "deleted   Secret prod/tls-gone\n")
        let left = Set(try await admin.list(Secret.self, namespace: "prod").compactMap(\.metadata.name))
        #expect(left == ["tls-served", "tls-wanted", "tls-other"])
        let log = await server.requestLog.filter { $0.hasPrefix("delete") }
        #expect(log.count == 1 && log.first?.hasPrefix("delete v1/secrets prod/tls-gone") == true, "\(log)")
    }
}

@Suite("Orders kept for certificates nothing asks for any more")
struct StaleOrderTests {
    @Test(
        "forgotten by the run that reads its issuer's orders; one of a namespace outside the run's scope stays, as does a wanted one's"
    )
    func forgotten() async throws {
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let run = try await RunFixture.make(
            .local, ingresses: siteIngresses(2), server: ca.directoryURL, caBundle: nil, port: port)
        defer { Task { await run.fixture.stop() } }
        let orders = LocalOrderStore(stateDirectory: run.fixture.directory.appendingPathComponent("state").path)
        let issuer = try #require(try IssuerLoader.parse(run.issuerYAML, source: "issuers/pebble.yaml").first)
        for id in ["prod/kubelego-tls-gone", "staging/kubelego-tls-elsewhere", "prod/kubelego-tls-site1"] {
            try await orders.save(
                OrderInFlight(
                    certificate: id, issuer: issuer.name, account: nil, orderURL: "\(ca.directoryURL)/order/none",
                    names: ["gone.mybinder.org"], profile: nil, replaces: nil,
                    key: try PrivateKey(generating: .ecdsaP256),
                    since: Date()), for: issuer)
        }
        // Only site0 is due in this run; site1's kept order belongs to a wanted certificate.
        let (report, _) = try await run.runOnce {
            $0.scope = .only(["prod"])
            $0.only = ["prod/kubelego-tls-site0"]
        }
        #expect(report.certificates.map(\.outcome) == [.issued], "\(report.certificates)")
        let left = try await orders.orders(for: issuer).orders.keys.sorted()
        #expect(left == ["prod/kubelego-tls-site1", "staging/kubelego-tls-elsewhere"], "\(left)")
    }
}
