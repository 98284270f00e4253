import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing
import Transport

@Suite("certctl status")
struct StatusTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let day: TimeInterval = 86_400

    static func entry(
        _ name: String,
        start: Double? = -10,
        days: Double = 90,
        annotations: [String: String] = [:],
        type: String = Secret.tlsType,
        foreignKey: Bool = false
    ) throws -> Inventory.Entry {
        let desired = DesiredCertificate(
            namespace: "prod", secretName: name, hosts: ["\(name).mybinder.org"], issuer: "letsencrypt-prod",
            issuerKind: "ClusterIssuer", ingresses: [name], ingressClass: "traefik"
        )
        guard let start else { return Inventory.Entry(desired: desired, current: nil) }
        let authority = try TestCertificateAuthority(name: "Test Root")
        let key = try PrivateKey(generating: .ecdsaP256)
        let notBefore = now.addingTimeInterval(start * day)
        let pem = try authority.issuePEM(
            for: key, names: desired.hosts, notBefore: notBefore, notAfter: notBefore.addingTimeInterval(days * day))
        let keyPEM =
            foreignKey ? try PrivateKey(generating: .ecdsaP256).pemRepresentation() : try key.pemRepresentation()
        let secret = Secret(
            metadata: ObjectMeta(name: name, namespace: "prod", annotations: annotations),
            type: type,
            data: ["tls.crt": Data(pem.utf8), "tls.key": Data(keyPEM.utf8)]
        )
        return Inventory.Entry(desired: desired, current: CurrentCertificate(secret: secret))
    }

    static func fixture() throws -> [CertificateStatus] {
        let inventory = Inventory(
            cluster: "prod-cluster",
            entries: [
                try entry("ready"),
                try entry("expired", start: -100),
                try entry("missing", start: nil),
                try entry(
                    "failing",
                    annotations: [
                        "certctl.io/failure-count": "3",
                        "certctl.io/last-failure": "rateLimited: too many certificates",
                    ]),
                try entry("short", start: -5.7, days: 6),  // a 6-day certificate with 7 hours left
                try entry("due", start: -70),
                try entry("invalid", foreignKey: true),
                try entry("renewing", annotations: ["certctl.io/renew-requested": "true"]),
            ]
        )
        return CertificateStatus.all(in: inventory, issuers: [:], now: now)
    }

    @Test("states, most urgent first")
    func states() throws {
        let statuses = try Self.fixture()
        #expect(
            statuses.map(\.desired.secretName) == [
                "expired", "missing", "invalid", "short", "failing", "due", "renewing", "ready",
            ])
        #expect(statuses.map(\.state) == [.expired, .missing, .invalid, .expiring, .failing, .due, .renewing, .ready])
        #expect(statuses.map(\.state.severity).max() == 2)
        #expect(statuses.first { $0.state == .failing }?.problem == "rateLimited: too many certificates")
        #expect(
            statuses.first { $0.state == .invalid }?.problem == "tls.key does not belong to the certificate in tls.crt")
    }

    @Test("the table: columns, time left with a bar, no colour unless asked")
    func table() throws {
        let text = StatusTable.render(
            try Self.fixture(), now: Self.now, style: .init(colour: false, wide: false, showCluster: false))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("NAMESPACE  INGRESS   SECRET    HOSTS"))
        #expect(lines[0].contains("TIME LEFT") && lines[0].contains("RENEWS AT") && lines[0].contains("LAST ERROR"))
        let expired = try #require(lines.first { $0.contains("expired.mybinder.org") })
        #expect(expired.contains("expired 10d 0h ago  ░░░░░░░░░░"))
        #expect(expired.contains("Expired"))
        let short = try #require(lines.first { $0.contains("short.mybinder.org") })
        #expect(short.contains("7h 12m              █░░░░░░░░░"))
        let ready = try #require(lines.first { $0.contains(" ready.mybinder.org") })
        #expect(ready.contains("80d 0h              █████████░"))
        #expect(ready.contains("2027-03-06 08:00"))
        #expect(
            lines.last
                == "8 certificates: 1 expired, 1 missing, 1 invalid, 1 expiring, 1 failing, 1 due, 1 renewing, 1 ready")
        #expect(!text.contains("\u{1B}["))
        #expect(!lines.contains { $0.hasSuffix(" ") })

        let coloured = StatusTable.render(
            try Self.fixture(), now: Self.now, style: .init(colour: true, wide: false, showCluster: true))
        #expect(coloured.contains("\u{1B}[1;31mExpired"))
        #expect(coloured.contains("\u{1B}[32mReady"))
        #expect(coloured.hasPrefix("CLUSTER"))
    }

    @Test("wide adds serial, key, chain issuer, failures and next attempt; JSON is stable")
    func wideAndJSON() throws {
        let statuses = try Self.fixture()
        let wide = StatusTable.render(
            statuses, now: Self.now, style: .init(colour: false, wide: true, showCluster: false))
        let header = String(wide.split(separator: "\n")[0])
        #expect(
            header.contains("  SERIAL  ") && header.contains("  KEY  ")
                && header.contains("CHAIN ISSUER  FAILURES  NEXT ATTEMPT"))
        #expect(wide.contains("Test Root"))
        let problem = ObjectProblem(
            object: "Ingress prod/shouty", reason: "\"Hub.example.org\" is not a valid host name: use lower case",
            kind: .invalidHost, namespace: "prod", field: "spec.tls[0].hosts[0]")
        let json = try StatusTable.json(
            Overview(certificates: statuses, problems: [ClusterProblem(cluster: "prod-cluster", problem: problem)]),
            now: Self.now)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let certificates = try #require(object["certificates"] as? [[String: Any]])
        #expect(certificates.count == 8)
        let first = certificates[0]
        #expect(first["state"] as? String == "Expired")
        #expect(first["timeLeftSeconds"] as? Int == -10 * 86_400)
        #expect((first["objects"] as? [String])?.allSatisfy { $0.hasPrefix("Ingress ") } == true, "\(first)")
        #expect(
            Set(first.keys) == [
                "chainIssuer", "cluster", "decision", "failureCount", "failureKind", "fallbackReason", "hosts",
                "ingresses", "issuedBy", "issuer",
                "keyType",
                "lifetimeSeconds",
                "namespace",
                "nextAttempt", "notAfter", "notBefore", "objects", "problem", "profile", "renewalTime", "secret",
                "serial", "state", "timeLeftSeconds",
            ])
        #expect(certificates[1]["notAfter"] is NSNull)
        let problems = try #require(object["problems"] as? [[String: Any]])
        #expect(problems.count == 1)
        #expect(problems.first?["object"] as? String == "Ingress prod/shouty")
        #expect(problems.first?["field"] as? String == "spec.tls[0].hosts[0]")
        #expect(problems.first?["kind"] as? String == "invalid_host")
        #expect(problems.first?["namespace"] as? String == "prod")
        #expect((problems.first?["message"] as? String)?.contains("use lower case") == true)
    }

    @Test(
        "the table fits 80, 100, 120 and 200 columns: cut with a marker, never wrapped", arguments: [80, 100, 120, 200])
    func fitsWidth(width: Int) throws {
        var statuses = try Self.fixture()
        statuses[0].desired.hosts = (1...4).map { "a-rather-long-host-name-\($0).staging.mybinder.org" }
        statuses[0].problem = String(repeating: "the CA said no because of a long reason ", count: 4)
        let text = StatusTable.render(
            statuses, now: Self.now, style: .init(colour: false, wide: false, showCluster: true, width: width))
        let lines = text.split(separator: "\n").map(String.init)
        for line in lines { #expect(line.count <= width, "\(line.count) > \(width): \(line)") }
        // Every certificate keeps its row, its state and its secret's start.
        #expect(lines.count >= 1 + statuses.count + 2)
        for status in statuses {
            #expect(lines.contains { $0.contains(" \(status.state.rawValue) ") || $0.hasSuffix(status.state.rawValue) })
        }
        let header = lines[0]
        #expect(header.contains("SECRET") && header.contains("STATE") && header.contains("TIME LEFT"))
        #expect(text.contains("Cut to \(width) columns: certctl status SECRET shows one in full"))
        #expect(text.contains("…"))
        if width >= 120 { #expect(header.contains("RENEWS AT") && header.contains("LAST ERROR")) }
        // Wide is never cut.
        let wide = StatusTable.render(
            statuses, now: Self.now, style: .init(colour: false, wide: true, showCluster: true, width: width))
        #expect(wide.contains(statuses[0].problem ?? "?") && !wide.contains("Cut to"))
    }

    @Test("a table that fits is not cut and says nothing about cutting")
    func fitsWithoutCutting() throws {
        let text = StatusTable.render(
            try Self.fixture(), now: Self.now, style: .init(colour: false, wide: false, showCluster: false, width: 400))
        #expect(!text.contains("…") && !text.contains("Cut to"))
    }

    @Test("status SECRET says what the next run does, by which rule, until when")
    func decisions() throws {
        let statuses = try Self.fixture()
        func decision(_ name: String) throws -> String {
            StatusTable.explain(try #require(statuses.first { $0.desired.secretName == name }), now: Self.now)
        }
        #expect(
            try decision("ready").hasPrefix(
                "Not due: renews at 2027-03-06T08:00:00Z (in 50d 0h), at 2/3 of its 90d 0h lifetime"))
        #expect(try decision("due").hasPrefix("Due: it is past its renewal time, at 2/3 of its 90d 0h lifetime"))
        #expect(try decision("due").contains("certctl renew due -n prod --now issues it now"))
        #expect(try decision("missing").hasPrefix("Due: there is no Secret yet."))
        #expect(try decision("expired").hasPrefix("Due: the certificate has expired."))
        #expect(try decision("renewing").hasPrefix("Due: a renewal was requested"))
        let backedOff = try Self.entry(
            "backed-off", start: -70,
            annotations: [
                "certctl.io/failure-count": "2", "certctl.io/next-attempt": "2027-01-15T10:00:00Z",
                "certctl.io/last-failure-kind": "challenge",
            ])
        let held = CertificateStatus(cluster: "c", entry: backedOff, profile: nil, now: Self.now)
        #expect(
            StatusTable.explain(held, now: Self.now)
                == "Due (it is past its renewal time, at 2/3 of its 90d 0h lifetime (certctl's rule without ARI: 2/3, or 1/2 under 10 days)), but 2 attempts failed, so the next waits until 2027-01-15T10:00:00Z (in 2h 0m) (a back-off of 1 h doubling to 32 h); after fixing the cause, certctl renew backed-off -n prod --now clears it."
        )
        let limited = try Self.entry(
            "limited", start: -70,
            annotations: [
                "certctl.io/failure-count": "1", "certctl.io/next-attempt": "2027-01-16T08:00:00Z",
                "certctl.io/last-failure-kind": "rate_limited",
            ])
        let rateLimited = CertificateStatus(cluster: "c", entry: limited, profile: nil, now: Self.now)
        #expect(
            StatusTable.explain(rateLimited, now: Self.now).contains(
                "the CA rate-limited the last order and said to retry after 2027-01-16T08:00:00Z (in 1d 0h)"))
        let profiled = CertificateStatus(cluster: "c", entry: try Self.entry("p"), profile: "shortlived", now: Self.now)
        #expect(
            StatusTable.explain(profiled, now: Self.now).hasPrefix(
                "Due: the issuer asks for profile shortlived, the certificate was issued under none."))
    }

    @Test("one certificate in full")
    func detail() throws {
        let failing = try #require(try Self.fixture().first { $0.state == .failing })
        let text = StatusTable.detail(failing, now: Self.now)
        #expect(text.contains("Secret        prod/failing (prod-cluster)"))
        #expect(text.contains("Failures      3"))
        #expect(text.contains("Last failure  rateLimited: too many certificates"))
        #expect(text.hasPrefix("Decision      Not due: renews at 2027-03-06T08:00:00Z (in 50d 0h)"))
        // A long decision wraps at words under its key, within the width asked.
        let narrow = StatusTable.detail(failing, now: Self.now, columns: 60)
        #expect(narrow.split(separator: "\n").allSatisfy { $0.count <= 60 })
        #expect(narrow.split(separator: "\n")[1].hasPrefix("              "))
    }

    @Test(
        "durations",
        arguments: [
            (90.0 * 60, "1h 30m"), (59.0, "0m"), (86_400.0 * 2 + 3600, "2d 1h"), (-3600.0, "expired 1h 0m ago"),
        ])
    func durations(seconds: Double, text: String) {
        #expect(StatusTable.duration(seconds) == text)
    }
}

