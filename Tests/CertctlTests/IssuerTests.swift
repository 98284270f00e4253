import Basics
import CertctlCore
import Foundation
import Testing

@Suite("Issuers and names: checked before any request")
struct IssuerTests {
    static let repositoryIssuers = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("issuers").path

    @Test("the repository's issuers load")
    func repositoryIssuers() throws {
        let issuers = try IssuerLoader.load(directory: Self.repositoryIssuers)
        #expect(Set(issuers.keys) == ["letsencrypt-prod", "letsencrypt-staging", "pebble"])
        #expect(issuers["letsencrypt-prod"]?.server == "https://acme-v02.api.letsencrypt.org/directory")
        #expect(issuers["pebble"]?.caBundle != nil)
        // A solver Ingress of the class of the Ingress being solved; no contact Let's Encrypt refuses.
        #expect(issuers["letsencrypt-prod"]?.solvers.first?.http01 != nil)
        #expect(issuers["letsencrypt-prod"]?.solvers.first?.http01?.ingressClass == nil)
        #expect(issuers["letsencrypt-prod"]?.email == nil)
        #expect(issuers["pebble"]?.accountKeySecret == "pebble-account-key")
    }

    @Test("a cert-manager ClusterIssuer with EAB, preferred chain and profile")
    func fullIssuer() throws {
        let yaml = """
            apiVersion: cert-manager.io/v1
            kind: ClusterIssuer
            metadata:
              name: zerossl
            spec:
              acme:
                server: https://acme.zerossl.com/v2/DV90
                email: ops@example.org
                preferredChain: "ISRG Root X1"
                profile: tlsserver
                externalAccountBinding:
                  keyID: kid-7
                  keySecretRef:
                    name: zerossl-eab
                    key: secret
                privateKeySecretRef:
                  name: zerossl-account
                solvers:
                  - selector:
                      dnsNames: [static.mybinder.org]
                    http01:
                      ingress:
                        ingressClassName: nginx
                  - http01:
                      ingress:
                        class: traefik
            """
        let issuer = try #require(try IssuerLoader.parse(yaml, source: "zerossl.yaml").first)
        #expect(issuer.externalAccountBinding?.keyID == "kid-7")
        #expect(issuer.externalAccountBinding?.keySecret.name == "zerossl-eab")
        #expect(issuer.preferredChain == "ISRG Root X1")
        #expect(issuer.profile == "tlsserver")
        #expect(issuer.http01Solver(for: ["static.mybinder.org"])?.ingressClassName == "nginx")
        #expect(issuer.http01Solver(for: ["hub.mybinder.org"])?.ingressClass == "traefik")
    }

