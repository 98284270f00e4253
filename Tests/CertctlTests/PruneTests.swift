import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Logging
import Testing
import Transport

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
        // A problem line wraps to the terminal, under its text.
        #expect(
            status.standardOutput.replacingOccurrences(of: "\n         ", with: " ").contains(
                "problem  Secret prod/tls-docs: \(Self.orphanReason)"),
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
        let pruned = try await CertctlProcess.run(
            ["prune", "--delete", "--certctl-namespace", "prod"] + common, directory: folder)
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

/// `certctl prune --delete` deletes only what it has proven unused (README, "What nobody asks
/// for any more"), through the binary against the fake API server.
@Suite("certctl prune cannot hurt a Secret in use", .serialized)
struct PruneSafetyTests {
    static let made = ["app.kubernetes.io/managed-by": "certctl"]

    /// A folder with a kubeconfig of `token` (namespace prod) and an issuer `local`.
    /// `named`: certctl's own namespace named (prod) rather than found.
    static func folder(_ server: FakeAPIServer, token: String? = nil, named: Bool = true) throws -> (URL, [String]) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prune-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("issuers"), withIntermediateDirectories: true)
        try IssueCommandTests.issuerYAML(server: "https://127.0.0.1:1/dir").write(
            to: folder.appendingPathComponent("issuers/local.yaml"), atomically: true, encoding: .utf8)
        let kubeconfig =
            token.map { server.kubeconfig(token: $0, namespace: "prod") } ?? server.kubeconfig(namespace: "prod")
        try kubeconfig.write(to: folder.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
        let common = ["--kubeconfig", "kubeconfig", "--issuers", "issuers", "--default-issuer", "local"]
        return (folder, common + (named ? ["--certctl-namespace", "prod"] : []))
    }

    @Test(
        "a Gateway outside the scope using it through a ReferenceGrant keeps it; cert-manager's Secret is no orphan; a copy sharing a live serial is not revoked; the rest deleted"
    )
    func provenUnused() async throws {
        let server = try await FakeAPIServer.start(customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        for name in ["gone", "granted"] {
            _ = try await admin.create(tlsSecret("prod", "tls-\(name)", labels: Self.made))
        }
        var certManagers = tlsSecret("prod", "tls-cm", labels: Self.made)
        certManagers.metadata.annotations = ["cert-manager.io/certificate-name": "cm"]
        _ = try await admin.create(certManagers)
        // A wanted Secret, and a labelled copy of its certificate and key that nothing names.
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let pem = try authority.issuePEM(
            for: key, names: ["wanted.mybinder.org"], notBefore: Date().addingTimeInterval(-86_400),
            notAfter: Date().addingTimeInterval(89 * 86_400))
        let data = ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]
        _ = try await admin.create(tlsSecret("prod", "tls-wanted", data: data))
        _ = try await admin.create(tlsSecret("prod", "tls-copy", labels: Self.made, data: data))
        _ = try await admin.create(ingress("prod", "wanted", tls: [(["wanted.mybinder.org"], "tls-wanted")]))
        // Namespace edge (outside the command's scope, prod) serves prod/tls-granted through a grant.
        _ = try await admin.create(
            ReferenceGrant(
                metadata: ObjectMeta(name: "from-edge", namespace: "prod"),
                spec: .init(
                    from: [.init(group: GatewayAPI.group, kind: "Gateway", namespace: "edge")],
                    to: [.init(group: "", kind: "Secret")])))
        _ = try await admin.create(Namespace(metadata: ObjectMeta(name: "edge")))
        _ = try await admin.create(
            gateway("edge", "public", annotations: [:], [https("web", "granted.mybinder.org", ["prod/tls-granted"])]))
        let (folder, common) = try Self.folder(server)

        let listed = try await CertctlProcess.run(["prune"] + common, directory: folder)
        #expect(!listed.standardOutput.contains("tls-cm"), "cert-manager's: \(listed.standardOutput)")
        let pruned = try await CertctlProcess.run(["prune", "--delete", "--revoke"] + common, directory: folder)
        let lines = pruned.standardOutput.split(separator: "\n").map(String.init)
        #expect(pruned.status == 1, "two kept: \(pruned.standardOutput)\(pruned.standardError)")
        #expect(lines.contains("deleted   Secret prod/tls-gone"), "\(lines)")
        #expect(
            lines.contains(
                "kept      Secret prod/tls-granted: Gateway edge/public uses it through ReferenceGrant prod/from-edge"),
            "\(lines)")
        #expect(
            lines.contains {
                $0.hasPrefix("kept      Secret prod/tls-copy: its certificate (serial ")
                    && $0.contains("is also in Secret prod/tls-wanted, which is in use")
            },
            "\(lines)")
        let left = Set(try await admin.list(Secret.self, namespace: "prod").compactMap(\.metadata.name))
        #expect(left == ["tls-granted", "tls-cm", "tls-wanted", "tls-copy"])

        // A copy in a namespace of its own, pruned with -n staging: the live one is out of scope,
        // and still found.
        _ = try await admin.create(Namespace(metadata: ObjectMeta(name: "staging")))
        _ = try await admin.create(tlsSecret("staging", "tls-copy", labels: Self.made, data: data))
        let elsewhere = try await CertctlProcess.run(
            ["prune", "--delete", "--revoke", "-n", "staging"] + common, directory: folder)
        #expect(elsewhere.status == 1, "\(elsewhere.standardOutput)\(elsewhere.standardError)")
        #expect(
            elsewhere.standardOutput.hasPrefix("kept      Secret staging/tls-copy: its certificate (serial ")
                && elsewhere.standardOutput.contains("is also in Secret prod/"), "\(elsewhere.standardOutput)")
        #expect(try await admin.get(Secret.self, namespace: "staging", name: "tls-copy").metadata.name == "tls-copy")
    }

    @Test(
        "a role that may not list Gateways: prune lists, --delete refuses and deletes nothing, naming what it cannot see"
    )
    func partialView() async throws {
        let rules = [
            FakeAPIRule(namespace: "prod", groups: ["networking.k8s.io"], resources: ["ingresses"], verbs: ["list"]),
            FakeAPIRule(
                namespace: "prod", groups: [""], resources: ["secrets", "configmaps"],
                verbs: ["get", "list", "delete"]),
            FakeAPIRule(
                namespace: "prod", groups: ["coordination.k8s.io"], resources: ["leases"],
                verbs: ["get", "create", "patch"]),
        ]
        let server = try await FakeAPIServer.start(
            users: [.admin(), .serviceAccount("prod", "operator", token: "operator-token", rules: rules)],
            customResourceDefinitions: FakeAPIServer.gatewayAPICRDs)
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        _ = try await admin.create(tlsSecret("prod", "tls-gateway", labels: Self.made))
        let (folder, common) = try Self.folder(server, token: "operator-token")
        let listed = try await CertctlProcess.run(["prune"] + common, directory: folder)
        #expect(listed.standardOutput.contains("orphaned  Secret prod/tls-gateway"), "\(listed.standardOutput)")
        let refused = try await CertctlProcess.run(["prune", "--delete"] + common, directory: folder)
        #expect(refused.status != 0)
        #expect(
            refused.standardError.contains("refused: certctl cannot see everything that may use these Secrets")
                && refused.standardError.contains("may not list gateways"),
            "\(refused.standardError)")
        #expect(try await admin.get(Secret.self, namespace: "prod", name: "tls-gateway").metadata.name == "tls-gateway")
        #expect(await server.requestLog.filter { $0.hasPrefix("delete ") }.isEmpty)
    }

    @Test(
        "a Secret re-created after it was read is not deleted: the delete carries its uid and resourceVersion",
        arguments: StoreKind.allCases)
    func recreated(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.make(kind)
        defer { Task { await fixture.stop() } }
        _ = try await fixture.store.create(tlsSecret("prod", "tls-gone", labels: Self.made))
        let read = try #require(try await fixture.store.secret(namespace: "prod", name: "tls-gone"))
        // Changed since it was read (local: its revision; cluster: also a new uid when re-created).
        var patch = SecretPatch(resourceVersion: read.metadata.resourceVersion)
        patch.annotations["team"] = "binder"
        _ = try await fixture.store.patch(patch, namespace: "prod", name: "tls-gone")
        await #expect(throws: KubernetesError.self) { try await fixture.store.deleteSecret(read) }
        #expect(try await fixture.store.secret(namespace: "prod", name: "tls-gone") != nil)
        let now = try #require(try await fixture.store.secret(namespace: "prod", name: "tls-gone"))
        try await fixture.store.deleteSecret(now)
        #expect(try await fixture.store.secret(namespace: "prod", name: "tls-gone") == nil)
        try await fixture.store.deleteSecret(now)  // already gone: done
    }
}

