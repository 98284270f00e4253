import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing

/// `certctl revoke` against a real Pebble, through the binary in local mode: what Pebble's
/// management interface says of the certificate afterwards, what the Secret holds.
@Suite("certctl revoke, against Pebble", .serialized)
struct RevokeCommandTests {
    typealias Setup = AccountCommandTests.Setup

    /// The Secret's certificate serial, key (PEM) and certctl's annotations.
    static func held(_ setup: Setup, _ name: String = "tls-hub") async throws -> (
        serial: String, key: String, annotations: [String: String]
    ) {
        let secret = try #require(try await setup.project.store.secret(namespace: "prod", name: name))
        let serial = try #require(CurrentCertificate(secret: secret).summary?.serialHex)
        let key = String(decoding: try #require(secret.data?["tls.key"]), as: UTF8.self)
        return (serial, key, secret.metadata.annotations ?? [:])
    }

    /// As the job's ServiceAccount (the chart's Role) in a pod against the fake API server:
    /// prod/tls-hub issued by Pebble; its serial.
    static func issuedInCluster(_ name: String) async throws -> (Pebble, FakeAPIServer, PodProject, Int, String) {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        let server = try await PodRBACTests.start()
        let admin = fakeClient(server)
        _ = try await admin.create(ingress("prod", "hub", tls: [(["hub.mybinder.org"], "tls-hub")]))
        let project = try PodRBACTests.project(server, name)
        try project.writeIssuer("pebble", server: pebble.directoryURL, caBundle: Pebble.caBundle)
        let arguments = project.runArguments(issuer: "pebble", port: port, ["--http01-self-check-passes", "0"])
        let first = try await CertctlProcess.run(
            arguments, environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(first.status == 0, "\(first.standardOutput)\(first.standardError)")
        let before = try await admin.get(Secret.self, namespace: "prod", name: "tls-hub")
        return (pebble, server, project, port, try #require(CurrentCertificate(secret: before).summary?.serialHex))
    }

    @Test(
        "keyCompromise: Pebble says revoked with reason 1; the Secret holds a new certificate with a new key; the record says so"
    )
    func revokeAndReissue() async throws {
        let setup = try await Setup.make()
        defer { setup.pebble.stop() }
        #expect(try await setup.run().status == 0)
        let before = try await Self.held(setup)
        #expect(try await setup.pebble.certificateStatus(serial: before.serial)?.status == "Valid")

        let revoked = try await setup.certctl([
            "revoke", "tls-hub", "--reason", "keyCompromise", "--http01-listen", "127.0.0.1:\(setup.port)",
        ])
        #expect(revoked.status == 0, "\(revoked.standardOutput)\(revoked.standardError)")
        #expect(
            revoked.standardOutput.hasPrefix(
                "prod/tls-hub: certificate \(before.serial) revoked by the account https://"),
            "\(revoked.standardOutput)")
        #expect(revoked.standardOutput.contains(", reason keyCompromise; marked for renewal"))
        let status = try #require(try await setup.pebble.certificateStatus(serial: before.serial))
        #expect(status.status == "Revoked" && status.reason == 1, "\(status)")
        let after = try await Self.held(setup)
        #expect(after.serial != before.serial && after.key != before.key, "a new certificate with a new key")
        #expect(try await setup.pebble.certificateStatus(serial: after.serial)?.status == "Valid")
        #expect(after.annotations["certctl.io/revoked-serial"] == before.serial)
        #expect(after.annotations["certctl.io/revocation-reason"] == "keyCompromise")
        #expect(after.annotations["certctl.io/revoked-at"] != nil)
        #expect(revoked.standardOutput.contains("revoked (certctl revoke)"), "\(revoked.standardOutput)")

        // Nothing due afterwards: the record's revoked serial is not the Secret's any more.
        let next = try await setup.run()
        #expect(next.status == 0)
        #expect(try await Self.held(setup).serial == after.serial)
    }

    @Test("renew NAME --now exits by its certificate: another Ingress's problem is printed, not its failure")
    func targetedExit() async throws {
        let setup = try await Setup.make()
        defer { setup.pebble.stop() }
        #expect(try await setup.run().status == 0)
        try """
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: broken, namespace: prod, annotations: {kubernetes.io/tls-acme: "true"}}
        spec: {tls: [{hosts: [Broken_Host.mybinder.org], secretName: tls-broken}]}
        """.write(
            to: setup.project.directory.appendingPathComponent("ingress/broken.yaml"), atomically: true,
            encoding: .utf8)
        let before = try await Self.held(setup)
        let renewed = try await setup.renewNow()
        #expect(renewed.status == 0, "\(renewed.standardOutput)\(renewed.standardError)")
        #expect(try await Self.held(setup).serial != before.serial, "renewed")
        #expect(renewed.standardOutput.contains("Ingress prod/broken"), "the problem said: \(renewed.standardOutput)")
        #expect(try await setup.run().status == 1, "a whole run still fails on it")

        // Another Ingress naming the same Secret with a host it refuses: the target's own problem.
        try """
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: hub-too, namespace: prod, annotations: {kubernetes.io/tls-acme: "true"}}
        spec: {tls: [{hosts: [Hub_Too.mybinder.org], secretName: tls-hub}]}
        """.write(
            to: setup.project.directory.appendingPathComponent("ingress/hub-too.yaml"), atomically: true,
            encoding: .utf8)
        let own = try await setup.renewNow()
        #expect(own.status == 1, "its own Secret's problem fails it: \(own.standardOutput)")
    }

    @Test("--no-reissue: revoked, the Secret unchanged and said to be revoked; the next run replaces it")
    func withoutReissue() async throws {
        let setup = try await Setup.make()
        defer { setup.pebble.stop() }
        #expect(try await setup.run().status == 0)
        let before = try await Self.held(setup)
        let revoked = try await setup.certctl(["revoke", "tls-hub", "--no-reissue", "--reason", "superseded"])
        #expect(revoked.status == 0, "\(revoked.standardOutput)\(revoked.standardError)")
        #expect(try await setup.pebble.certificateStatus(serial: before.serial)?.reason == 4)
        #expect(try await Self.held(setup).serial == before.serial, "not replaced yet")
        let shown = try await setup.certctl(["status", "tls-hub"])
        #expect(shown.standardOutput.contains("certctl revoke revoked it (superseded"), "\(shown.standardOutput)")
        #expect(try await setup.run().status == 0)
        #expect(try await Self.held(setup).serial != before.serial, "the next run issued the replacement")
    }

    @Test("with no account stored (lost), the certificate's own key signs the revocation")
    func byCertificateKey() async throws {
        let setup = try await Setup.make()
        defer { setup.pebble.stop() }
        #expect(try await setup.run().status == 0)
        let before = try await Self.held(setup)
        try FileManager.default.removeItem(at: setup.accountFolder)
        let revoked = try await setup.certctl([
            "revoke", "tls-hub", "--http01-listen", "127.0.0.1:\(setup.port)", "--log-level", "notice",
        ])
        #expect(revoked.status == 0, "\(revoked.standardOutput)\(revoked.standardError)")
        #expect(revoked.standardOutput.contains("revoked by the certificate's own key"), "\(revoked.standardOutput)")
        #expect(try await setup.pebble.certificateStatus(serial: before.serial)?.status == "Revoked")
        #expect(try await Self.held(setup).serial != before.serial)
    }

    @Test("refused before any request: a Secret certctl does not manage, an expired certificate, an unknown reason")
    func refusals() async throws {
        let setup = try await Setup.make()
        defer { setup.pebble.stop() }
        let authority = try TestCertificateAuthority()
        _ = try await setup.project.seedCertificate("hub", startDays: -100, days: 90, authority: authority)
        let expired = try await setup.certctl(["revoke", "tls-hub"])
        #expect(expired.status == 64, "\(expired.standardError)")
        #expect(
            expired.standardError.contains("a CA does not revoke an expired certificate"), "\(expired.standardError)")
        let unmanaged = try await setup.certctl(["revoke", "tls-other"])
        #expect(unmanaged.status == 64)
        #expect(unmanaged.standardError.contains("is not a certificate certctl manages"), "\(unmanaged.standardError)")
        let reason = try await setup.certctl(["revoke", "tls-hub", "--reason", "privilegeWithdrawn"])
        #expect(reason.status == 64)
        #expect(reason.standardError.contains("--reason privilegeWithdrawn is not one of unspecified, keyCompromise"))
        #expect(!FileManager.default.fileExists(atPath: setup.accountFolder.path), "no account was even made")
    }
}

@Suite("certctl revoke in a cluster, against Pebble", .serialized)
struct RevokeInClusterTests {
    @Test(
        "as the job's ServiceAccount (the chart's Role): a Warning Event Revoked on the Ingress, the record on the Secret"
    )
    func keyCompromise() async throws {
        let (pebble, server, project, port, serial) = try await RevokeCommandTests.issuedInCluster("revoke-cluster")
        defer {
            pebble.stop()
            Task { await server.stop() }
        }
        let admin = fakeClient(server)

        let revoked = try await CertctlProcess.run(
            [
                "revoke", "tls-hub", "--reason", "keyCompromise", "--kubeconfig", "kubeconfig", "--issuers", "issuers",
                "--default-issuer", "pebble", "--http01-listen", "127.0.0.1:\(port)", "--http01-self-check-passes", "0",
            ], environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(revoked.status == 0, "\(revoked.standardOutput)\(revoked.standardError)")
        #expect(try await pebble.certificateStatus(serial: serial)?.reason == 1)
        let events = try await admin.list(Event.self, namespace: "prod").filter { $0.reason == "Revoked" }
        #expect(events.count == 1, "\(events)")
        #expect(events.first?.type == "Warning" && events.first?.regarding?.name == "hub")
        #expect(events.first?.note?.contains("certificate \(serial) revoked by the account") == true)
        let after = try await admin.get(Secret.self, namespace: "prod", name: "tls-hub")
        #expect(after.metadata.annotations?["certctl.io/revocation-reason"] == "keyCompromise")
        #expect(CurrentCertificate(secret: after).summary?.serialHex != serial)
    }

    @Test(
        "the request cannot be recorded first (every Secret patch refused): nothing is asked of the CA, exit non-zero")
    func recordRefused() async throws {
        let (pebble, server, project, _, serial) = try await RevokeCommandTests.issuedInCluster("revoke-unrecorded")
        defer {
            pebble.stop()
            Task { await server.stop() }
        }
        // A webhook (or a Role without patch) refuses every patch of a Secret from now on.
        await server.failNext("patch", collection: "v1/secrets", status: 403, count: 10)
        let revoked = try await CertctlProcess.run(
            [
                "revoke", "tls-hub", "--no-reissue", "--reason", "superseded", "--kubeconfig", "kubeconfig",
                "--issuers", "issuers", "--default-issuer", "pebble",
            ], environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(revoked.status != 0, "\(revoked.standardOutput)\(revoked.standardError)")
        #expect(
            revoked.standardError.contains(
                "not revoked: the request could not be recorded on it first, so nothing was asked of the CA"),
            "\(revoked.standardError)")
        #expect(try await pebble.certificateStatus(serial: serial)?.status == "Valid", "the CA was not asked")
    }

    @Test(
        "a revocation asked for and not seen done (the command died after recording it): the next run revokes, then replaces"
    )
    func askedThenDied() async throws {
        let (pebble, server, project, port, serial) = try await RevokeCommandTests.issuedInCluster("revoke-asked")
        defer {
            pebble.stop()
            Task { await server.stop() }
        }
        let admin = fakeClient(server)
        // What `certctl revoke --reason keyCompromise` records before it asks the CA.
        var secret = try await admin.get(Secret.self, namespace: "prod", name: "tls-hub")
        secret.metadata.annotations?["certctl.io/revocation-asked-serial"] = serial
        secret.metadata.annotations?["certctl.io/revocation-asked-reason"] = "keyCompromise"
        _ = try await admin.update(secret)
        let status = try await CertctlProcess.run(
            ["status", "tls-hub", "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--default-issuer", "pebble"],
            environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(
            status.standardOutput.contains("certctl revoke asked for its revocation (keyCompromise)"),
            "\(status.standardOutput)")

        let run = try await CertctlProcess.run(
            project.runArguments(issuer: "pebble", port: port, ["--http01-self-check-passes", "0"]),
            environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
        #expect(try await pebble.certificateStatus(serial: serial)?.reason == 1, "revoked, keyCompromise")
        let after = try await admin.get(Secret.self, namespace: "prod", name: "tls-hub")
        #expect(CurrentCertificate(secret: after).summary?.serialHex != serial, "then replaced")
        #expect(after.metadata.annotations?["certctl.io/revoked-serial"] == serial)
        #expect(after.metadata.annotations?["certctl.io/revocation-asked-serial"] == nil, "the request done")
    }
}