    @Test(
        "broken issuers: each a clear error naming the file and the field",
        arguments: [
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    email: x@example.org\n",
                "spec.acme.server is missing"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: http://ca.example.org/dir\n",
                "plain http off loopback"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: ftp://ca.example.org/dir\n",
                "must be an https:// URL"
            ),
            ("kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  ca: {secretName: x}\n", "has no spec.acme"),
            ("kind: ClusterIssuer\nspec:\n  acme:\n    server: https://ca/dir\n", "has no metadata.name"),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    caBundle: '%%%'\n",
                "caBundle is not base64"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    caBundle: aGVsbG8=\n",
                "caBundle is not base64 of PEM"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    skipTLSVerify: true\n",
                "always verifies TLS"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    externalAccountBinding: {keyID: k}\n",
                "keySecretRef.name"
            ),
            ("kind: ClusterIssuer\nmetadata: [unclosed\n", "not valid YAML"),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    privateKeySecretRef: {name: k}\n    solvers: [{http01: {ingress: {serviceType: LoadBalancer}}}]\n",
                "serviceType \"LoadBalancer\" is not ClusterIP or NodePort"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    privateKeySecretRef: {name: k}\n    solvers: [{http01: {ingress: {class: a, ingressClassName: b}}}]\n",
                "sets both class and ingressClassName"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    solvers: [{dns01: {cloudflare: {apiTokenSecretRef: {name: t, key: k}}}}]\n",
                "dns01 uses cloudflare, which certctl does not speak; use rfc2136"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    solvers: [{dns01: {rfc2136: {tsigKeyName: k}}}]\n",
                "rfc2136.nameserver is missing"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    solvers: [{dns01: {rfc2136: {nameserver: \"1.2.3.4:x\"}}}]\n",
                "is not host or host:port"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    solvers: [{dns01: {rfc2136: {nameserver: 1.2.3.4, tsigAlgorithm: HMACMD5, tsigKeyName: k, tsigSecretSecretRef: {name: s, key: k}}}}]\n",
                "HMACMD5\" is not supported"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    solvers: [{dns01: {rfc2136: {nameserver: 1.2.3.4, tsigKeyName: k}}}]\n",
                "both tsigKeyName and tsigSecretSecretRef"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    solvers: [{dns01: {exec: {args: [x]}}}]\n",
                "exec.command is missing"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    solvers: [{dns01: {exec: {command: /bin/hook, timeout: 9000}}}]\n",
                "exec.timeout 9000"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: https://ca/dir\n    solvers: [{dns01: {cnameStrategy: Sometimes, rfc2136: {nameserver: 1.2.3.4}}}]\n",
                "cnameStrategy \"Sometimes\""
            ),
        ]
    )
    func brokenIssuer(yaml: String, expected: String) {
        do {
            _ = try IssuerLoader.parse(yaml, source: "issuers/bad.yaml")
            Issue.record("\(expected): should have failed")
        } catch let error as CertctlError {
            #expect(error.code == .invalidIssuer)
            #expect(error.description.contains("issuers/bad.yaml"))
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(error.isConfigurationError)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(
        "plain http is accepted on loopback only",
        arguments: ["http://127.0.0.1:14000/dir", "http://localhost/dir", "http://[::1]:80/dir"])
    func loopbackHTTP(server: String) throws {
        let yaml = "kind: ClusterIssuer\nmetadata: {name: a}\nspec:\n  acme:\n    server: \(server)\n"
        #expect(try IssuerLoader.parse(yaml, source: "x").first?.server == server)
    }

    @Test(
        "host names: valid ones normalised",
        arguments: [
            ("mybinder.org", "mybinder.org"), ("hub.gke.mybinder.org", "hub.gke.mybinder.org"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"), ("a-b.c0.org.", "a-b.c0.org"),
        ]
    )
    func validHost(name: String, normalised: String) throws {
        #expect(try Hostname.validate(name) == normalised)
    }

    @Test(
        "host names: invalid ones refused with the reason",
        arguments: [
            ("", "empty"), ("MyBinder.org", "lower case"), ("localhost", "two labels"), ("-a.org", "starts or ends"),
            ("a_b.org", "only a-z"), ("*.mybinder.org", "DNS-01"), ("a..org", "empty label"),
            (String(repeating: "a", count: 64) + ".org", "longer than 63"), ("example.123", "all digits"),
            (String(repeating: "abcdefghi.", count: 26) + "org", "253"),
        ]
    )
    func invalidHost(name: String, reason: String) {
        do {
            _ = try Hostname.validate(name)
            Issue.record("\(name) should be refused")
        } catch let error as CertctlError {
            #expect(error.code == .invalidName)
            #expect(error.description.contains(reason), "\(error.description)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("wildcards pass only where DNS-01 is allowed")
    func wildcard() throws {
        #expect(try Hostname.validate("*.mybinder.org", allowWildcard: true) == "*.mybinder.org")
    }

    @Test(
        "listen addresses",
        arguments: [("0.0.0.0:8089", "0.0.0.0", 8089), ("[::1]:80", "::1", 80), ("localhost:0", "localhost", 0)])
    func listen(text: String, host: String, port: Int) throws {
        #expect(try ListenAddress(parsing: text) == ListenAddress(host: host, port: port))
    }

    @Test("bad listen addresses", arguments: ["8089", ":8089", "host:99999", "host:x"])
    func badListen(text: String) {
        #expect(throws: CertctlError.self) { try ListenAddress(parsing: text) }
    }

    static let selecting = """
        kind: ClusterIssuer
        metadata: {name: s}
        spec:
          acme:
            server: https://ca.example.org/dir
            solvers:
              - http01: {ingress: {class: default}}
              - selector: {matchLabels: {team: binder}}
                http01: {ingress: {class: labelled}}
              - selector: {dnsZones: [mybinder.org]}
                http01: {ingress: {class: zone}}
              - selector: {dnsZones: [gke.mybinder.org]}
                dns01: {rfc2136: {nameserver: "10.0.0.1:53"}}
              - selector: {dnsNames: [static.mybinder.org]}
                http01: {ingress: {class: named}}
              - selector: {dnsZones: [example.org], matchLabels: {team: other}}
                dns01: {rfc2136: {nameserver: "10.0.0.2"}}
        """

    @Test(
        "solvers chosen as cert-manager chooses them: dnsNames, then the longest dnsZones, then matchLabels, then the first; wildcards only over DNS-01",
        arguments: [
            ("static.mybinder.org", [:], "named"),
            ("hub.mybinder.org", [:], "zone"),
            ("hub.gke.mybinder.org", [:], "dns rfc2136 10.0.0.1:53"),
            ("*.gke.mybinder.org", [:], "dns rfc2136 10.0.0.1:53"),
            ("*.mybinder.org", [:], "none"),
            ("hub.mybinder.org", ["team": "binder"], "zone"),
            ("other.net", ["team": "binder"], "labelled"),
            ("other.net", [:], "default"),
            ("a.example.org", ["team": "other"], "dns rfc2136 10.0.0.2"),
            ("a.example.org", ["team": "binder"], "labelled"),
        ] as [(String, [String: String], String)])
    func selection(host: String, labels: [String: String], expected: String) throws {
        let issuer = try #require(try IssuerLoader.parse(Self.selecting, source: "s.yaml").first)
        let chosen: String
        switch issuer.solver(for: host, labels: labels)?.method {
        case .http01(let solver): chosen = solver.ingressClass ?? "?"
        case .dns01(let solver): chosen = "dns \(solver.summary)"
        case .dnsPersist01: chosen = "dns-persist-01"
        case nil: chosen = "none"
        }
        #expect(chosen == expected)
    }
}
