import Basics
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing
import Transport

@Suite("kubeconfig and in-cluster configuration")
struct KubeconfigTests {
    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("KUBECONFIG lists merge as kubectl merges them: the first file wins")
    func merging() throws {
        let folder = try Self.folder()
        let first = """
            current-context: staging
            clusters:
            - name: shared
              cluster: {server: "https://first.example:6443"}
            users:
            - name: u1
              user: {token: first-token}
            contexts:
            - name: staging
              context: {cluster: shared, user: u1, namespace: staging}
            """
        let second = """
            current-context: prod
            clusters:
            - name: shared
              cluster: {server: "https://second.example:6443"}
            - name: prod-cluster
              cluster: {server: "https://prod.example:6443", insecure-skip-tls-verify: true}
            users:
            - name: u1
              user: {token: second-token}
            - name: u2
              user: {tokenFile: tokens/prod}
            contexts:
            - name: prod
              context: {cluster: prod-cluster, user: u2}
            """
        try first.write(to: folder.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try second.write(to: folder.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        let config = try Kubeconfig.load(
            explicit: nil,
            environment: ["KUBECONFIG": "\(folder.path)/a.yaml:\(folder.path)/missing.yaml:\(folder.path)/b.yaml"]
        )
        #expect(config.currentContext == "staging")
        #expect(config.contextNames == ["prod", "staging"])
        let staging = try config.connection(context: nil)
        #expect(staging.connection.server == "https://first.example:6443")
        #expect(staging.connection.namespace == "staging")
        guard case .token(let token) = staging.connection.credentials else {
            Issue.record("expected a token")
            return
        }
        #expect(token == "first-token")

        let prod = try config.connection(context: "prod")
        #expect(prod.connection.tls.skipVerification)
        #expect(prod.warnings.first?.contains("insecure-skip-tls-verify") == true)
        #expect(prod.connection.namespace == "default")
        guard case .tokenFile(let path) = prod.connection.credentials else {
            Issue.record("expected a token file")
            return
        }
        #expect(path == folder.appendingPathComponent("tokens/prod").path)

        #expect(throws: KubernetesError.self) { try config.connection(context: "nope") }
    }

    @Test(
        "unsupported auth methods are named",
        arguments: [
            ("auth-provider: {name: gcp}", "auth-provider gcp"),
            ("username: admin\n    password: secret", "username and password"),
        ])
    func unsupportedAuth(user: String, message: String) throws {
        let text = """
            current-context: c
            clusters: [{name: k, cluster: {server: "https://k:6443"}}]
            contexts: [{name: c, context: {cluster: k, user: u}}]
            users:
            - name: u
              user:
                \(user)
            """
        var config = Kubeconfig()
        try config.merge(text, path: "/tmp/x")
        do {
            _ = try config.connection(context: nil)
            Issue.record("must be refused")
        } catch let error as KubernetesError {
            #expect(error.description.contains(message))
            #expect(error.description.contains("user u"))
            #expect(!error.description.contains("secret"))
        }
    }

    @Test("client certificate and CA from data authenticate against the fake API server")
    func clientCertificate() async throws {
        let server = try await FakeAPIServer.start(
            users: [FakeAPIUser(name: "certctl-user.example", token: nil, isAdmin: true)])
        defer { Task { await server.stop() } }
        let key = try PrivateKey(generating: .ecdsaP256)
        let certificate = try server.authority.issue(
            publicKey: key.publicKey, names: ["certctl-user.example"], notBefore: Date().addingTimeInterval(-60),
            notAfter: Date().addingTimeInterval(3600), clientAuthentication: true)
        let certificatePEM = try CertificateChain(certificates: [certificate]).pemRepresentation()
        let text = """
            current-context: fake
            clusters: [{name: k, cluster: {server: "\(server.url)", certificate-authority-data: \(Data(server.caBundle).base64EncodedString())}}]
            contexts: [{name: fake, context: {cluster: k, user: u, namespace: prod}}]
            users:
            - name: u
              user:
                client-certificate-data: \(Data(certificatePEM.utf8).base64EncodedString())
                client-key-data: \(Data(try key.pemRepresentation().utf8).base64EncodedString())
            """
        var config = Kubeconfig()
        try config.merge(text, path: "/tmp/kubeconfig")
        let client = KubernetesClient(
            connection: try config.connection(context: nil).connection, transport: CurlTransport(userAgent: "t"))
        #expect(try await client.list(Secret.self, namespace: "prod").isEmpty)

        let noCertificate = KubernetesClient(
            connection: ClusterConnection(
                name: "x", server: server.url, tls: server.tls, credentials: .none, namespace: "prod"),
            transport: CurlTransport(userAgent: "t")
        )
        await #expect(throws: KubernetesError.self) { _ = try await noCertificate.list(Secret.self, namespace: "prod") }
    }

    @Test("an exec credential plugin runs as a real subprocess and its token is used")
    func execPlugin() async throws {
        let server = try await FakeAPIServer.start(tokens: ["from-plugin"])
        defer { Task { await server.stop() } }
        let folder = try Self.folder()
        let script = folder.appendingPathComponent("plugin.sh")
        try """
        #!/bin/sh
        # Proves it got the exec info and its configured environment.
        case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) echo "no exec info" >&2; exit 3;; esac
        [ "$CLUSTER_ROLE" = "certctl" ] || { echo "no env" >&2; exit 4; }
        echo "$@" >> "\(folder.path)/calls"
        printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-plugin","expirationTimestamp":"2099-01-01T00:00:00Z"}}'
        """.write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let text = """
            current-context: fake
            clusters: [{name: k, cluster: {server: "\(server.url)", certificate-authority-data: \(Data(server.caBundle).base64EncodedString())}}]
            contexts: [{name: fake, context: {cluster: k, user: u}}]
            users:
            - name: u
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: ./plugin.sh
                  args: [get-token, --cluster, prod]
                  env: [{name: CLUSTER_ROLE, value: certctl}]
                  interactiveMode: Never
            """
        try text.write(to: folder.appendingPathComponent("config"), atomically: true, encoding: .utf8)
        let config = try Kubeconfig.load(explicit: folder.appendingPathComponent("config").path, environment: [:])
        let client = KubernetesClient(
            connection: try config.connection(context: nil).connection, transport: CurlTransport(userAgent: "t"))
        #expect(try await client.list(Secret.self, namespace: "default").isEmpty)
        #expect(try await client.list(Secret.self, namespace: "default").isEmpty)
        let calls = try String(contentsOf: folder.appendingPathComponent("calls"), encoding: .utf8)
        #expect(calls == "get-token --cluster prod\n", "the credential is cached until it expires")
    }

    @Test("an exec plugin that writes 1 MiB to stderr does not deadlock; one that hangs is stopped at the timeout")
    func execPluginBounds() async throws {
        let folder = try Self.folder()
        let chatty = folder.appendingPathComponent("chatty.sh")
        try """
        #!/bin/sh
        head -c 1048576 /dev/zero | tr '\\0' 'e' >&2
        printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}'
        """.write(to: chatty, atomically: true, encoding: .utf8)
        let hung = folder.appendingPathComponent("hung.sh")
        try "#!/bin/sh\nsleep 300\n".write(to: hung, atomically: true, encoding: .utf8)
        for script in [chatty, hung] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        }
        let credential = try await ExecCredentialPlugin(
            apiVersion: "client.authentication.k8s.io/v1", command: chatty.path
        ).run(cluster: "https://127.0.0.1:1")
        #expect(credential.token == "t")
        do {
            _ = try await ExecCredentialPlugin(apiVersion: "client.authentication.k8s.io/v1", command: hung.path)
                .run(cluster: "https://127.0.0.1:1", timeout: .milliseconds(300))
            Issue.record("a hung plugin must be stopped")
        } catch let error as KubernetesError {
            #expect(error.description.contains("did not finish within"), "\(error)")
        }
    }

    @Test("in-cluster: service-account token re-read before each request, CA and namespace files")
    func inCluster() async throws {
        let server = try await FakeAPIServer.start(tokens: ["token-1", "token-2"])
        defer { Task { await server.stop() } }
        let folder = try Self.folder()
        try "token-1".write(to: folder.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        try Data(server.caBundle).write(to: folder.appendingPathComponent("ca.crt"))
        try "mybinder\n".write(to: folder.appendingPathComponent("namespace"), atomically: true, encoding: .utf8)
        let port = server.url.split(separator: ":").last.map(String.init) ?? ""
        let connection = try ClusterConnection.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port],
            serviceAccountDirectory: folder.path
        )
        #expect(connection.namespace == "mybinder")
        let client = KubernetesClient(connection: connection, transport: CurlTransport(userAgent: "t"))
        #expect(try await client.list(Secret.self, namespace: "mybinder").isEmpty)
        try "token-2".write(to: folder.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        #expect(try await client.list(Secret.self, namespace: "mybinder").isEmpty)
        try "token-revoked".write(to: folder.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        await #expect(throws: KubernetesError.self) { _ = try await client.list(Secret.self, namespace: "mybinder") }

        #expect(throws: KubernetesError.self) {
            try ClusterConnection.inCluster(environment: [:], serviceAccountDirectory: folder.path)
        }
    }
}