/// certctl's own namespace from a laptop (README, "Second day"): named, never guessed nor taken
/// from what anyone could have created.
@Suite("certctl's own namespace, named off the cluster", .serialized)
struct OwnNamespaceTests {
    @Test(
        "prune --delete: refused when none is named, naming where a Lease is found (a tenant's too), never taking it; named, that one"
    )
    func named() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        _ = try await admin.create(tlsSecret("prod", "tls-gone", labels: PruneSafetyTests.made))
        let (folder, common) = try PruneSafetyTests.folder(server, named: false)
        func prune(_ extra: [String] = []) async throws -> CertctlProcess.Result {
            try await CertctlProcess.run(["prune", "--delete"] + common + extra, directory: folder)
        }
        /// The Lease requests made outside certctl's namespace, and its patches there.
        func leases() async -> (elsewhere: [String], taken: Int) {
            let log = await server.requestLog.filter { $0.contains("coordination.k8s.io/v1/leases") }
            return (
                log.filter { !$0.hasPrefix("list ") && !$0.contains("leases certctl/") && !$0.hasPrefix("create ") },
                log.filter { $0.hasPrefix("patch coordination.k8s.io/v1/leases certctl/certctl-run") }.count
            )
        }

        let none = try await prune()
        #expect(none.status != 0)
        #expect(
            none.standardError.contains(
                "certctl's own namespace: is not named (no Lease certctl-run or ConfigMap certctl-run-history in the cluster)"
            )
                && none.standardError.contains("--certctl-namespace NAME"), "\(none.standardError)")

        for namespace in ["certctl", "tenant"] {
            _ = try await admin.create(Namespace(metadata: ObjectMeta(name: namespace)))
        }
        // A tenant's Lease of that name: found, named in the refusal, never taken.
        _ = try await admin.create(Lease(metadata: ObjectMeta(name: "certctl-run", namespace: "tenant"), spec: nil))
        let planted = try await prune()
        #expect(planted.status != 0)
        #expect(
            planted.standardError.contains(
                "certctl's Lease or run history is in tenant, which certctl does not take on its own"),
            "\(planted.standardError)")
        #expect(await leases().elsewhere.isEmpty, "no Lease taken in the tenant's or the kubeconfig's namespace")
        #expect(try await admin.list(Secret.self, namespace: "prod").count == 1)

        _ = try await admin.create(Lease(metadata: ObjectMeta(name: "certctl-run", namespace: "certctl"), spec: nil))
        let named = try await prune(["--certctl-namespace", "certctl"])
        #expect(
            named.status == 0 && named.standardOutput == "deleted   Secret prod/tls-gone\n", "\(named.standardError)")
        let after = await leases()
        #expect(after.elsewhere.isEmpty && after.taken == 2, "taken and released there only: \(after)")
    }
}

