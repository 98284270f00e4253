import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Logging
import Synchronization
import Testing
import Transport

@Suite("certctl issue, end to end", .serialized)
struct IssueCommandTests {
    /// A scratch directory with an issuers/ folder holding `issuer` YAML.
    static func scratch(issuer yaml: String? = nil) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "certctl-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("issuers"), withIntermediateDirectories: true)
        if let yaml {
            try yaml.write(to: directory.appendingPathComponent("issuers/test.yaml"), atomically: true, encoding: .utf8)
        }
        return directory
    }

    static func issuerYAML(server: String, name: String = "local") -> String {
        """
        apiVersion: cert-manager.io/v1
        kind: ClusterIssuer
        metadata:
          name: \(name)
        spec:
          acme:
            server: \(server)
            email: ops@example.org
            privateKeySecretRef:
              name: \(name)-account
            caBundle: \(Data(Pebble.caBundle).base64EncodedString())
        """
    }

    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test("issues into --out, keeps the account key 0600, and reuses the account on the next run")
    func workflow() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let directory = try Self.scratch(issuer: Self.issuerYAML(server: pebble.directoryURL))
        let state = directory.appendingPathComponent("state").path
        let out = directory.appendingPathComponent("out").path
        let request = IssueWorkflow.Request(
            issuersDirectory: directory.appendingPathComponent("issuers").path,
            issuerName: "local",
            names: ["mybinder.org", "hub.mybinder.org", "static.mybinder.org"],
            stateDirectory: state,
            outputDirectory: out,
            http01Listen: ListenAddress(host: "127.0.0.1", port: port),
            keyType: .ecdsaP256
        )
        let actions = Mutex<[String]>([])
        let observer: @Sendable (ACMERequestRecord) -> Void = { record in actions.withLock { $0.append(record.action) }
        }
        let first = try await IssueWorkflow.run(
            request, transport: CurlTransport(userAgent: "t"), logger: Logger(label: "t"), observer: observer)
        #expect(Set(first.summary.dnsNames) == ["mybinder.org", "hub.mybinder.org", "static.mybinder.org"])
        #expect(actions.withLock { $0 }.contains("newAccount"))

        let key = try PrivateKey(pem: String(contentsOfFile: first.keyPath, encoding: .utf8))
        let chain = try CertificateChain(pem: String(contentsOfFile: first.certificatePath, encoding: .utf8))
        #expect(key.matches(chain.leaf))
        try expectChainVerifies(chain.certificates, root: try await pebble.root(0))
        #expect(try Self.mode(first.keyPath) == 0o600)
        #expect(try Self.mode("\(state)/accounts/local-account/key.pem") == 0o600)
        #expect(try Self.mode("\(state)/accounts/local-account/account.json") == 0o600)
        let accountKey = try String(contentsOfFile: "\(state)/accounts/local-account/key.pem", encoding: .utf8)

        actions.withLock { $0.removeAll() }
        let second = try await IssueWorkflow.run(
            request, transport: CurlTransport(userAgent: "t"), logger: Logger(label: "t"), observer: observer)
        #expect(second.accountURL == first.accountURL)
        #expect(!actions.withLock { $0 }.contains("newAccount"))
        #expect(try String(contentsOfFile: "\(state)/accounts/local-account/key.pem", encoding: .utf8) == accountKey)
        #expect(second.summary.serialBytes != first.summary.serialBytes)
    }

    @Test("the binary issues against Pebble and prints what it did")
    func binary() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let directory = try Self.scratch(issuer: Self.issuerYAML(server: pebble.directoryURL))
        let result = try await CertctlProcess.run(
            [
                "issue", "--issuers", "issuers", "--issuer", "local", "-d", "grafana.mybinder.org", "--state", "state",
                "--out", "out", "--http01-listen", "127.0.0.1:\(port)", "--key-type", "ecdsa-p384",
            ],
            directory: directory
        )
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("issued   grafana.mybinder.org from local"))
        #expect(result.standardOutput.contains("ecdsa-p384"))
        #expect(result.standardOutput.contains("ACME requests"))
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("out/tls.crt").path))
    }

    @Test(
        "bad input is refused before any request, with exit code 64 and a message naming the object",
        arguments: [
            (["--issuer", "nope", "-d", "a.mybinder.org"], "nope: no such issuer"),
            (["--issuer", "local", "-d", "a.mybinder.org", "--key-type", "ed25519"], "unknown key type"),
            (["--issuer", "local", "-d", "not_valid.mybinder.org"], "is not a valid host name"),
            (["--issuer", "local", "-d", "*.mybinder.org"], "DNS-01"),
            (["--issuer", "local"], "at least one name"),
            (["--issuer", "local", "-d", "a.mybinder.org", "--http01-listen", "nowhere"], "HOST:PORT"),
        ]
    )
    func badInput(arguments: [String], message: String) async throws {
        // The server is a closed port: any request would fail with exit code 1, not 64.
        let directory = try Self.scratch(issuer: Self.issuerYAML(server: "https://127.0.0.1:\(freeLoopbackPort())/dir"))
        let result = try await CertctlProcess.run(
            ["issue", "--issuers", "issuers", "--state", "state", "--out", "out"] + arguments, directory: directory)
        #expect(result.status == 64, "\(result.standardError)")
        #expect(result.standardError.contains(message), "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("state/accounts").path))
    }

    @Test(
        "broken issuer files stop the command with exit code 64",
        arguments: [
            (
                "kind: ClusterIssuer\nmetadata: {name: local}\nspec:\n  acme:\n    email: a@b.org\n",
                "spec.acme.server is missing"
            ),
            (
                "kind: ClusterIssuer\nmetadata: {name: local}\nspec:\n  acme:\n    server: http://ca.example.org/dir\n",
                "plain http off loopback"
            ),
        ]
    )
    func brokenIssuer(yaml: String, message: String) async throws {
        let directory = try Self.scratch(issuer: yaml)
        let result = try await CertctlProcess.run(
            ["issue", "--issuers", "issuers", "--issuer", "local", "-d", "a.mybinder.org", "--out", "out"],
            directory: directory)
        #expect(result.status == 64)
        #expect(result.standardError.contains("issuers/test.yaml"), "\(result.standardError)")
        #expect(result.standardError.contains(message), "\(result.standardError)")
    }

    @Test("an unreachable CA fails with exit code 1 and says which")
    func unreachable() async throws {
        let directory = try Self.scratch(issuer: Self.issuerYAML(server: "https://127.0.0.1:\(freeLoopbackPort())/dir"))
        let result = try await CertctlProcess.run(
            [
                "issue", "--issuers", "issuers", "--issuer", "local", "-d", "a.mybinder.org", "--out", "out", "--state",
                "state", "--http01-listen", "127.0.0.1:0",
            ],
            directory: directory
        )
        #expect(result.status == 1)
        #expect(result.standardError.contains("cannot reach the ACME server"), "\(result.standardError)")
    }
}

