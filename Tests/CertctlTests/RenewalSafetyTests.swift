import ACME
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing
import Transport

@testable import CertctlCore

/// A local project run through the binary against the in-process CA: the operator's view.
struct BinaryProject {
    let project: LocalProject
    let port: Int

    init(server: TestACMEServer, port: Int, sites: [String]) throws {
        project = try LocalProject.make(server: server.directoryURL, sites: sites)
        self.port = port
    }

    var directory: URL { project.directory }

    func certctl(_ arguments: [String]) async throws -> CertctlProcess.Result {
        try await CertctlProcess.run(
            arguments + LocalProject.flags + ["--http01-listen", "127.0.0.1:\(port)"], directory: directory)
    }

    /// Rewrites the Ingress `site`: its hosts and annotations.
    func writeIngress(_ site: String, hosts: [String], annotations: [String: String] = [:]) throws {
        let all = annotations.merging(["kubernetes.io/tls-acme": "true"]) { $1 }
        let flow = all.sorted { $0.key < $1.key }.map { "\($0.key): \"\($0.value)\"" }.joined(separator: ", ")
        try """
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: \(site), namespace: prod, annotations: {\(flow)}}
        spec:
          tls: [{hosts: [\(hosts.joined(separator: ", "))], secretName: tls-\(site)}]
        """.write(to: directory.appendingPathComponent("ingress/\(site).yaml"), atomically: true, encoding: .utf8)
    }

    /// Points the issuer `local` at another CA.
    func switchIssuer(to server: TestACMEServer) throws {
        try IssueCommandTests.issuerYAML(server: server.directoryURL).write(
            to: directory.appendingPathComponent("issuers/test.yaml"), atomically: true, encoding: .utf8)
    }

    func record(_ site: String) async throws -> RenewalRecord {
        let secret = try #require(try await project.store.secret(namespace: "prod", name: "tls-\(site)"))
        return RenewalRecord(annotations: secret.metadata.annotations ?? [:])
    }

    func summary(_ site: String) async throws -> CertificateSummary {
        let secret = try #require(try await project.store.secret(namespace: "prod", name: "tls-\(site)"))
        return try #require(CurrentCertificate(secret: secret).summary)
    }
}

@Suite("Renewals that cannot get stuck", .serialized)
struct RenewalSafetyTests {
    @Test(
        "replaces: sent for this account's certificate; not after an account change, new hosts or another CA; a refusal is ordered again without it"
    )
    func replaces() async throws {
        let port = freeLoopbackPort()
        let first = try await TestACMEServer.start(validationPort: port)
        let second = try await TestACMEServer.start(validationPort: port)
        defer {
            Task {
                await first.stop()
                await second.stop()
            }
        }
        let project = try BinaryProject(server: first, port: port, sites: ["a"])
        let issued = try await project.certctl(["run"])
        #expect(issued.status == 0, "\(issued.standardOutput)\(issued.standardError)")
        let account = try #require(try await project.record("a").account, "the record names the ordering account")

        // This account's certificate, same names: replaces is sent and accepted.
        let id = try #require(try await project.summary("a").ariCertificateID)
        let renewed = try await project.certctl(["renew", "tls-a", "--now"])
        #expect(renewed.status == 0, "\(renewed.standardOutput)\(renewed.standardError)")
        #expect(try await Self.last(first) == (["a.mybinder.org"], id, 201))

        // Another account (its key lost): no replaces, which the CA would refuse (403 unauthorized).
        try FileManager.default.removeItem(at: project.directory.appendingPathComponent("state/accounts"))
        let otherAccount = try await project.certctl(["renew", "tls-a", "--now"])
        #expect(otherAccount.status == 0, "\(otherAccount.standardOutput)\(otherAccount.standardError)")
        #expect(try await Self.last(first) == (["a.mybinder.org"], nil, 201))
        #expect(try await project.record("a").account != account)

        // New hosts, no name in common: no replaces (400 malformed otherwise).
        try project.writeIngress("a", hosts: ["a2.mybinder.org"])
        let moved = try await project.certctl(["run"])
        #expect(moved.standardOutput.contains("the hosts changed"), "\(moved.standardOutput)")
        #expect(try await Self.last(first) == (["a2.mybinder.org"], nil, 201))

        // The issuer moved to another CA (staging to production): no replaces there (400 malformed).
        try project.switchIssuer(to: second)
        let switched = try await project.certctl(["renew", "tls-a", "--now"])
        #expect(switched.status == 0, "\(switched.standardOutput)\(switched.standardError)")
        #expect(await second.orders.count == 1)
        #expect(try await Self.last(second) == (["a2.mybinder.org"], nil, 201))
        #expect(await first.orders.allSatisfy { $0.status == 201 }, "no refused order at the first CA")

        // A record that claims this account for a certificate the CA does not have (a Secret
        // edited by hand): refused (404), ordered once more without replaces, in the same run.
        try project.writeIngress("b", hosts: ["b.mybinder.org"])
        let seeded = try await project.project.seedCertificate("b", startDays: -80, authority: second.authority)
        var secret = try #require(try await project.project.store.secret(namespace: "prod", name: "tls-b"))
        let serial = CertificateSummary(try CertificateChain(pem: seeded.pem).leaf).serialHex
        secret.metadata.annotations = [
            "certctl.io/issuer": "local", "certctl.io/account": try #require(try await project.record("a").account),
            "certctl.io/serial": serial,
        ]
        _ = try await project.project.store.update(secret)
        let refused = try await project.certctl(["run"])
        #expect(refused.status == 0, "\(refused.standardOutput)\(refused.standardError)")
        let forB = await second.orders.filter { $0.identifiers == ["b.mybinder.org"] }
        #expect(forB.map(\.status) == [404, 201], "\(forB)")
        #expect(forB.last?.replaces == nil && forB.first?.replaces != nil)
    }