@Suite("certctl status, the binary", .serialized)
struct StatusCommandTests {
    @Test("an expired certificate makes exit code 2; no colour when piped; one Secret in full")
    func binary() async throws {
        let project = try LocalProject.make(server: "https://127.0.0.1:1/dir", sites: ["old", "new"])
        let directory = project.directory
        let authority = try TestCertificateAuthority()
        try await project.seedCertificate("old", startDays: -100, authority: authority)
        try await project.seedCertificate("new", startDays: -1, authority: authority)
        let common = LocalProject.flags
        let table = try await CertctlProcess.run(["status"] + common, directory: directory)
        #expect(table.status == 2, "\(table.standardError)")
        let lines = table.standardOutput.split(separator: "\n")
        #expect(lines[1].contains("tls-old") && lines[1].contains("Expired"), "most urgent first")
        #expect(lines[2].contains("tls-new") && lines[2].contains("Ready"))
        #expect(!table.standardOutput.contains("\u{1B}["))
        #expect(table.standardOutput.contains("2 certificates: 1 expired, 1 ready"))

        let one = try await CertctlProcess.run(["status", "tls-new"] + common, directory: directory)
        #expect(one.status == 0)
        #expect(one.standardOutput.contains("State       Ready"))

        let json = try await CertctlProcess.run(["status", "-o", "json"] + common, directory: directory)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        #expect((object["certificates"] as? [[String: Any]])?.first?["state"] as? String == "Expired")
    }
}

