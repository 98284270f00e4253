import ACME
import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import DNS
import Foundation
import Kubernetes
import Testing

/// dns-persist-01 (draft-ietf-acme-dns-persist) against the in-process CA written to the draft,
/// which reads `_validation-persist` records from a real BIND 9: certctl writes no DNS record,
/// it checks the one published once and answers the challenge.
@Suite("dns-persist-01: one record published once, no DNS credentials", .serialized)
struct DNSPersistTests {
    struct Setup {
        let bind: BIND
        let server: TestACMEServer
        let run: RunFixture

        static func make(offered: Bool = true, hosts: [String] = ["*.example.test", "example.test"]) async throws
            -> Setup
        {
            let bind = try await BIND.start()
            let port = freeLoopbackPort()
            var behaviour = TestACMEServer.Behaviour()
            if offered { behaviour.dnsPersist = (["ca.example.net", "authority.example"], bind.address) }
            behaviour.unknownChallenge = true
            let server = try await TestACMEServer.start(validationPort: port, behaviour: behaviour)
            let run = try await RunFixture.make(
                .local, ingresses: [ingress("prod", "wild", tls: [(hosts, "wildcard-tls")])],
                server: server.directoryURL, caBundle: nil, port: port,
                solvers: ["{selector: {dnsZones: [example.test]}, dnsPersist01: {resolver: \"\(bind.address)\"}}"])
            return Setup(bind: bind, server: server, run: run)
        }

        /// Publishes `value` at `_validation-persist.example.test`, as the operator does once.
        func publish(_ value: String) async throws {
            let update = DynamicUpdate(
                client: bind.client, key: bind.key, now: { UInt64(Date().timeIntervalSince1970) })
            try await update.add(.txt("_validation-persist.example.test", value, ttl: 3600), zone: "example.test")
        }

        /// `certctl dns-persist-record` over the run's state directory: the lines it prints.
        func recordLines(_ domains: [String], manifests: Bool = true) async throws -> [String] {
            let folder = run.fixture.directory
            try FileManager.default.createDirectory(
                at: folder.appendingPathComponent("issuers"), withIntermediateDirectories: true)
            try run.issuerYAML.write(
                to: folder.appendingPathComponent("issuers/pebble.yaml"), atomically: true, encoding: .utf8)
            let result = try await CertctlProcess.run(
                ["dns-persist-record"] + (manifests ? ["--manifests", "ingress"] : [])
                    + ["--state", "state", "--issuers", "issuers", "--issuer", "pebble"]
                    + domains.flatMap { ["-d", $0] },
                directory: folder)
            #expect(result.status == 0, "\(result.standardError)")
            return result.standardOutput.split(separator: "\n").map(String.init)
        }

        func stop() async {
            bind.stop()
            await server.stop()
            await run.fixture.stop()
        }
    }

    /// The value of a zone line's TXT strings.
    static func value(of line: String) -> String {
        line.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map(\.element).joined()
    }