    /// The last newOrder the CA saw: its names, its `replaces`, its answer.
    static func last(_ server: TestACMEServer) async throws -> ([String], String?, Int) {
        let order = try #require(await server.orders.last)
        return (order.identifiers, order.replaces, order.status)
    }

    @Test(
        "renew-before longer than a 6-day certificate's lifetime: ignored with a warning, one certificate in three runs"
    )
    func renewBeforeTooLong() async throws {
        let port = freeLoopbackPort()
        var behaviour = TestACMEServer.Behaviour()
        behaviour.lifetimes[""] = 6 * 86_400
        behaviour.offersRenewalInfo = false
        let server = try await TestACMEServer.start(validationPort: port, behaviour: behaviour)
        defer { Task { await server.stop() } }
        let project = try BinaryProject(server: server, port: port, sites: ["a"])
        try project.writeIngress("a", hosts: ["a.mybinder.org"], annotations: ["cert-manager.io/renew-before": "720h"])
        var outputs: [String] = []
        for _ in 0..<3 {
            let result = try await project.certctl(["run"])
            #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
            outputs.append(result.standardOutput + result.standardError)
        }
        #expect(await server.orders.count == 1, "one certificate, not one a run")
        let warning = "Ingress prod/a: cert-manager.io/renew-before 30d 0h is not shorter than the 6d 0h lifetime"
        for output in outputs.dropFirst() {
            // Once a run: a line of the log and one of the summary's warnings.
            #expect(output.components(separatedBy: warning).count == 3, "said once a run: \(output)")
        }
    }

    @Test("a CA window that ends at notAfter (3-minute certificates): renewal a minute before expiry at the latest")
    func windowToExpiry() async throws {
        let port = freeLoopbackPort()
        var behaviour = TestACMEServer.Behaviour()
        behaviour.lifetimes[""] = 180
        // The last tenth of the lifetime, to the end, as a CA may suggest for short certificates.
        behaviour.renewalWindow = { notBefore, notAfter in
            (notBefore.addingTimeInterval(notAfter.timeIntervalSince(notBefore) * 0.9), notAfter)
        }
        let server = try await TestACMEServer.start(validationPort: port, behaviour: behaviour)
        defer { Task { await server.stop() } }
        let project = try BinaryProject(server: server, port: port, sites: ["a"])
        let result = try await project.certctl(["run"])
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        let record = try await project.record("a")
        let summary = try await project.summary("a")
        let renewal = try #require(record.renewalTime)
        #expect(renewal <= summary.notAfter.addingTimeInterval(-60), "\(renewal) vs \(summary.notAfter)")
        #expect(record.ariWindowEnd == summary.notAfter, "the CA's window recorded as given")
    }

    @Test("an adopted Secret gets an ARI check; a moved window is found and stored for it")
    func adoptedGetsARI() async throws {
        let port = freeLoopbackPort()
        let server = try await TestACMEServer.start(validationPort: port)
        defer { Task { await server.stop() } }
        let project = try BinaryProject(server: server, port: port, sites: ["a"])
        _ = try await project.certctl(["run"])
        // As cert-manager would leave it: the certificate, no certctl record.
        var secret = try #require(try await project.project.store.secret(namespace: "prod", name: "tls-a"))
        secret.metadata.annotations = ["cert-manager.io/issuer-name": "local"]
        _ = try await project.project.store.update(secret)
        let queries = await server.renewalInfoQueries.count
        let checked = try await project.certctl(["run"])
        #expect(checked.status == 0, "\(checked.standardOutput)\(checked.standardError)")
        #expect(await server.renewalInfoQueries.count == queries + 1)
        let record = try await project.record("a")
        #expect(record.serial == (try await project.summary("a").serialHex))
        #expect(record.ariWindowStart != nil && (record.ariNextCheck ?? .distantPast) > Date())
        #expect(record.account == nil, "who ordered it stays unknown: no replaces for it")
        let quiet = try await project.certctl(["run"])
        #expect(quiet.standardOutput.contains("0 ACME requests"), "checked once: \(quiet.standardOutput)")
    }