@Suite("certctl status over several clusters", .serialized)
struct FederationStatusTests {
    @Test("--context twice: one table with a cluster column, most urgent first across clusters")
    func twoClusters() async throws {
        let east = try await FakeAPIServer.start()
        let west = try await FakeAPIServer.start()
        defer {
            Task {
                await east.stop()
                await west.stop()
            }
        }
        let authority = try TestCertificateAuthority()
        for (server, start) in [(east, -1.0), (west, -100.0)] {
            let client = fakeClient(server)
            _ = try await client.create(ingress("prod", "hub", tls: [(["hub.mybinder.org"], "kubelego-tls-hub")]))
            let key = try PrivateKey(generating: .ecdsaP256)
            let notBefore = Date().addingTimeInterval(start * 86_400)
            let pem = try authority.issuePEM(
                for: key, names: ["hub.mybinder.org"], notBefore: notBefore,
                notAfter: notBefore.addingTimeInterval(90 * 86_400))
            _ = try await client.create(
                tlsSecret(
                    "prod", "kubelego-tls-hub",
                    data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]))
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("federation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try east.kubeconfig(context: "east", namespace: "prod").write(
            to: folder.appendingPathComponent("east"), atomically: true, encoding: .utf8)
        try west.kubeconfig(context: "west", namespace: "prod").write(
            to: folder.appendingPathComponent("west"), atomically: true, encoding: .utf8)
        let issuers = CertctlProcess.repository.appendingPathComponent("issuers").path
        let result = try await CertctlProcess.run(
            [
                "status", "--context", "east", "--context", "west", "--issuers", issuers, "--default-issuer",
                "letsencrypt-prod",
            ],
            environment: ["KUBECONFIG": "\(folder.path)/east:\(folder.path)/west"]
        )
        #expect(result.status == 2, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines[0].hasPrefix("CLUSTER  NAMESPACE"))
        #expect(lines[1].hasPrefix("west") && lines[1].contains("Expired"))
        #expect(lines[2].hasPrefix("east") && lines[2].contains("Ready"))

        let run = try await CertctlProcess.run(["run", "--context", "east", "--context", "west", "--issuers", issuers])
        #expect(run.status == 64)
        #expect(run.standardError.contains("only certctl status takes several"))

        // West goes down: east is still shown, west is named, and the exit code is critical.
        await west.stop()
        let down = try await CertctlProcess.run(
            [
                "status", "--context", "east", "--context", "west", "--issuers", issuers, "--default-issuer",
                "letsencrypt-prod",
            ],
            environment: ["KUBECONFIG": "\(folder.path)/east:\(folder.path)/west"]
        )
        #expect(down.status == 2, "\(down.standardError)")
        let shown = down.standardOutput.split(separator: "\n")
        #expect(shown[1].hasPrefix("east") && shown[1].contains("Ready"), "\(down.standardOutput)")
        #expect(!down.standardOutput.contains("\nwest "))
        #expect(shown.contains { $0.hasPrefix("error    cluster west cannot be read:") }, "\(down.standardOutput)")
    }
}