    @Test("dns-persist-record prints the record; once it is published, a wildcard and its apex issue with no DNS write")
    func published() async throws {
        let setup = try await Setup.make()
        // Stopped however the test ends (a failed #require throws); named at once, not later.
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        // A name and its wildcard: one record, policy=wildcard, which covers both.
        let lines = try await setup.recordLines(["*.example.test", "example.test"])
        #expect(lines.count == 1, "\(lines)")
        #expect(
            lines.allSatisfy {
                $0.hasPrefix("_validation-persist.example.test. IN TXT \"ca.example.net; accounturi=")
                    && $0.hasSuffix("; policy=wildcard\"")
            }, "\(lines)")
        // Without -d: the names of the managed Ingresses its dnsPersist01 solver serves; the same.
        #expect(try await setup.recordLines([]) == lines)
        // -d with the base name alone, whose certificate has the wildcard too: the wildcard's record.
        #expect(try await setup.recordLines(["example.test"]) == lines)
        // --state alone (no manifests to read) with -d: the local account, the names as given.
        let stateOnly = try await setup.recordLines(["*.example.test"], manifests: false)
        #expect(stateOnly == lines, "the same account, from the state directory")
        try await setup.publish(Self.value(of: try #require(lines.first)))
        let (report, _) = try await setup.run.runOnce()
        #expect(report.certificates.first?.outcome == .issued, "\(report.certificates)")
        let secret = try #require(try await setup.run.fixture.store.secret(namespace: "prod", name: "wildcard-tls"))
        #expect(Set(CurrentCertificate(secret: secret).summary?.names ?? []) == ["*.example.test", "example.test"])
        #expect(try setup.bind.dig("_validation-persist.example.test").count == 1, "the record stays, alone")
    }

    @Test(
        "a missing record, another account's, or one without policy=wildcard for a wildcard: the certificate fails with the record to publish",
        arguments: [
            "", "ca.example.net; accounturi=https://elsewhere.example/acct/9; policy=wildcard", "WITHOUT-WILDCARD",
        ])
    func unpublished(published: String) async throws {
        let setup = try await Setup.make()
        // Stopped however the test ends (a failed #require throws); named at once, not later.
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        let lines = try await setup.recordLines(["*.example.test"])
        let wanted = try #require(lines.first)
        if published == "WITHOUT-WILDCARD" {
            try await setup.publish(Self.value(of: wanted).replacingOccurrences(of: "; policy=wildcard", with: ""))
        } else if !published.isEmpty {
            try await setup.publish(published)
        }
        let (report, _) = try await setup.run.runOnce()
        guard case .failed(let failure, _) = report.certificates.first?.outcome, case let message = failure.message
        else {
            Issue.record("should fail: \(report.certificates)")
            return
        }
        #expect(message.contains(wanted), "the exact record to publish: \(message)")
        #expect(report.certificates.first?.failureKind == .challenge)
    }

    @Test(
        "a CA that does not offer dns-persist-01: a clear failure naming what it offers; unknown challenge types are ignored"
    )
    func notOffered() async throws {
        let setup = try await Setup.make(offered: false, hosts: ["example.test"])
        // Stopped however the test ends (a failed #require throws); named at once, not later.
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        let (report, _) = try await setup.run.runOnce()
        guard case .failed(let failure, _) = report.certificates.first?.outcome, case let message = failure.message
        else {
            Issue.record("should fail: \(report.certificates)")
            return
        }
        #expect(message.contains("no dns-persist-01 challenge") && message.contains("http-01"), "\(message)")
        #expect(!message.contains("made-up-99"), "a challenge certctl cannot read is left out: \(message)")
    }

    @Test("issue-values are read as RFC 8659 says: unknown tags ignored, tags case-insensitive, persistUntil honoured")
    func parsing() throws {
        let record = try #require(
            DNSPersistRecord(parsing: "ca.example.net; AccountURI=https://ca/acct/1; Policy=WILDCARD; future=x"))
        #expect(record.issuerDomainName == "ca.example.net")
        #expect(
            record.authorizes(
                account: "https://ca/acct/1", issuerDomainNames: ["ca.example.net"], wildcard: true, now: 0))
        #expect(
            !record.authorizes(
                account: "https://ca/acct/2", issuerDomainNames: ["ca.example.net"], wildcard: false, now: 0))
        // Compared as written, as Pebble compares: a record spelling the CA otherwise is not its.
        let spelled = try #require(DNSPersistRecord(parsing: "CA.Example.Net.; accounturi=https://ca/acct/1"))
        #expect(
            !spelled.authorizes(
                account: "https://ca/acct/1", issuerDomainNames: ["ca.example.net"], wildcard: false, now: 0))
        // As strict as a CA: a trailing ';', a repeated tag, a value with a space are malformed.
        for malformed in [
            "ca.example.net; accounturi=https://ca/acct/1;", "ca.example.net; accounturi=a; AccountURI=b",
            "ca.example.net; accounturi=https://ca/a b", "ca.example.net; accounturi=",
            "ca.example.net; persistUntil=soon",
        ] {
            #expect(DNSPersistRecord(parsing: malformed) == nil, "\(malformed)")
        }
        let expired = try #require(
            DNSPersistRecord(parsing: "ca.example.net; accounturi=https://ca/acct/1; persistUntil=100"))
        #expect(
            !expired.authorizes(
                account: "https://ca/acct/1", issuerDomainNames: ["ca.example.net"], wildcard: false, now: 101))
        #expect(DNSPersistRecord(parsing: "; accounturi=x") == nil)
        #expect(DNSPersistRecord(parsing: "ca.example.net; broken") == nil)
        let long = DNSPersistRecord(
            issuerDomainName: "ca.example.net", accountURI: "https://ca/" + String(repeating: "a", count: 300))
        #expect(long.zoneLine(for: "example.test").components(separatedBy: "\" \"").count == 2, "split at 255 bytes")
    }
}

