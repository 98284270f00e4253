import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import DNS
import Foundation
import Kubernetes
import Logging
import Synchronization
import Testing
import Transport

/// DNS-01 end to end: BIND 9 is the zone's primary (updates with TSIG), Pebble resolves and
/// validates through it, certctl issues a wildcard and a multi-name certificate into Secrets.
@Suite("DNS-01 over RFC 2136 with BIND 9 and Pebble", .serialized)
struct DNS01RunTests {
    struct Setup {
        let bind: BIND
        let pebble: Pebble
        let run: RunFixture

        /// The names of `*.example.test` and `example.test` through BIND (`dns01`: the solver's
        /// flow-style mapping; default RFC 2136 with the zone's key), `www.example.test` over HTTP-01.
        static func make(_ kind: StoreKind, secret: String? = nil, dns01: String? = nil) async throws -> Setup {
            let bind = try await BIND.start()
            let port = freeLoopbackPort()
            var options = Pebble.Options()
            options.dnsServer = bind.address
            options.authorizationReusePercent = 0
            // The suites count ACME actions: no badNonce retry may add one (the nonce suites test those).
            options.nonceRejectPercent = 0
            let pebble = try await Pebble.start(httpPort: port, options: options)
            let ingresses = [
                ingress("prod", "wild", tls: [(["*.example.test", "example.test"], "wildcard-tls")]),
                ingress("prod", "www", tls: [(["www.example.test"], "www-tls")]),
            ]
            let rfc2136 =
                "{rfc2136: {nameserver: \"\(bind.address)\", tsigKeyName: \(bind.key.name), tsigAlgorithm: HMACSHA256, tsigSecretSecretRef: {name: tsig, key: secret}}}"
            let run = try await RunFixture.make(
                kind, ingresses: ingresses, server: pebble.directoryURL, caBundle: Pebble.caBundle, port: port,
                solvers: [
                    "{http01: {ingress: {}}}",
                    "{selector: {dnsNames: [\"*.example.test\", example.test]}, dns01: \(dns01 ?? rfc2136)}",
                ]
            ).with { $0.dns01CheckServers = [bind.address] }
            try await Self.storeSecret(secret ?? bind.secretText, in: run)
            return Setup(bind: bind, pebble: pebble, run: run)
        }

        /// The ACME actions of the last `runOnce`.
        var actions: [String] { run.requests.actions.withLock { $0 } }

        /// The TSIG secret where the issuer's reference finds it: a Secret in certctl's
        /// namespace, or a manifest under the state directory's `secrets/` locally.
        static func storeSecret(_ text: String, in run: RunFixture) async throws {
            let secret = Secret(
                metadata: ObjectMeta(name: "tsig", namespace: "certctl"), type: "Opaque",
                data: ["secret": Data(text.utf8)])
            if let store = run.fixture.store as? KubernetesStore {
                _ = try await store.client.create(secret)
            } else {
                let path = run.fixture.directory.appendingPathComponent("state/secrets/certctl/tsig.yaml")
                try FileManager.default.createDirectory(
                    at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
                let yaml =
                    "apiVersion: v1\nkind: Secret\nmetadata: {name: tsig}\ndata: {secret: \(Data(text.utf8).base64EncodedString())}\n"
                try yaml.write(to: path, atomically: true, encoding: .utf8)
            }
        }

        func stop() async {
            pebble.stop()
            bind.stop()
            await run.fixture.stop()
        }
    }

    @Test(
        "a wildcard with its apex over DNS-01 and a host over HTTP-01 in one run; the TXT records are gone afterwards",
        arguments: StoreKind.allCases)
    func wildcard(kind: StoreKind) async throws {
        let setup = try await Setup.make(kind)
        // Stopped however the test ends (a failed #require throws); named at once, not later.
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        let started = ContinuousClock.now
        let (report, requests) = try await setup.run.runOnce()
        let elapsed = ContinuousClock.now - started
        #expect(
            report.certificates.allSatisfy { $0.outcome == .issued },
            "\(report.certificates) \(setup.bind.log.suffix(2000))")
        let wildcard = try #require(try await setup.run.fixture.store.secret(namespace: "prod", name: "wildcard-tls"))
        #expect(isServable(wildcard))
        #expect(Set(CurrentCertificate(secret: wildcard).summary?.names ?? []) == ["*.example.test", "example.test"])
        let www = try #require(try await setup.run.fixture.store.secret(namespace: "prod", name: "www-tls"))
        #expect(CurrentCertificate(secret: www).summary?.names == ["www.example.test"])
        #expect(try setup.bind.dig("_acme-challenge.example.test").isEmpty, "the DNS-01 records are removed")
        print(
            "DNS-01 (\(kind.rawValue)): 2 certificates (one wildcard + apex over DNS-01, one over HTTP-01) in \(elapsed), \(requests) ACME requests"
        )
    }