@Suite("A command's SECRET argument")
struct SecretArgumentTests {
    @Test("NAME in one namespace, NAMESPACE/NAME anywhere; NAME in two namespaces refused, naming them")
    func ambiguous() throws {
        func entry(_ namespace: String, _ name: String) -> Inventory.Entry {
            Inventory.Entry(
                desired: DesiredCertificate(
                    namespace: namespace, secretName: name, hosts: ["\(name).\(namespace).example.org"],
                    issuer: "local", issuerKind: "ClusterIssuer", ingresses: [name], ingressClass: nil),
                current: nil)
        }
        let inventory = Inventory(
            cluster: "fake", entries: [entry("web", "tls"), entry("docs", "tls"), entry("web", "only")])
        #expect(try inventory.entries(named: "only").map(\.desired.id) == ["web/only"])
        #expect(try inventory.entries(named: "docs/tls").map(\.desired.id) == ["docs/tls"])
        #expect(try inventory.entries(named: "missing").isEmpty)
        do {
            _ = try inventory.entries(named: "tls")
            Issue.record("an ambiguous name was taken")
        } catch let error as CertctlError {
            #expect(
                error.reason.contains("names certificates in 2 namespaces (docs, web): write NAMESPACE/NAME"),
                "\(error)")
        }
    }
}

