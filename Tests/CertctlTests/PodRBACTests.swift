import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Synchronization
import Testing
import Transport

/// certctl as the chart runs it: a pod in `prod` whose ServiceAccount has exactly the chart's
/// Role (`tests/chart/certctl-api-use.json`, which the chart test compares with the rendered
/// Role), against the strict fake API server. A request the Role does not grant is 403, as on a
/// real cluster.
@Suite("In a pod with the chart's RBAC only", .serialized)
struct PodRBACTests {
    static let jobToken = "certctl-job-token"
    static let jobUser = "system:serviceaccount:prod:certctl"

    /// The chart's Role in `namespace`: what certctl was seen to use, and nothing more.
    static func chartRole(namespace: String) throws -> (rules: [FakeAPIRule], granted: [String: Set<String>]) {
        let fixture = CertctlProcess.repository.appendingPathComponent("tests/chart/certctl-api-use.json")
        let granted = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: fixture)) as? [String: [String]])
        let rules = granted.map { collection, verbs in
            let parts = collection.split(separator: "/").map(String.init)
            return FakeAPIRule(
                namespace: namespace, groups: [parts.count == 3 ? parts[0] : ""], resources: [parts.last ?? ""],
                verbs: Set(verbs))
        }
        return (rules, granted.mapValues(Set.init))
    }

    /// The fake with the chart's Role in `namespaces` (the chart makes one per managed namespace).
    static func start(namespaces: [String] = ["prod"]) async throws -> FakeAPIServer {
        let rules = try namespaces.flatMap { try chartRole(namespace: $0).rules }
        return try await FakeAPIServer.start(
            users: [.admin(), .serviceAccount("prod", "certctl", token: jobToken, rules: rules)])
    }

    /// A CA that answers 503 to everything, and counts what it was asked.
    final class DownCA: Sendable {
        final class Counter: Sendable {
            let value = Mutex(0)
        }

        let server: HTTPServer
        private let seen: Counter

        init() async throws {
            let seen = Counter()
            self.seen = seen
            server = try await HTTPServer.start(host: "127.0.0.1", port: freeLoopbackPort()) { _ in
                seen.value.withLock { $0 += 1 }
                return ServerResponse(status: 503, contentType: "text/plain", text: "down for maintenance")
            }
        }

        var requests: Int { seen.value.withLock { $0 } }
        var url: String { "http://127.0.0.1:\(server.port)/dir" }
    }

    static func project(_ server: FakeAPIServer, _ name: String) throws -> PodProject {
        let project = try PodProject.make(server, name: name)
        try server.kubeconfig(token: jobToken, namespace: "prod").write(
            to: project.folder.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
        return project
    }

    /// The verbs the job's ServiceAccount used, by collection (the tests' own requests are the admin's).
    static func verbsUsed(_ server: FakeAPIServer) async -> [String: Set<String>] {
        var used: [String: Set<String>] = [:]
        for line in await server.requestLog where line.hasSuffix(" \(jobUser)") {
            let parts = line.split(separator: " ")
            used[String(parts[1]), default: []].insert(String(parts[0]))
        }
        return used
    }

    static func run(_ project: PodProject, port: Int, namespaces: [String] = []) async throws
        -> CertctlProcess.Result
    {
        try await CertctlProcess.run(
            project.runArguments(
                issuer: "pebble", port: port, ["--http01-self-check-passes", "0"] + namespaces.flatMap { ["-n", $0] }),
            environment: project.environment(pod: "certctl-1"), directory: project.folder)
    }

    @Test("a failed first issuance: its back-off is stored, an Event is on every Ingress, the next run asks no CA")
    func failedFirstIssuance() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        // Two Ingresses, one certificate: the Events go on both.
        for name in ["site", "site-docs"] {
            _ = try await admin.create(ingress("prod", name, tls: [(["site.mybinder.org"], "tls-site")]))
        }
        let down = try await DownCA()
        defer { Task { await down.server.stop() } }
        let project = try Self.project(server, "rbac-failed")
        try project.writeIssuer("pebble", server: down.url)
        let port = freeLoopbackPort()

        let first = try await Self.run(project, port: port)
        #expect(first.status == 2, "no certificate: \(first.standardOutput)\(first.standardError)")
        #expect(down.requests > 0)
        #expect(!first.standardError.contains("403"), "nothing the chart's Role does not grant: \(first.standardError)")
        #expect(!first.standardOutput.contains("warning"), "no Event or record refused: \(first.standardOutput)")
        let pending = try await admin.get(ConfigMap.self, namespace: "prod", name: "certctl-pending-tls-site")
        let record = RenewalRecord(annotations: pending.metadata.annotations ?? [:])
        #expect(record.failureCount == 1)
        let nextAttempt = try #require(record.nextAttempt)
        #expect(nextAttempt > Date().addingTimeInterval(1800), "an hour's back-off is stored")
        #expect(
            first.standardOutput.contains("next attempt \(Timestamp.minute(nextAttempt))"),
            "the stored time, to the minute")
        let events = try await admin.list(Event.self, namespace: "prod")
        #expect(Set(events.compactMap(\.regarding?.name)) == ["site", "site-docs"])
        #expect(events.allSatisfy { $0.type == "Warning" && $0.reason == "Failed" && $0.eventTime != nil })
        #expect(events.allSatisfy { $0.note?.hasPrefix("tls-site: [") == true }, "the kind leads the note")
        #expect([.caRefused, .caUnreachable].contains(record.lastFailureKind), "\(record)")

        let asked = down.requests
        let second = try await Self.run(project, port: port)
        #expect(second.status == 2)
        #expect(down.requests == asked, "the back-off holds: no request to the CA")
        #expect(second.standardOutput.contains("deferred"), "\(second.standardOutput)")
        let again = try await admin.get(ConfigMap.self, namespace: "prod", name: "certctl-pending-tls-site")
        #expect(again.metadata.annotations == pending.metadata.annotations, "the record is unchanged")
    }

    @Test("a Secret's finalizers, ownerReferences and other fields survive a renewal and record updates")
    func fieldsSurvive() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        _ = try await admin.create(ingress("prod", "site", tls: [(["site.mybinder.org"], "tls-site")]))
        // cert-manager's Secret: another CA's certificate, due (past 2/3 of its lifetime).
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let notBefore = Date().addingTimeInterval(-80 * 86_400)
        let pem = try authority.issuePEM(
            for: key, names: ["site.mybinder.org"], notBefore: notBefore,
            notAfter: notBefore.addingTimeInterval(90 * 86_400))
        let owner: [String: Any] = [
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": "tls-site",
            "uid": "0b9e1a4c-1111-4222-8333-444455556666", "controller": true,
        ]
        try await server.seed(
            "/api/v1/namespaces/prod/secrets",
            [
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "immutable": false,
                "metadata": [
                    "name": "tls-site", "namespace": "prod", "finalizers": ["example.org/keep"],
                    "ownerReferences": [owner], "labels": ["tier": "web"],
                    "annotations": ["cert-manager.io/certificate-name": "tls-site", "team": "binder"],
                ],
                "data": [
                    "tls.crt": Data(pem.utf8).base64EncodedString(),
                    "tls.key": Data(try key.pemRepresentation().utf8).base64EncodedString(),
                    "ca.crt": Data(authority.pem.utf8).base64EncodedString(),
                ],
            ])
        func kept(_ when: String) async throws -> [String: Any] {
            let stored = try #require(await server.object("v1/secrets", namespace: "prod", name: "tls-site"))
            let metadata = try #require(stored["metadata"] as? [String: Any])
            #expect(metadata["finalizers"] as? [String] == ["example.org/keep"], "\(when)")
            let references = metadata["ownerReferences"] as? [[String: Any]]
            #expect(references?.first?["uid"] as? String == owner["uid"] as? String, "\(when)")
            #expect((metadata["labels"] as? [String: String])?["tier"] == "web", "\(when)")
            let annotations = metadata["annotations"] as? [String: String]
            #expect(annotations?["team"] == "binder", "\(when)")
            #expect(annotations?["cert-manager.io/certificate-name"] == "tls-site", "\(when)")
            #expect(stored["immutable"] as? Bool == false, "\(when)")
            #expect((stored["data"] as? [String: String])?["ca.crt"] != nil, "\(when)")
            return stored
        }

        let project = try Self.project(server, "rbac-fields")
        try project.writeIssuer("pebble", server: pebble.directoryURL, caBundle: Pebble.caBundle)
        let renewal = try await Self.run(project, port: port)
        #expect(renewal.status == 0, "\(renewal.standardOutput)\(renewal.standardError)")
        let renewed = try await kept("after the renewal")
        let renewedData = renewed["data"] as? [String: String]
        #expect(renewedData?["tls.crt"] != Data(pem.utf8).base64EncodedString(), "the certificate was renewed")
        let secret = try await admin.get(Secret.self, namespace: "prod", name: "tls-site")
        #expect(isServable(secret))

        // A record update: the operator asks for a renewal, and the CA is down.
        _ = try await admin.mergePatch(
            Secret.self, namespace: "prod", name: "tls-site",
            patch: .object([
                "metadata": .object(["annotations": .object(["certctl.io/renew-requested": .string("true")])])
            ]))
        let down = try await DownCA()
        defer { Task { await down.server.stop() } }
        try project.writeIssuer("pebble", server: down.url)
        let failed = try await Self.run(project, port: port)
        #expect(failed.status == 1, "still valid: \(failed.standardOutput)\(failed.standardError)")
        let recorded = try await kept("after the failure record")
        #expect((recorded["data"] as? [String: String])?["tls.crt"] == renewedData?["tls.crt"], "certificate untouched")
        let annotations = (recorded["metadata"] as? [String: Any])?["annotations"] as? [String: String] ?? [:]
        #expect(RenewalRecord(annotations: annotations).failureCount == 1)

        // Every verb the job used is granted, and everything granted was used.
        let used = await Self.verbsUsed(server)
        let granted = try Self.chartRole(namespace: "prod").granted
        for (collection, verbs) in used {
            #expect(verbs.isSubset(of: granted[collection] ?? []), "\(collection): \(verbs) not all granted")
        }
    }

    @Test(
        "two failures, issuance, renewal, in certctl's namespace and another: every verb the chart's Role grants is used, and nothing else"
    )
    func verbs() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let namespaces = ["prod", "staging"]
        let server = try await Self.start(namespaces: namespaces)
        defer { Task { await server.stop() } }
        let admin = fakeClient(server)
        for site in siteIngresses(1) { _ = try await admin.create(site) }
        // In another namespace: a selector-less Service and an EndpointSlice to POD_IP.
        _ = try await admin.create(ingress("staging", "docs", tls: [(["docs.mybinder.org"], "tls-docs")]))
        let project = try Self.project(server, "rbac-verbs")
        let down = try await DownCA()
        defer { Task { await down.server.stop() } }
        try project.writeIssuer("pebble", server: down.url)
        /// Time passes: the back-off of the pending records is over.
        func backOffOver() async throws {
            for (namespace, name) in [
                ("prod", "certctl-pending-kubelego-tls-site0"), ("staging", "certctl-pending-tls-docs"),
            ] {
                _ = try await admin.mergePatch(
                    ConfigMap.self, namespace: namespace, name: name,
                    patch: .object([
                        "metadata": .object([
                            "annotations": .object(["certctl.io/next-attempt": .string("2020-01-01T00:00:00Z")])
                        ])
                    ]))
            }
        }
        #expect(try await Self.run(project, port: port, namespaces: namespaces).status != 0, "the CA is down")
        try await backOffOver()
        #expect(
            try await Self.run(project, port: port, namespaces: namespaces).status != 0,
            "still down: the record is patched")
        let pending = try await admin.get(
            ConfigMap.self, namespace: "prod", name: "certctl-pending-kubelego-tls-site0")
        #expect(RenewalRecord(annotations: pending.metadata.annotations ?? [:]).failureCount == 2)
        try await backOffOver()
        try project.writeIssuer("pebble", server: pebble.directoryURL, caBundle: Pebble.caBundle)
        let issued = try await Self.run(project, port: port, namespaces: namespaces)
        #expect(issued.status == 0, "issued: \(issued.standardOutput)\(issued.standardError)")
        let maps = try await admin.list(ConfigMap.self, namespace: "prod").map(\.metadata.name)
        #expect(maps == ["certctl-run-history"], "the pending record is gone once issued; the run history stays")
        let log = await server.requestLog
        #expect(log.contains { $0.hasPrefix("create discovery.k8s.io/v1/endpointslices staging/ ") })
        #expect(!log.contains { $0.hasPrefix("create discovery.k8s.io/v1/endpointslices prod/") }, "a selector in prod")
        #expect(try await admin.list(EndpointSlice.self, namespace: "staging").isEmpty, "removed after the challenge")
        #expect(try await admin.list(Service.self, namespace: "staging").isEmpty)
        _ = try await admin.mergePatch(
            Secret.self, namespace: "prod", name: "kubelego-tls-site0",
            patch: .object([
                "metadata": .object(["annotations": .object(["certctl.io/renew-requested": .string("true")])])
            ]))
        #expect(try await Self.run(project, port: port, namespaces: namespaces).status == 0, "renewed")

        let used = await Self.verbsUsed(server)
        let granted = try Self.chartRole(namespace: "prod").granted
        #expect(
            used == granted, "used: \(used.sorted { $0.key < $1.key }), granted: \(granted.sorted { $0.key < $1.key })")
    }
}