    @Test("a wrong TSIG secret fails the wildcard certificate with what to check; nothing is left in the zone")
    func wrongSecret() async throws {
        let setup = try await Setup.make(.local, secret: Data(repeating: 9, count: 32).base64EncodedString())
        // Stopped however the test ends (a failed #require throws); named at once, not later.
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        let (report, _) = try await setup.run.runOnce()
        let wildcard = try #require(report.certificates.first { $0.desired.secretName == "wildcard-tls" })
        guard case .failed(let failure, _) = wildcard.outcome, case let message = failure.message else {
            Issue.record("the wildcard certificate should fail: \(wildcard.outcome)")
            return
        }
        #expect(message.contains(setup.bind.key.name), "\(message)")
        #expect(message.contains("dns01") && message.contains("rfc2136"), "\(message)")
        #expect(wildcard.failureKind == .challenge)
        #expect(
            setup.actions.filter { $0 == "finalize" }.count == 1,
            "only the HTTP-01 certificate reaches finalize")
        #expect(report.certificates.first { $0.desired.secretName == "www-tls" }?.outcome == .issued)
        #expect(try setup.bind.dig("_acme-challenge.example.test").isEmpty)
    }

    @Test(
        "a record no authoritative server answers in time: the certificate fails naming the server, and the record is removed"
    )
    func propagationTimeout() async throws {
        let setup = try await Setup.make(.local)
        // Stopped however the test ends (a failed #require throws); named at once, not later.
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        var options = setup.run.options
        // A server that never has the record (nothing listens there).
        options.dns01CheckServers = ["127.0.0.1:\(freeLoopbackPort())"]
        options.dns01PropagationTimeout = .seconds(2)
        let report = try await setup.run.run.run(options)
        let wildcard = try #require(report.certificates.first { $0.desired.secretName == "wildcard-tls" })
        guard case .failed(let failure, _) = wildcard.outcome, case let message = failure.message else {
            Issue.record("should fail: \(wildcard.outcome)")
            return
        }
        #expect(
            message.contains(options.dns01CheckServers?.first ?? "?") && message.contains("not answered"), "\(message)")
        #expect(
            try setup.bind.dig("_acme-challenge.example.test").isEmpty, "the record added is removed after the failure")
    }

    /// A hook as a user of another DNS service writes one: here `nsupdate` against the same BIND.
    static func hook(_ bind: BIND, exitCode: Int = 0) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("certctl-hook-\(UUID().uuidString)")
        try """
        #!/bin/sh
        # certctl dns01.exec hook: present|cleanup FQDN VALUE
        set -e
        [ \(exitCode) -eq 0 ] || { echo "+ curl -H 'Authorization: Bearer FAKE-DNS-API-TOKEN-0123'" >&2; echo "the DNS service said no" >&2; exit \(exitCode); }
        case "$1" in present) op=add ;; cleanup) op=delete ;; *) exit 2 ;; esac
        echo "$1 $2 $3" >>"\(path.path).log"
        nsupdate -y "hmac-sha256:\(bind.key.name):\(bind.secretText)" <<EOF
        server 127.0.0.1 \(bind.port)
        update $op $2 60 TXT "$3"
        send
        EOF

        """.write(to: path, atomically: true, encoding: .utf8)
        chmod(path.path, 0o755)
        return path.path
    }

    /// The setup's options with its issuer's exec solver running `hook` (written for its BIND).
    static func options(_ setup: Setup, hook: String) throws -> CertificateRun.Options {
        var options = setup.run.options
        var issuer = try #require(options.issuers["pebble"])
        for index in issuer.solvers.indices {
            if case .dns01(var dns) = issuer.solvers[index].method, case .exec(var exec) = dns.provider {
                exec.command = hook
                dns.provider = .exec(exec)
                issuer.solvers[index].method = .dns01(dns)
            }
        }
        options.issuers["pebble"] = issuer
        return options
    }

    @Test(
        "the exec hook: a wildcard through a program of the user's (nsupdate here), called to present and to clean up")
    func execHook() async throws {
        let setup = try await Setup.make(.local, dns01: "{exec: {command: placeholder, timeout: 30}}")
        // Stopped however the test ends (a failed #require throws); named at once, not later.
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        let hook = try Self.hook(setup.bind)
        let report = try await setup.run.run.run(try Self.options(setup, hook: hook))
        #expect(report.certificates.allSatisfy { $0.outcome == .issued }, "\(report.certificates)")
        let calls = try String(contentsOfFile: hook + ".log", encoding: .utf8).split(separator: "\n")
        #expect(calls.filter { $0.hasPrefix("present _acme-challenge.example.test. ") }.count == 2, "\(calls)")
        #expect(calls.filter { $0.hasPrefix("cleanup _acme-challenge.example.test. ") }.count == 2, "\(calls)")
        #expect(try setup.bind.dig("_acme-challenge.example.test").isEmpty)
    }

    @Test(
        "a hook that fails: the certificate fails with its exit status; its stderr (a token under set -x) reaches no record"
    )
    func failingHook() async throws {
        let setup = try await Setup.make(.local, dns01: "{exec: {command: placeholder}}")
        // Stopped however the test ends (a failed #require throws); named at once, not later.
        defer {
            setup.bind.stop()
            Task { await setup.stop() }
        }
        let hook = try Self.hook(setup.bind, exitCode: 3)
        let report = try await setup.run.run.run(try Self.options(setup, hook: hook))
        let wildcard = try #require(report.certificates.first { $0.desired.secretName == "wildcard-tls" })
        guard case .failed(let failure, _) = wildcard.outcome, case let message = failure.message else {
            Issue.record("should fail: \(wildcard.outcome)")
            return
        }
        #expect(
            message.contains("exited with status 3; its stderr is in certctl's log"), "\(message)")
        #expect(!message.contains("FAKE-DNS-API-TOKEN") && !message.contains("said no"), "\(message)")
        #expect(wildcard.failureKind == .challenge)
        let record = try #require(
            try await setup.run.fixture.store.pendingRecord(namespace: "prod", secretName: "wildcard-tls"))
        #expect(record["certctl.io/last-failure"]?.contains("exited with status 3") == true, "\(record)")
        #expect(!record.values.contains { $0.contains("FAKE-DNS-API-TOKEN") }, "\(record)")
        #expect(!report.warnings.contains { $0.contains("FAKE-DNS-API-TOKEN") }, "\(report.warnings)")
    }

    @Test(
        "a wildcard whose issuer has no DNS-01 solver is refused at discovery; a name no solver selects, before ordering"
    )
    func unsolvable() async throws {
        let http = try #require(
            try IssuerLoader.parse(
                "kind: ClusterIssuer\nmetadata: {name: h}\nspec:\n  acme:\n    server: https://ca.example.org/dir\n",
                source: "h.yaml"
            ).first)
        let found = Discovery.certificates(
            for: [ingress("prod", "wild", tls: [(["*.example.test"], "w")])], issuers: ["h"], defaultIssuer: "h",
            wildcardIssuers: http.solvesDNS01 ? ["h"] : [])
        #expect(found.certificates.isEmpty)
        #expect(found.problems.first?.reason.contains("DNS-01") == true)

        let narrow = try #require(
            try IssuerLoader.parse(
                """
                kind: ClusterIssuer
                metadata: {name: n}
                spec:
                  acme:
                    server: https://ca.example.org/dir
                    solvers:
                      - selector: {dnsZones: [example.test]}
                        http01: {ingress: {}}
                """, source: "n.yaml"
            ).first)
        #expect(narrow.solver(for: "www.example.test") != nil)
        #expect(narrow.solver(for: "www.other.test") == nil, "no solver selects it")
    }
}