@Suite("dns-persist-01 records that expire (persistUntil)", .serialized)
struct DNSPersistUntilTests {
    @Test(
        "a record whose persistUntil comes within the certificate's lifetime: recorded, a problem in status and a metric"
    )
    func expiring() async throws {
        let setup = try await DNSPersistTests.Setup.make()
        // Stopped however the test ends (a failed #require throws); named at once, not later.
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        let lines = try await setup.recordLines(["*.example.test"])
        let until = Int(Date().timeIntervalSince1970) + 30 * 86_400
        try await setup.publish(DNSPersistTests.value(of: try #require(lines.first)) + "; persistUntil=\(until)")
        let (report, _) = try await setup.run.runOnce()
        #expect(report.certificates.first?.outcome == .issued, "\(report.certificates)")
        let store = setup.run.fixture.store
        let secret = try #require(try await store.secret(namespace: "prod", name: "wildcard-tls"))
        let recorded = RenewalRecord(annotations: secret.metadata.annotations ?? [:]).dnsPersistUntil
        #expect(recorded == Date(timeIntervalSince1970: TimeInterval(until)))
        let inventory = try await Inventory.load(
            from: store, scope: .all, issuers: Set(["pebble"]), defaultIssuer: "pebble", wildcardIssuers: ["pebble"])
        let status = try #require(CertificateStatus.all(in: inventory, issuers: [:], now: Date()).first)
        #expect(status.state == .failing, "a warning: \(status.state)")
        #expect(
            status.problem?.hasPrefix(
                "its dns-persist-01 record expires at \(Timestamp.rfc3339(Date(timeIntervalSince1970: TimeInterval(until)))) (persistUntil), within a certificate's lifetime: publish it again (certctl dns-persist-record --issuer pebble -d "
            ) == true,
            "\(status.problem ?? "")")
        let metrics = CertificateMetrics.render([status])
        #expect(
            metrics.contains(
                "certctl_certificate_dns_persist_until_timestamp_seconds{namespace=\"prod\",secret=\"wildcard-tls\""))
    }

    @Test("a record with persistUntil=2^63-1: issued, recorded as 9999-12-31, formatted everywhere, not a crash")
    func farPersistUntil() async throws {
        let setup = try await DNSPersistTests.Setup.make()
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        let lines = try await setup.recordLines(["*.example.test"])
        try await setup.publish(
            DNSPersistTests.value(of: try #require(lines.first)) + "; persistUntil=9223372036854775807")
        let (report, _) = try await setup.run.runOnce()
        #expect(report.certificates.first?.outcome == .issued, "\(report.certificates)")
        let store = setup.run.fixture.store
        let secret = try #require(try await store.secret(namespace: "prod", name: "wildcard-tls"))
        #expect(secret.metadata.annotations?["certctl.io/dns-persist-until"] == "9999-12-31T23:59:59Z")
        let inventory = try await Inventory.load(
            from: store, scope: .all, issuers: Set(["pebble"]), defaultIssuer: "pebble", wildcardIssuers: ["pebble"])
        let status = try #require(CertificateStatus.all(in: inventory, issuers: [:], now: Date()).first)
        #expect(status.state != .failing, "a record that lasts does not warn: \(status.problem ?? "")")
        #expect(
            !StatusTable.render([status], now: Date(), style: .init(colour: false, wide: true, showCluster: false))
                .isEmpty)
        #expect(CertificateMetrics.render([status]).contains("dns_persist_until_timestamp_seconds"))
    }

    @Test(
        "the warning by table: within a lifetime from now, or not; a record for another certificate does not count",
        arguments: [(10.0, true), (89.0, true), (91.0, false), (400.0, false)])
    func table(daysLeft: Double, warns: Bool) throws {
        let now = Date()
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let pem = try authority.issuePEM(
            for: key, names: ["a.example.test"], notBefore: now, notAfter: now.addingTimeInterval(90 * 86_400))
        let summary = CertificateSummary(try CertificateChain(pem: pem).leaf)
        var record = RenewalRecord()
        record.serial = summary.serialHex
        record.dnsPersistUntil = now.addingTimeInterval(daysLeft * 86_400)
        let desired = DesiredCertificate(
            namespace: "prod", secretName: "a-tls", hosts: ["a.example.test"], issuer: "staging",
            issuerKind: "ClusterIssuer", ingresses: ["a"], ingressClass: nil)
        #expect(
            (CertificateStatus.persistWarning(record, summary: summary, desired: desired, now: now) != nil) == warns)
        record.serial = "another"
        #expect(CertificateStatus.persistWarning(record, summary: summary, desired: desired, now: now) == nil)
    }
}