@Suite("certctl status --probe", .serialized)
struct ProbeTests {
    @Test("a host serving the Secret's certificate is Ready; one serving another certificate is flagged")
    func probe() async throws {
        let authority = try TestCertificateAuthority()
        let project = try LocalProject.make(server: "https://127.0.0.1:1/dir", sites: ["hub"])
        let directory = project.directory
        let (stored, key) = try await project.seedCertificate("hub", startDays: -1, authority: authority)
        let keyPEM = try key.pemRepresentation()
        let now = Date()
        let old = try authority.issuePEM(
            for: key,
            names: ["hub.mybinder.org"],
            notBefore: now.addingTimeInterval(-80 * 86_400),
            notAfter: now.addingTimeInterval(10 * 86_400)
        )
        let arguments = ["status"] + LocalProject.flags + ["--probe", "--probe-address", "127.0.0.1"]

        let right = try await TLSTestServer.start(certificateChainPEM: stored, keyPEM: keyPEM)
        let good = try await CertctlProcess.run(arguments + ["--probe-port", "\(right.port)"], directory: directory)
        await right.stop()
        #expect(good.status == 0, "\(good.standardOutput)\(good.standardError)")
        #expect(good.standardOutput.contains("Ready"))

        let wrong = try await TLSTestServer.start(certificateChainPEM: old, keyPEM: keyPEM)
        let bad = try await CertctlProcess.run(arguments + ["--probe-port", "\(wrong.port)"], directory: directory)
        await wrong.stop()
        #expect(bad.status == 2)
        #expect(bad.standardOutput.contains("Invalid"))
        let detail = try await CertctlProcess.run(
            ["status", "tls-hub"] + LocalProject.flags + [
                "--probe", "--probe-address", "127.0.0.1", "--probe-port", "1",
            ],
            directory: directory
        )
        #expect(detail.standardOutput.contains("cannot probe hub.mybinder.org:1"), "\(detail.standardOutput)")
    }
}
