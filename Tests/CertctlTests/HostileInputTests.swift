import ACME
import Basics
import CertctlCore
import CertctlFuzz
import CertctlTestSupport
import Certificates
import DNS
import Foundation
import Kubernetes
import Testing
import Transport

/// Broken and hostile input: each gets a clear error naming the object and what to do, and the
/// fuzz corpus (seeds and every crash ever found) goes through the fuzzed parsers on every run.
@Suite("Hostile and broken input")
struct HostileInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var what: String
        var hosts: [String]
        /// Fragments the problem must contain: the object, the fault, the remedy.
        var expected: [String]
        var testDescription: String { what }
    }

    static let ingressCases: [Case] = [
        Case(
            what: "invalid characters", hosts: ["bad_name!.mybinder.org"],
            expected: ["Ingress prod/site", "not a valid host name"]),
        Case(what: "label starting with a hyphen", hosts: ["-x.mybinder.org"], expected: ["not a valid host name"]),
        Case(
            what: "name over 253 characters", hosts: [String(repeating: "a.", count: 127) + "org"],
            expected: ["longer than 253"]),
        Case(what: "wildcard with HTTP-01", hosts: ["*.mybinder.org"], expected: ["wildcard", "DNS-01"]),
        Case(
            what: "oversized name list", hosts: (0..<101).map { "h\($0).mybinder.org" },
            expected: ["lists 101 hosts", "at most 100", "split them over several secretNames"]),
    ]

    @Test("Ingress hosts certctl refuses, each with its reason", arguments: ingressCases)
    func ingressHosts(_ testCase: Case) {
        let found = Discovery.certificates(
            for: [ingress("prod", "site", tls: [(testCase.hosts, "tls-site")])], issuers: ["pebble"],
            defaultIssuer: "pebble")
        #expect(found.certificates.isEmpty, "nothing is issued for a refused entry")
        let reasons = found.problems.map(\.description).joined(separator: "\n")
        // The Ingress's problem, at its field, naming the Secret left without, once each.
        #expect(found.problems.first?.object == "Ingress prod/site")
        #expect(reasons.contains("Secret prod/tls-site gets no certificate until it is fixed"), "\(reasons)")
        #expect(!reasons.contains("Ingress prod/site spec.tls"), "the location not repeated: \(reasons)")
        for fragment in testCase.expected {
            #expect(reasons.contains(fragment), "\(reasons)")
        }
    }

    @Test("issuers: plain http off loopback is refused, on loopback allowed")
    func issuerServer() throws {
        func issuer(_ server: String) throws -> [Issuer] {
            try IssuerLoader.parse(
                "kind: ClusterIssuer\nmetadata: {name: x}\nspec:\n  acme:\n    server: \(server)\n    privateKeySecretRef: {name: k}\n",
                source: "issuers/x.yaml")
        }
        for server in ["http://acme.example.org/directory", "http://10.0.0.1:14000/dir", "ftp://127.0.0.1/dir"] {
            do {
                _ = try issuer(server)
                Issue.record("\(server) must be refused")
            } catch let error as CertctlError {
                #expect(error.description.contains("ClusterIssuer x"), "\(error)")
                #expect(
                    error.description.contains("plain http off loopback")
                        || error.description.contains("must be an https:// URL"), "\(error)")
            }
        }
        for server in [
            "https://acme-v02.api.letsencrypt.org/directory", "http://127.0.0.1:4001/dir", "http://localhost/dir",
            "http://[::1]:80/dir",
        ] {
            #expect(try issuer(server).first?.server == server)
        }
    }

    @Test("Secrets certctl will not serve or overwrite: wrong type, a foreign key")
    func secrets() throws {
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let other = try PrivateKey(generating: .ecdsaP256)
        let now = Date()
        let pem = try authority.issuePEM(
            for: key, names: ["a.mybinder.org"], notBefore: now, notAfter: now.addingTimeInterval(86_400))
        let opaque = CurrentCertificate(
            secret: Secret(
                metadata: ObjectMeta(name: "s", namespace: "prod"), type: "Opaque",
                data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]))
        #expect(opaque.problems.joined().contains("is of type Opaque"))
        #expect(opaque.problems.joined().contains("certctl will not overwrite it"))
        let foreign = CurrentCertificate(
            secret: Secret(
                metadata: ObjectMeta(name: "s", namespace: "prod"), type: Secret.tlsType,
                data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try other.pemRepresentation().utf8)]))
        #expect(foreign.problems == ["tls.key does not belong to the certificate in tls.crt"])
        #expect(!foreign.isUsable)
    }

    @Test("a kubeconfig with an auth method certctl does not speak names the user and the way out")
    func kubeconfigAuth() throws {
        var kubeconfig = Kubeconfig()
        try kubeconfig.merge(
            """
            apiVersion: v1
            kind: Config
            current-context: gke
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
            contexts: [{name: gke, context: {cluster: c, user: old-gcp}}]
            users: [{name: old-gcp, user: {auth-provider: {name: gcp}}}]
            """, path: "/home/ops/.kube/config")
        do {
            _ = try kubeconfig.connection(context: nil)
            Issue.record("auth-provider must be refused")
        } catch {
            let text = "\(error)"
            #expect(text.contains("old-gcp"), "\(text)")
            #expect(text.contains("auth-provider gcp"), "\(text)")
            #expect(text.contains("exec credential plugin"), "\(text)")
        }
    }

    @Test(
        "the fuzz corpus (seeds and past crashes and hangs) goes through every fuzzed parser",
        .timeLimit(.minutes(1)), arguments: FuzzTarget.allCases)
    func corpus(_ target: FuzzTarget) throws {
        let directory = CertctlProcess.repository.appendingPathComponent("Tests/fuzz-corpus/\(target.rawValue)")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(!files.isEmpty, "Tests/fuzz-corpus/\(target.rawValue) has seeds")
        for file in files {
            let bytes = try Data(contentsOf: directory.appendingPathComponent(file))
            target.run(Array(bytes))  // a crash here fails the whole run
        }
    }

    @Test("the corpus seeds are real inputs: each parses")
    func seedsParse() throws {
        let corpus = CertctlProcess.repository.appendingPathComponent("Tests/fuzz-corpus")
        func text(_ path: String) throws -> String {
            try String(contentsOf: corpus.appendingPathComponent(path), encoding: .utf8)
        }
        #expect(try CertificateChain(pem: try text("pem/ca.pem")).certificates.count == 1)
        _ = try PrivateKey(pem: try text("pem/ec-key.pem"))
        let order = try ACMEClient.decodeResource(ACMEOrder.self, from: Array(try text("acme-json/order.json").utf8))
        #expect(order.identifiers.count == 2)
        #expect(try IssuerLoader.parse(try text("issuer/pebble.yaml"), source: "pebble.yaml").first?.name == "pebble")
        #expect(LocalDirectoryStore.ingresses(inManifest: try text("manifest/binder.yaml"), file: "b").items.count == 1)
        #expect(parseLinks([try text("headers/link")]).count == 2)
        // Answers BIND 9 gave: compressed names, several strings, a negative answer with its SOA.
        func dns(_ name: String) throws -> DNSMessage {
            try DNSMessage(decoding: Array(try Data(contentsOf: corpus.appendingPathComponent("dns/\(name).bin"))))
        }
        #expect(try dns("txt-two-strings").answers.first?.txtValue == "abc123-valuesecond string")
        let negative = try dns("nxdomain-authority-soa")
        #expect(negative.rcode == .nxDomain && negative.authority.first?.name == "example.test")
        #expect(try dns("cname").answers.first?.dataName == "_acme-challenge.www.example.test")
        #expect(try dns("ns-with-glue").answers.first?.dataName == "ns.example.test")
        #expect(try dns("aaaa").answers.first?.address == "0:0:0:0:0:0:0:1")
        let persist = try #require(try dns("persist-txt").answers.first?.txtValue)
        #expect(DNSPersistRecord(parsing: persist)?.wildcard == true)
        #expect(try RateLimits.parse(try text("rate-limits/setting")) == .letsEncrypt)
        let ledger = RateLedger.decoded(
            Data(try text("rate-limits/ledger.json").utf8), now: Date(timeIntervalSince1970: 1_800_000_000),
            limits: .letsEncrypt)
        #expect(ledger.warning == nil && ledger.ledger.eventCount == 4 && ledger.ledger.refusals.count == 1)
    }

    @Test("a URL from outside speaks HTTP(S) alone: file://, gopher://, dict:// are refused before any read")
    func onlyHTTP() async throws {
        let transport = CurlTransport(userAgent: "certctl-tests")
        let secret = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID())")
        try "do not read me".write(to: secret, atomically: true, encoding: .utf8)
        for url in ["file://\(secret.path)", "gopher://127.0.0.1:1/x", "dict://127.0.0.1:1/x"] {
            do {
                let answer = try await transport.send(HTTPRequest(url: url))
                Issue.record("\(url) was fetched: \(String(decoding: answer.body, as: UTF8.self))")
            } catch {
                #expect(!"\(error)".contains("do not read me"))
            }
        }
    }

    @Test("TLS is always verified: a private CA is trusted only when given (caBundle, kubeconfig CA)")
    func tlsVerification() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let transport = CurlTransport(userAgent: "certctl-tests")
        for url in [pebble.directoryURL, server.url + "/api/v1/namespaces"] {
            do {
                _ = try await transport.send(HTTPRequest(url: url))
                Issue.record("\(url) answered without its CA being trusted")
            } catch let error as HTTPError {
                #expect(error.code == .tls, "\(error)")
            }
        }
        #expect(try await transport.send(HTTPRequest(url: pebble.directoryURL, tls: pebble.tls)).status == 200)
        let answer = try await transport.send(HTTPRequest(url: server.url + "/api/v1/namespaces", tls: server.tls))
        #expect(answer.status == 403, "trusted, and then refused: anonymous may not list namespaces")
    }
}