    @Test("an adopted Secret of a CA without ARI: one directory request a run, nothing written")
    func adoptedWithoutARI() async throws {
        let port = freeLoopbackPort()
        var behaviour = TestACMEServer.Behaviour()
        behaviour.offersRenewalInfo = false
        let server = try await TestACMEServer.start(validationPort: port, behaviour: behaviour)
        defer { Task { await server.stop() } }
        let project = try BinaryProject(server: server, port: port, sites: ["a"])
        _ = try await project.certctl(["run"])
        var secret = try #require(try await project.project.store.secret(namespace: "prod", name: "tls-a"))
        secret.metadata.annotations = ["cert-manager.io/issuer-name": "local"]
        let adopted = try await project.project.store.update(secret)
        for _ in 0..<2 {
            let requests = await server.requests.count
            let quiet = try await project.certctl(["run"])
            #expect(quiet.status == 0 && quiet.standardOutput.contains("1 ok"), "\(quiet.standardOutput)")
            #expect(await server.requests.dropFirst(requests) == ["GET /dir"], "the directory only")
            let after = try #require(try await project.project.store.secret(namespace: "prod", name: "tls-a"))
            #expect(after.metadata.annotations == adopted.metadata.annotations, "nothing written")
        }
    }

    @Test("immutable and terminating Secrets are blocked with what to do; nothing is ordered for them")
    func blockedSecrets() async throws {
        let port = freeLoopbackPort()
        let server = try await TestACMEServer.start(validationPort: port)
        defer { Task { await server.stop() } }
        let project = try BinaryProject(server: server, port: port, sites: ["frozen", "leaving"])
        let store = project.project.store
        for site in ["frozen", "leaving"] {
            // Past 2/3 of its lifetime: due, were it writable.
            let key = try PrivateKey(generating: .ecdsaP256)
            let notBefore = Date().addingTimeInterval(-70 * 86_400)
            let pem = try server.authority.issuePEM(
                for: key, names: ["\(site).mybinder.org"], notBefore: notBefore,
                notAfter: notBefore.addingTimeInterval(90 * 86_400))
            _ = try await store.create(
                tlsSecret(
                    "prod", "tls-\(site)",
                    data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]))
            // As the operator (or a controller) left the manifest.
            let file = project.directory.appendingPathComponent("state/secrets/prod/tls-\(site).yaml")
            var manifest = try String(contentsOf: file, encoding: .utf8)
            if site == "frozen" {
                manifest += "immutable: true\n"
            } else {
                manifest = manifest.replacingOccurrences(
                    of: "metadata:\n",
                    with:
                        "metadata:\n  deletionTimestamp: \"2026-12-01T00:00:00Z\"\n  finalizers: [example.org/backup]\n"
                )
            }
            try manifest.write(to: file, atomically: true, encoding: .utf8)
            let stored = try #require(try await store.secret(namespace: "prod", name: "tls-\(site)"))
            #expect(CurrentCertificate(secret: stored).block != nil, "the manifest keeps what blocks it")
        }
        let result = try await project.certctl(["run"])
        #expect(await server.orders.isEmpty, "nothing ordered that could not be stored")
        #expect(result.status == 1, "still valid, cannot be renewed: a warning \(result.standardOutput)")
        #expect(result.standardOutput.contains("the Secret is immutable"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("the Secret is being deleted"), "\(result.standardOutput)")
        let explained = try await CertctlProcess.run(
            ["status", "tls-frozen"] + LocalProject.flags, directory: project.directory)
        let text = explained.standardOutput.replacingOccurrences(of: "\n              ", with: " ")
        #expect(text.contains("Blocked: the Secret is immutable"), "\(explained.standardOutput)")
        #expect(text.contains("recreate it without immutable"), "\(explained.standardOutput)")
    }

    @Test("a rate limit's Retry-After of 2^63-1 seconds: no crash, held a week at most, no new order meanwhile")
    func absurdRetryAfter() async throws {
        let port = freeLoopbackPort()
        var behaviour = TestACMEServer.Behaviour()
        behaviour.rateLimitedOrders = 1
        behaviour.rateLimitRetryAfter = "9223372036854775807"
        let server = try await TestACMEServer.start(validationPort: port, behaviour: behaviour)
        defer { Task { await server.stop() } }
        let project = try BinaryProject(server: server, port: port, sites: ["a"])
        let first = try await project.certctl(["run"])
        #expect(first.status == 2, "a missing certificate failed, not a crash: \(first.status) \(first.standardError)")
        #expect(first.standardOutput.contains("rate_limited"), "\(first.standardOutput)")
        let pending = try #require(
            try await project.project.store.pendingRecord(namespace: "prod", secretName: "tls-a"))
        let next = try #require(RenewalRecord(annotations: pending).nextAttempt)
        #expect(abs(next.timeIntervalSinceNow - 7 * 86_400) < 120, "\(next)")
        let second = try await project.certctl(["run"])
        #expect(second.status == 2 && second.standardOutput.contains("deferred"), "\(second.standardOutput)")
        #expect(await server.orders.count == 1)
    }

    @Test("a 240-character secretName: its pending record fits the API server's 253, and its back-off holds")
    func longSecretName() async throws {
        let down = try await PodRBACTests.DownCA()
        defer { Task { await down.server.stop() } }
        // Dot-separated labels of at most 63, as a Secret name may be: 240 characters in all.
        let name =
            (["kubelego-tls-" + String(repeating: "a", count: 47)]
            + ["b", "c", "d"].map {
                String(repeating: $0, count: 59)
            }).joined(separator: ".")
        #expect(name.count == 240 && ObjectName.isDNSSubdomain(name))
        let run = try await RunFixture.make(
            .kubernetes, ingresses: [ingress("prod", "long", tls: [(["long.mybinder.org"], name)])], server: down.url,
            caBundle: nil, port: freeLoopbackPort())
        defer { Task { await run.fixture.stop() } }
        let (first, _) = try await run.runOnce()
        #expect(first.warnings.isEmpty, "the failure record was stored: \(first.warnings)")
        let failed = try #require(first.certificates.first)
        #expect(failed.nextAttempt != nil, "a back-off that holds")
        let record = try #require(try await run.fixture.store.pendingRecord(namespace: "prod", secretName: name))
        #expect(RenewalRecord(annotations: record).failureCount == 1)
        let pendingName = KubernetesStore.pendingName(name)
        #expect(pendingName.utf8.count == 253 && pendingName.hasPrefix("certctl-pending-kubelego-tls-aaa"))
        #expect(ObjectName.isDNSSubdomain(pendingName))
        // The API server's rule: a part of a subdomain name may be longer than 63.
        #expect(ObjectName.isDNSSubdomain("kubelego-tls-" + String(repeating: "x", count: 100)))
        #expect(!ObjectName.isDNSSubdomain(String(repeating: "x", count: 254)))
        #expect(!ObjectName.isDNSLabel(String(repeating: "x", count: 64)))
        #expect(KubernetesStore.pendingName("short") == "certctl-pending-short")
        let before = down.requests
        let (second, _) = try await run.runOnce()
        #expect(second.certificates.first?.outcome == .deferred)
        #expect(down.requests == before, "no request to the CA inside the back-off")
    }

    @Test("ARI re-checks: which certificates are asked about, as a table")
    func renewalInfoTargets() throws {
        let issuer = try #require(
            try IssuerLoader.parse(
                "kind: ClusterIssuer\nmetadata: {name: letsencrypt-prod}\nspec:\n  acme:\n    server: https://ca.example/dir\n",
                source: "i.yaml"
            ).first)
        let issuers: [IssuerKey: Issuer] = ["letsencrypt-prod": issuer]
        func target(_ annotations: [String: String], at day: Double, days: Double = 90) throws -> Bool {
            let current = try RenewalPlanTests.current(days: days, annotations: annotations)
            let entry = Inventory.Entry(desired: RenewalPlanTests.desired, current: current)
            let now = RenewalPlanTests.at(day)
            let action = RenewalPlan.decide(desired: entry.desired, current: current, profile: nil, now: now)
            return RenewalInfoCheck.target(entry, action: action, issuers: issuers, now: now) != nil
        }
        let mine = ["certctl.io/serial": "0102"]
        #expect(try target([:], at: 1), "adopted: no record of it")
        #expect(try target(["certctl.io/serial": "ffff"], at: 1), "the record is another certificate's")
        #expect(try !target(mine, at: 1), "a CA without ARI: no next check, nothing to ask")
        #expect(try target(mine.merging(["certctl.io/ari-next-check": "2027-01-16T00:00:00Z"]) { $1 }, at: 2))
        #expect(try !target(mine.merging(["certctl.io/ari-next-check": "2027-03-01T00:00:00Z"]) { $1 }, at: 2))
        #expect(try !target([:], at: 61), "due anyway: issued, not asked")
        #expect(try !target([:], at: 91), "expired: never asked")
    }
}
