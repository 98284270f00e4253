import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Transport

/// Development tool: a fake API server seeded like a meta chart deployment of any size, for
/// benchmarks and trying certctl against "a cluster" by hand.
///
///     certctl-fakeapi --certificates 5000 --kubeconfig /tmp/fake.kubeconfig [--namespaces 2]
///
/// It writes a kubeconfig for itself, prints its URL, and serves until interrupted.
@main
struct FakeAPICommand {
    static func main() async throws {
        var arguments = CommandLine.arguments.dropFirst()
        var certificates = 100
        var namespaces = 2
        var kubeconfig = "fake.kubeconfig"
        var expiredEvery = 0
        while let argument = arguments.popFirst() {
            switch argument {
            case "--certificates": certificates = Int(arguments.popFirst() ?? "") ?? certificates
            case "--namespaces": namespaces = Int(arguments.popFirst() ?? "") ?? namespaces
            case "--kubeconfig": kubeconfig = arguments.popFirst() ?? kubeconfig
            case "--expired-every": expiredEvery = Int(arguments.popFirst() ?? "") ?? 0
            default:
                FileHandle.standardError.write(
                    Data(
                        "usage: certctl-fakeapi [--certificates N] [--namespaces N] [--kubeconfig PATH] [--expired-every N]\n"
                            .utf8))
                exit(64)
            }
        }
        let server = try await FakeAPIServer.start()
        let client = KubernetesClient(
            connection: ClusterConnection(
                name: "fake", server: server.url, tls: server.tls, credentials: .token("test-token"),
                namespace: "default"),
            transport: CurlTransport(userAgent: "certctl-fakeapi")
        )
        let authority = try TestCertificateAuthority(name: "certctl-fakeapi CA")
        let key = try PrivateKey(generating: .ecdsaP256)
        let keyPEM = Data(try key.pemRepresentation().utf8)
        let now = Date()
        for index in 0..<certificates {
            let namespace = "ns\(index % max(namespaces, 1))"
            let host = "site\(index).mybinder.org"
            let secretName = "kubelego-tls-site\(index)"
            _ = try await client.create(
                Ingress(
                    metadata: ObjectMeta(
                        name: "site\(index)", namespace: namespace, annotations: ["kubernetes.io/tls-acme": "true"]),
                    spec: .init(tls: [.init(hosts: [host], secretName: secretName)])
                )
            )
            let expired = expiredEvery > 0 && index % expiredEvery == 0
            let notBefore = now.addingTimeInterval(expired ? -100 * 86_400 : -10 * 86_400)
            let pem = try authority.issuePEM(
                for: key, names: [host], notBefore: notBefore, notAfter: notBefore.addingTimeInterval(90 * 86_400))
            _ = try await client.create(
                Secret(
                    metadata: ObjectMeta(name: secretName, namespace: namespace),
                    type: Secret.tlsType,
                    data: ["tls.crt": Data(pem.utf8), "tls.key": keyPEM]
                )
            )
        }
        try server.kubeconfig().write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        FileHandle.standardOutput.write(
            Data(
                "fake API server on \(server.url) with \(certificates) Ingresses and Secrets; kubeconfig in \(kubeconfig)\n"
                    .utf8)
        )
        while true {
            try await Task.sleep(for: .seconds(3600))
        }
    }
}
