import CertctlCore
import CertctlTestSupport
import Foundation
import Kubernetes
import Testing
import Transport

/// `certctl check` through the binary: a good setup passes every line, a broken one names each
/// fault on a line of its own, with exit codes 0, 1 and 2.
@Suite("certctl check", .serialized)
struct CheckCommandTests {
    static func lines(_ output: String) -> [String] { output.split(separator: "\n").map(String.init) }

    @Test("a fallback is checked before the bad day: its CA, and each certificate it could not issue")
    func fallbackChecked() async throws {
        let bind = try await BIND.start(zone: "mybinder.org", otherZones: ["org"])
        defer { bind.stop() }
        let ca = try await TestACMEServer.start(validationPort: freeLoopbackPort())
        defer { Task { await ca.stop() } }
        let project = try LocalProject.make(server: ca.directoryURL, sites: ["a"])
        let issuers = project.directory.appendingPathComponent("issuers")
        // local falls back to narrow, whose one solver serves another zone only.
        let local = try String(contentsOf: issuers.appendingPathComponent("test.yaml"), encoding: .utf8)
        try local.replacingOccurrences(
            of: "  name: local\n", with: "  name: local\n  annotations: {certctl.io/fallback-issuers: narrow}\n"
        ).write(to: issuers.appendingPathComponent("test.yaml"), atomically: true, encoding: .utf8)
        try
            (IssueCommandTests.issuerYAML(server: ca.directoryURL, name: "narrow")
            + "\n    solvers: [{selector: {dnsZones: [example.net]}, http01: {ingress: {}}}]\n").write(
                to: issuers.appendingPathComponent("narrow.yaml"), atomically: true, encoding: .utf8)
        let checked = try await CertctlProcess.run(
            ["check"] + LocalProject.flags + ["--resolver", bind.address], directory: project.directory)
        let lines = Self.lines(checked.standardOutput)
        #expect(checked.status != 0, "\(checked.standardOutput)\(checked.standardError)")
        #expect(lines.contains { $0.hasPrefix("ok    issuer       narrow: \(ca.directoryURL) answers") }, "\(lines)")
        #expect(
            lines.contains {
                $0.hasPrefix(
                    "FAIL  fallback     ClusterIssuer narrow, a fallback of ClusterIssuer local, could not issue Secret prod/tls-a:"
                ) && $0.contains("a.mybinder.org, which no solver")
            }, "\(lines)")
    }

    @Test("CAA over many names: ten allowed lines and a count; a resolver that does not answer is said once")
    func caaAtScale() async throws {
        let bind = try await BIND.start(zone: "mybinder.org", otherZones: ["org"])
        defer { bind.stop() }
        let ca = try await TestACMEServer.start(validationPort: freeLoopbackPort())
        defer { Task { await ca.stop() } }
        let sites = (0..<15).map { "s\($0)" }
        let project = try LocalProject.make(server: ca.directoryURL, sites: sites)
        let check = ["check"] + LocalProject.flags
        let answered = try await CertctlProcess.run(check + ["--resolver", bind.address], directory: project.directory)
        let lines = Self.lines(answered.standardOutput).filter { $0.hasPrefix("ok    CAA") }
        #expect(lines.count == 11, "\(answered.standardOutput)")
        #expect(lines.last == "ok    CAA          5 more names and issuers allowed, as above (not listed one by one)")

        // Nothing listens there: the first name says why, the other 14 are counted, not waited for.
        let dead = "127.0.0.1:\(freeLoopbackPort())"
        let silent = try await CertctlProcess.run(check + ["--resolver", dead], directory: project.directory)
        let warned = Self.lines(silent.standardOutput).filter { $0.hasPrefix("warn  CAA") }
        #expect(warned.count == 2, "\(silent.standardOutput)")
        #expect(warned.last?.contains("14 more names not checked: the resolver did not answer") == true)
    }

    @Test("local: CA, profile, account and hosts good, then each broken in turn")
    func local() async throws {
        let bind = try await BIND.start(zone: "mybinder.org", otherZones: ["org"])
        defer { bind.stop() }
        let port = freeLoopbackPort()
        let ca = try await TestACMEServer.start(validationPort: port)
        defer { Task { await ca.stop() } }
        let project = try LocalProject.make(server: ca.directoryURL, sites: ["a", "b"])
        let check = ["check"] + LocalProject.flags + ["--resolver", bind.address]

        let fresh = try await CertctlProcess.run(check, directory: project.directory)
        #expect(fresh.status == 0, "\(fresh.standardOutput)\(fresh.standardError)")
        let freshLines = Self.lines(fresh.standardOutput)
        #expect(freshLines.contains("ok    cluster      local: 2 certificates from the Ingresses"), "\(freshLines)")
        #expect(
            freshLines.contains {
                $0.hasPrefix("ok    issuer       local: \(ca.directoryURL) answers (ARI; profiles classic, shortlived)")
            }, "\(freshLines)")
        #expect(
            freshLines.contains {
                $0.hasPrefix("ok    account      issuer local: no account key yet; the first run creates one")
            })
        #expect(freshLines.contains("ok    DNS          2 of 2 hosts HTTP-01 validates resolve (at \(bind.address))"))
        // CAA, read at BIND, which serves org too: a resolver answers up to the root.
        #expect(
            freshLines.contains(
                "ok    CAA          a.mybinder.org, primary local: no CAA record at a.mybinder.org or its parents: any CA may issue"
            ), "\(freshLines)")
        #expect(freshLines.contains("6 checks: 6 ok, 0 warnings, 0 failed"), "\(freshLines)")
        let (orders, accounts) = (await ca.orders, await ca.accountsCreated)
        #expect(orders.isEmpty && accounts == 0, "check makes no account and no order")

        // After a run the account exists, and check finds it by its key.
        let run = try await CertctlProcess.run(
            ["run", "--http01-listen", "127.0.0.1:\(port)", "--http01-self-check-passes", "0"] + LocalProject.flags,
            directory: project.directory)
        #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
        let known = try await CertctlProcess.run(check, directory: project.directory)
        #expect(known.status == 0)
        #expect(
            Self.lines(known.standardOutput).contains {
                $0.hasPrefix(
                    "ok    account      issuer local: \(ca.directoryURL.replacingOccurrences(of: "/dir", with: "/acct/"))"
                ) && $0.hasSuffix(" is valid")
            },
            "\(known.standardOutput)")

        // Broken: the CA forgot the account, a host outside any zone, an upper-case host, a profile the CA lacks.
        await ca.forgetAccounts()
        try """
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: c, namespace: prod, annotations: {kubernetes.io/tls-acme: "true"}}
        spec:
          tls: [{hosts: [c.elsewhere.example], secretName: tls-c}, {hosts: [Shouty.mybinder.org], secretName: tls-d}]
        """.write(to: project.directory.appendingPathComponent("ingress/c.yaml"), atomically: true, encoding: .utf8)
        let warned = try await CertctlProcess.run(check, directory: project.directory)
        #expect(warned.status == 2, "\(warned.standardOutput)")
        let warnedLines = Self.lines(warned.standardOutput)
        #expect(
            warnedLines.contains {
                $0.hasPrefix("warn  object       Ingress prod/c spec.tls[1].hosts[0]:")
                    && $0.contains("use lower case")
            }, "\(warnedLines)")
        #expect(
            warnedLines.contains(
                "warn  account      issuer local: the CA does not know the stored key's account (a reset CA?); the next run registers it again"
            ), "\(warnedLines)")
        #expect(
            warnedLines.contains {
                $0.hasPrefix("FAIL  DNS          c.elsewhere.example does not resolve (")
                    && $0.hasSuffix("): the CA cannot reach it for HTTP-01")
            }, "\(warnedLines)")

        try IssueCommandTests.issuerYAML(server: ca.directoryURL).replacingOccurrences(
            of: "    server:", with: "    profile: tiny\n    server:"
        ).write(to: project.directory.appendingPathComponent("issuers/test.yaml"), atomically: true, encoding: .utf8)
        let profile = try await CertctlProcess.run(check, directory: project.directory)
        #expect(profile.status == 2, "\(profile.standardOutput)\(profile.standardError)")
        #expect(
            Self.lines(profile.standardOutput).contains {
                $0.hasPrefix(
                    "FAIL  issuer       local: asks for profile tiny, which \(ca.directoryURL) does not offer (it offers classic, shortlived)"
                )
            }, "\(profile.standardOutput)")

        let down = try await CertctlProcess.run(
            ["check"] + LocalProject.flags + ["--resolver", "127.0.0.1:1"],
            directory: project.directory)
        #expect(down.status == 2)
        #expect(
            down.standardOutput.contains("does not resolve (127.0.0.1:1 does not answer)"), "\(down.standardOutput)")
    }

    @Test("in a pod: the chart's Role passes; a Role without Services fails naming what is missing")
    func permissions() async throws {
        let server = try await PodRBACTests.start()
        defer { Task { await server.stop() } }
        let ca = try await TestACMEServer.start(validationPort: freeLoopbackPort())
        defer { Task { await ca.stop() } }
        let admin = fakeClient(server)
        _ = try await admin.create(ingress("prod", "hub", tls: [(["hub.mybinder.org"], "tls-hub")]))
        let bind = try await BIND.start(zone: "mybinder.org", otherZones: ["org"])
        defer { bind.stop() }
        let project = try PodRBACTests.project(server, "check-rbac")
        try project.writeIssuer("pebble", server: ca.directoryURL)
        // The probe's responder listens on a loopback port; it is fetched there, as an ingress
        // controller routing hub.mybinder.org's challenge path to the solver Service would.
        let port = freeLoopbackPort()
        let arguments = [
            "check", "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--default-issuer", "pebble", "--resolver",
            bind.address, "--http01-listen", "127.0.0.1:\(port)", "--http01-probe-address", "127.0.0.1:\(port)",
        ]
        let good = try await CertctlProcess.run(
            arguments, environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(good.status == 0, "\(good.standardOutput)\(good.standardError)")
        #expect(
            Self.lines(good.standardOutput).contains(
                "ok    permissions  prod: all 23 kinds of request the job makes are allowed"), "\(good.standardOutput)")
        let reviews = await server.requestLog.filter { $0.contains("selfsubjectaccessreviews") }
        #expect(reviews.count == 23, "one review per request kind: \(reviews.count)")
        #expect(
            Self.lines(good.standardOutput).contains(
                "ok    HTTP-01      hub.mybinder.org: the probe token came back through the Ingress"),
            "\(good.standardOutput)")
        #expect(!good.standardOutput.contains("not checked"))
        let log = await server.requestLog
        #expect(log.contains { $0.hasPrefix("create v1/services prod/ ") })
        #expect(log.contains { $0.hasPrefix("create networking.k8s.io/v1/ingresses prod/ ") })
        #expect(
            try await admin.list(Ingress.self, namespace: "prod", labelSelector: "certctl.io/http01-solver=true")
                .isEmpty, "the probe's objects are removed")
        #expect(
            try await admin.list(Service.self, namespace: "prod", labelSelector: "certctl.io/http01-solver=true")
                .isEmpty)

        // An ingress that does not route the challenge path to the pod: the probe says so.
        let elsewhere = try await HTTPServer.start(host: "127.0.0.1", port: freeLoopbackPort()) { _ in
            ServerResponse(status: 404, contentType: "text/plain", text: "default backend - 404\n")
        }
        defer { Task { await elsewhere.stop() } }
        var misrouted = arguments
        misrouted[misrouted.count - 1] = "127.0.0.1:\(elsewhere.port)"
        let lost = try await CertctlProcess.run(
            misrouted, environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(lost.status == 2)
        #expect(
            Self.lines(lost.standardOutput).contains {
                $0.hasPrefix("FAIL  HTTP-01      hub.mybinder.org:")
                    && $0.contains("http://hub.mybinder.org/.well-known/acme-challenge/certctl-probe-")
            }, "\(lost.standardOutput)")

        // The same pod, bound to a Role without Services.
        let rules = try PodRBACTests.chartRole(namespace: "prod").rules.filter { !$0.resources.contains("services") }
        let narrow = try await FakeAPIServer.start(
            users: [.admin(), .serviceAccount("prod", "certctl", token: PodRBACTests.jobToken, rules: rules)])
        defer { Task { await narrow.stop() } }
        _ = try await fakeClient(narrow).create(ingress("prod", "hub", tls: [(["hub.mybinder.org"], "tls-hub")]))
        try narrow.kubeconfig(token: PodRBACTests.jobToken, namespace: "prod").write(
            to: project.folder.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
        let bad = try await CertctlProcess.run(
            arguments, environment: project.environment(pod: "certctl-1"), directory: project.folder)
        #expect(bad.status == 2, "\(bad.standardOutput)")
        #expect(
            Self.lines(bad.standardOutput).contains {
                $0.hasPrefix("FAIL  HTTP-01      hub.mybinder.org:")
                    && $0.contains("cannot create resource \"services\"")
            },
            "the probe cannot make its Service: \(bad.standardOutput.split(separator: "\n").filter { $0.contains("HTTP-01") })"
        )
        #expect(
            Self.lines(bad.standardOutput).contains(
                "FAIL  permissions  prod: not allowed: list services, create services, delete services; the chart's Roles grant them (mybinder/charts/certctl/templates/rbac.yaml)"
            ), "\(bad.standardOutput)")

        // The Lease narrowed by resourceNames as the chart does: allowed; narrowed to another name: not.
        for (names, expected) in [
            (["certctl-run"], "ok    permissions  prod: all 23 kinds of request the job makes are allowed"),
            (
                ["other"],
                "FAIL  permissions  prod: not allowed: get coordination.k8s.io/leases certctl-run, patch coordination.k8s.io/leases certctl-run; the chart's Roles grant them (mybinder/charts/certctl/templates/rbac.yaml)"
            ),
        ] {
            let leases = FakeAPIRule(
                namespace: "prod", groups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "patch"],
                names: Set(names))
            let create = FakeAPIRule(
                namespace: "prod", groups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"])
            let others = try PodRBACTests.chartRole(namespace: "prod").rules.filter { !$0.resources.contains("leases") }
            let narrowed = try await FakeAPIServer.start(
                users: [
                    .admin(),
                    .serviceAccount("prod", "certctl", token: PodRBACTests.jobToken, rules: others + [leases, create]),
                ])
            defer { Task { await narrowed.stop() } }
            _ = try await fakeClient(narrowed).create(ingress("prod", "hub", tls: [(["hub.mybinder.org"], "tls-hub")]))
            try narrowed.kubeconfig(token: PodRBACTests.jobToken, namespace: "prod").write(
                to: project.folder.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
            let checked = try await CertctlProcess.run(
                arguments, environment: project.environment(pod: "certctl-1"), directory: project.folder)
            #expect(Self.lines(checked.standardOutput).contains(expected), "\(checked.standardOutput)")
        }
    }
}