@Suite("Proxies from the environment", .serialized)
struct ProxyTests {
    @Test("HTTPS_PROXY is used, and NO_PROXY exempts the CA")
    func proxyEnvironment() async throws {
        let port = freeLoopbackPort()
        let pebble = try await Pebble.start(httpPort: port)
        defer { pebble.stop() }
        let directory = try IssueCommandTests.scratch(issuer: IssueCommandTests.issuerYAML(server: pebble.directoryURL))
        let arguments = [
            "issue", "--issuers", "issuers", "--issuer", "local", "-d", "hub.mybinder.org", "--state", "state", "--out",
            "out", "--http01-listen", "127.0.0.1:\(port)",
        ]
        // A proxy nobody listens on: every request through it fails.
        let deadProxy = "http://127.0.0.1:\(freeLoopbackPort())"
        let proxied = try await CertctlProcess.run(
            arguments,
            environment: ["HTTPS_PROXY": deadProxy, "https_proxy": deadProxy, "NO_PROXY": "", "no_proxy": ""],
            directory: directory
        )
        #expect(proxied.status == 1)
        #expect(proxied.standardError.contains("cannot reach the ACME server"), "\(proxied.standardError)")

        let exempted = try await CertctlProcess.run(
            arguments,
            environment: [
                "HTTPS_PROXY": deadProxy, "https_proxy": deadProxy, "NO_PROXY": "localhost,127.0.0.1",
                "no_proxy": "localhost,127.0.0.1",
            ],
            directory: directory
        )
        #expect(exempted.status == 0, "\(exempted.standardError)")
    }
}
