import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing

/// The values that stopped every renewal of a cluster (a trapping conversion, at every run),
/// through the binary: each run now issues the other certificates and exits reporting the
/// object (README, "Hostile values").
@Suite("A tenant's value cannot stop renewals", .serialized)
struct TenantValueTests {
    @Test(
        "renew-before: 999999999999999999999h on an Ingress whose Secret holds a certificate: refused for that Ingress, the other issued"
    )
    func hugeRenewBefore() async throws {
        let port = freeLoopbackPort()
        let server = try await TestACMEServer.start(validationPort: port)
        defer { Task { await server.stop() } }
        let project = try BinaryProject(server: server, port: port, sites: ["a", "b"])
        let seeded = try await project.project.seedCertificate(
            "a", startDays: -1, authority: try TestCertificateAuthority())
        try project.writeIngress(
            "a", hosts: ["a.mybinder.org"], annotations: ["cert-manager.io/renew-before": "999999999999999999999h"])
        let run = try await project.certctl(["run"])
        #expect(run.status == 1, "a misconfigured object, not a crash: \(run.status) \(run.standardError)")
        #expect(run.standardOutput.contains("1 issued"), "\(run.standardOutput)")
        #expect(
            run.standardOutput.contains(
                "Secret prod/tls-a: Ingress prod/a cert-manager.io/renew-before: \"999999999999999999999h\" is longer than ten years; write a duration like 720h"
            ), "\(run.standardOutput)")
        let kept = try #require(try await project.project.store.secret(namespace: "prod", name: "tls-a"))
        #expect(kept.data?["tls.crt"] == Data(seeded.pem.utf8), "the certificate it had is left as it was")
        #expect(try await project.project.store.secret(namespace: "prod", name: "tls-b")?.data?["tls.crt"] != nil)
        let status = try await CertctlProcess.run(["status"] + LocalProject.flags, directory: project.directory)
        #expect(status.status == 1, "the misconfigured Ingress, said: \(status.standardOutput)\(status.standardError)")
        #expect(status.standardOutput.contains("cert-manager.io/renew-before"), "\(status.standardOutput)")
        // Ten years at most is taken: at or above the lifetime it is ignored with a warning,
        // whose durations format.
        try project.writeIngress(
            "a", hosts: ["a.mybinder.org"], annotations: ["cert-manager.io/renew-before": "87600h"])
        let warned = try await project.certctl(["run"])
        #expect(warned.status == 0, "\(warned.standardOutput)\(warned.standardError)")
        #expect(
            warned.standardOutput.contains("cert-manager.io/renew-before 3650d 0h is not shorter"),
            "\(warned.standardOutput)")
    }

    @Test("a record's failure-count of 2^63-1 and one more failure: saturated, the other issued")
    func hugeFailureCount() async throws {
        let port = freeLoopbackPort()
        let server = try await TestACMEServer.start(validationPort: port)
        var limited = TestACMEServer.Behaviour()
        limited.rateLimitedOrders = 100
        let refusing = try await TestACMEServer.start(validationPort: port, behaviour: limited)
        defer {
            Task {
                await server.stop()
                await refusing.stop()
            }
        }
        let project = try BinaryProject(server: server, port: port, sites: ["a", "b"])
        try IssueCommandTests.issuerYAML(server: refusing.directoryURL, name: "refusing").write(
            to: project.directory.appendingPathComponent("issuers/refusing.yaml"), atomically: true, encoding: .utf8)
        // a: an expired certificate of the refusing CA whose record says 2^63-1 failures.
        _ = try await project.project.seedCertificate(
            "a", startDays: -100, authority: try TestCertificateAuthority())
        var secret = try #require(try await project.project.store.secret(namespace: "prod", name: "tls-a"))
        secret.metadata.annotations = [
            "certctl.io/failure-count": "9223372036854775807", "certctl.io/issuer": "refusing",
        ]
        _ = try await project.project.store.update(secret)
        try project.writeIngress(
            "a", hosts: ["a.mybinder.org"], annotations: ["cert-manager.io/cluster-issuer": "refusing"])
        let run = try await project.certctl(["run"])
        #expect(run.status == 2, "an expired certificate failed again, not a crash: \(run.status) \(run.standardError)")
        #expect(run.standardOutput.contains("1 issued"), "\(run.standardOutput)")
        #expect(run.standardOutput.contains("rate_limited"), "\(run.standardOutput)")
        let record = try await project.record("a")
        #expect(record.failureCount == Bounded.largestCount)
        #expect(try await project.project.store.secret(namespace: "prod", name: "tls-b")?.data?["tls.crt"] != nil)
        let status = try await CertctlProcess.run(
            ["status", "-o", "json"] + LocalProject.flags, directory: project.directory)
        #expect(status.standardOutput.contains("\"failureCount\": 1000000"), "\(status.standardOutput)")
    }

    @Test("certctl check --schedule \"0 0 29 2 *\": a run a year apart at best, said, not a crash")
    func leapDaySchedule() async throws {
        let project = try LocalProject.make(server: "https://127.0.0.1:1/dir", sites: ["hub"])
        _ = try await project.seedCertificate("hub", startDays: 0, days: 90, authority: try TestCertificateAuthority())
        for schedule in ["0 0 29 2 *", "* * */9223372036854775807 * *", "1/9223372036854775807 * * * *"] {
            let check = try await CertctlProcess.run(
                ["check", "--schedule", schedule, "--resolver", "127.0.0.1:1"] + LocalProject.flags,
                directory: project.directory)
            #expect((0...2).contains(check.status), "\(schedule): \(check.status) \(check.standardError)")
            #expect(check.standardOutput.contains("schedule"), "\(schedule): \(check.standardOutput)")
        }
        let leap = try await CertctlProcess.run(
            ["check", "--schedule", "0 0 29 2 *", "--resolver", "127.0.0.1:1"] + LocalProject.flags,
            directory: project.directory)
        #expect(leap.standardOutput.contains("warn  schedule     runs up to"), "\(leap.standardOutput)")
    }
}