@Suite("certctl status through the binary: widths and problems", .serialized)
struct StatusOutputTests {
    @Test("the table fits COLUMNS (80, 100, 120, 200) and 100 in a pipe; problems in text, JSON and metrics")
    func widthsAndProblems() async throws {
        let authority = try TestCertificateAuthority()
        let project = try LocalProject.make(
            server: "https://127.0.0.1:1/dir", sites: ["ready", "a-site-with-a-rather-long-name-for-its-secret"])
        try await project.seedCertificate("ready", startDays: -1, authority: authority)
        try project.addShoutyIngress()
        for (columns, width) in [("80", 80), ("100", 100), ("120", 120), ("200", 200), (nil, 100)] {
            let result = try await CertctlProcess.run(
                ["status"] + LocalProject.flags, environment: columns.map { ["COLUMNS": $0] } ?? ["COLUMNS": ""],
                directory: project.directory)
            #expect(result.status == 2, "a missing certificate is critical: \(result.standardError)")
            let lines = result.standardOutput.split(separator: "\n")
            let table = lines.prefix { !$0.hasPrefix("2 certificates") }
            #expect(table.count == 3, "\(result.standardOutput)")
            for line in table { #expect(line.count <= width, "\(columns ?? "pipe"): \(line)") }
            #expect(lines.contains { $0.hasPrefix("problem  Ingress prod/shouty spec.tls[0].hosts[0]:") })
            // Problem lines fit the terminal too, wrapped at words under their text.
            for line in lines where line.hasPrefix("problem  ") || line.hasPrefix("         ") {
                #expect(line.count <= width, "\(columns ?? "pipe"): \(line)")
            }
        }
        let json = try await CertctlProcess.run(
            ["status", "-o", "json"] + LocalProject.flags, directory: project.directory)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let problems = try #require(object["problems"] as? [[String: Any]])
        #expect(problems.count == 1)
        // One Secret as JSON: its certificate with the decision.
        let one = try await CertctlProcess.run(
            ["status", "tls-ready", "-o", "json"] + LocalProject.flags, directory: project.directory)
        let single = try #require(
            try JSONSerialization.jsonObject(with: Data(one.standardOutput.utf8)) as? [String: Any])
        let only = try #require(single["certificates"] as? [[String: Any]])
        #expect(only.map { $0["secret"] as? String } == ["tls-ready"])
        #expect((only.first?["decision"] as? String)?.hasPrefix("Not due: renews at ") == true)
        #expect((single["problems"] as? [Any])?.isEmpty == true)
        #expect(problems.first?["kind"] as? String == "invalid_host")
        #expect(problems.first?["field"] as? String == "spec.tls[0].hosts[0]")

        let metrics = project.directory.appendingPathComponent("metrics.prom").path
        let served = try await CertctlProcess.run(
            [
                "run", "--acme-timeout", "1", "--metrics-file", metrics, "--http01-listen",
                "127.0.0.1:\(freeLoopbackPort())",
            ]
                + LocalProject.flags, directory: project.directory)
        #expect(served.status == 2)
        let text = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(text.contains(#"certctl_problems{namespace="prod",kind="invalid_host"} 1"#), "\(text)")
    }
}