/// A lock whose renewals wait for `taken` to open, then find another holder.
struct TakenWhenOpened: RunLock {
    let taken: Gate
    func acquire() async throws -> Bool { true }
    func release() async {}
    func renew() async -> LockRenewal {
        await taken.wait()
        return .takenOver(by: "intruder")
    }
    var renewalInterval: Duration? { .milliseconds(20) }
    var expiry: Duration? { .seconds(60) }
}

@Suite("prune after its lock was taken over")
struct PruneTakeoverTests {
    @Test("the Lease taken over while prune works: the next delete is not sent, the Secret kept, saying why")
    func takenOver() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        for name in ["tls-a", "tls-b"] {
            _ = try await admin.create(tlsSecret("prod", name, labels: PruneSafetyTests.made))
        }
        let gate = WriteGate()
        var gated = fakeClient(server)
        gated.writeGate = gate
        let store = KubernetesStore(client: gated)
        let pruner = Pruner(
            store: store, place: .cluster(client: gated, namespace: "prod"), issuers: [:],
            transport: CurlTransport(userAgent: "certctl-tests"), logger: Logger(label: "test"))
        let inventory = try await Inventory.load(from: store, scope: .only(["prod"]), issuers: [], defaultIssuer: nil)
        #expect(inventory.orphans == ["prod/tls-a", "prod/tls-b"])
        let taken = Gate()
        let outcomes = try await LockKeeper.holding(
            TakenWhenOpened(taken: taken), gate: gate, deadline: nil, logger: Logger(label: "test")
        ) { keeper in
            let first = await pruner.prune("prod/tls-a", revoke: false, in: inventory)
            // Then another holder takes the Lease, as the keeper's renewal finds.
            await taken.open()
            let deadline = ContinuousClock.now + .seconds(20)
            while keeper.lostReason() == nil, ContinuousClock.now < deadline { await Task.yield() }
            let second = await pruner.prune("prod/tls-b", revoke: false, in: inventory)
            return [first, second]
        }
        #expect(outcomes?.first == .deleted(revoked: false))
        guard case .kept(let why) = outcomes?.last else {
            Issue.record("tls-b was deleted after the takeover: \(String(describing: outcomes))")
            return
        }
        #expect(why.contains("delete not sent") && why.contains("taken over by intruder"), "\(why)")
        #expect(try await admin.get(Secret.self, namespace: "prod", name: "tls-b").metadata.name == "tls-b")
        #expect(await server.requestLog.filter { $0.hasPrefix("delete ") }.count == 1)
    }
}

@Suite("A delete with preconditions, as kube-apiserver v1.36.2 answers it")
struct DeletePreconditionTests {
    /// Not in the recordings: the answers were read from a real kube-apiserver v1.36.2 by hand.
    @Test(
        "a Secret re-created under its name: 409 naming the UIDs, 'deleted and then recreated'; the one read: deleted")
    func recreated() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        let first = try await client.create(tlsSecret("prod", "tls-a"))
        try await client.delete(Secret.self, namespace: "prod", name: "tls-a")
        let second = try await client.create(tlsSecret("prod", "tls-a"))
        do {
            try await client.delete(
                Secret.self, namespace: "prod", name: "tls-a",
                preconditions: .init(uid: first.metadata.uid, resourceVersion: second.metadata.resourceVersion))
            Issue.record("the re-created Secret was deleted")
        } catch let error as KubernetesError {
            #expect(error.isConflict)
            #expect(
                error.status?.message
                    == "Operation cannot be fulfilled on Secret \"tls-a\": the UID in the precondition (\(first.metadata.uid ?? "")) does not match the UID in record (\(second.metadata.uid ?? "")). The object might have been deleted and then recreated"
            )
        }
        try await client.delete(
            Secret.self, namespace: "prod", name: "tls-a",
            preconditions: .init(uid: second.metadata.uid, resourceVersion: second.metadata.resourceVersion))
        await #expect(throws: KubernetesError.self) {
            try await client.get(Secret.self, namespace: "prod", name: "tls-a")
        }
    }
}
