import Basics
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Transport

/// Development tool: a cluster seeded like a meta chart deployment of any size, for benchmarks and
/// trying certctl against "a cluster" by hand.
///
///     certctl-fakeapi --certificates 5000 --kubeconfig /tmp/fake.kubeconfig [--namespaces 2]
///                     [--expired-every N] [--control-port PORT] [--faults 429=0.2,503=0.05,close=0.03]
///     certctl-fakeapi --certificates 5000 --local DIR
///
/// The first form serves a fake API server, writes a kubeconfig for it, prints its URL and serves
/// until interrupted; with `--control-port`, `GET http://127.0.0.1:PORT/requests` answers the
/// requests served so far as JSON (`{"total": N, "byVerb": {...}, "faults": {...}}`), for
/// benchmarks, and `POST /outage?seconds=8` closes every connection unanswered for that long, as
/// a restarting API server does. `--faults` answers a share of requests as a busy server does
/// (``FakeAPIFaults``: 429 and 503 with `Retry-After`, connections closed). The second
/// form writes the same objects for local mode and exits: `DIR/manifests/` (one Ingress per
/// file) and `DIR/state/secrets/` (what `certctl run --manifests DIR/manifests --state
/// DIR/state` reads).
@main
struct FakeAPICommand {
    struct Options {
        var certificates = 100
        var namespaces = 2
        var kubeconfig = "fake.kubeconfig"
        var expiredEvery = 0
        var controlPort: Int?
        var local: String?
        var faults: FakeAPIFaults?
    }

    static func main() async throws {
        let options = parse(CommandLine.arguments.dropFirst())
        let seed = try Seed(options: options)
        if let directory = options.local {
            try await seed.writeLocal(into: directory)
            print("wrote \(options.certificates) Ingresses to \(directory)/manifests and Secrets to \(directory)/state")
            return
        }
        let server = try await FakeAPIServer.start(
            namespaces: (0..<options.namespaces).map { "ns\($0)" } + FakeAPIServer.testNamespaces)
        let client = KubernetesClient(
            connection: ClusterConnection(
                name: "fake", server: server.url, tls: server.tls, credentials: .token("test-token"),
                namespace: "default"),
            transport: CurlTransport(userAgent: "certctl-fakeapi")
        )
        for index in 0..<options.certificates {
            _ = try await client.create(seed.ingress(index))
            _ = try await client.create(try seed.secret(index))
        }
        try server.kubeconfig().write(toFile: options.kubeconfig, atomically: true, encoding: .utf8)
        // Seeded as the recording answers; the faults are for what comes after.
        if let faults = options.faults { server.schedule(faults) }
        var control = ""
        if let port = options.controlPort {
            _ = try await HTTPServer.start(host: "127.0.0.1", port: port) { request in
                await Self.control(request, server: server)
            }
            control = "; request counts on http://127.0.0.1:\(port)/requests"
        }
        FileHandle.standardOutput.write(
            Data(
                "fake API server on \(server.url) with \(options.certificates) Ingresses and Secrets; kubeconfig in \(options.kubeconfig)\(control)\n"
                    .utf8))
        while true {
            try await Task.sleep(for: .seconds(3600))
        }
    }

    /// `GET /requests`: the requests served and the faults injected; `POST /outage?seconds=N`.
    static func control(_ request: ServerRequest, server: FakeAPIServer) async -> ServerResponse {
        switch (request.method, request.path) {
        case ("GET", "/requests"):
            let counts = await server.requestCounts
            let body = try? JSONSerialization.data(
                withJSONObject: [
                    "total": counts.values.reduce(0, +), "byVerb": counts, "faults": server.faultsInjected,
                ], options: [.sortedKeys])
            return ServerResponse(
                status: 200, headers: ["Content-Type": "application/json"], body: Array(body ?? Data()))
        case ("POST", "/outage"):
            guard let seconds = request.query["seconds"].flatMap(Double.init), seconds > 0, seconds <= 3600 else {
                return ServerResponse(status: 400, contentType: "text/plain", text: "POST /outage?seconds=1..3600\n")
            }
            server.outage(for: .milliseconds(Bounded.milliseconds(seconds)))
            return ServerResponse(status: 200, contentType: "text/plain", text: "outage for \(seconds) s\n")
        default:
            return ServerResponse(
                status: 404, contentType: "text/plain", text: "GET /requests, POST /outage?seconds=N\n")
        }
    }

    static func parse(_ arguments: ArraySlice<String>) -> Options {
        var arguments = arguments
        var options = Options()
        while let argument = arguments.popFirst() {
            let value = arguments.popFirst()
            switch (argument, value) {
            case ("--certificates", let value?) where Int(value) != nil: options.certificates = Int(value)!
            case ("--namespaces", let value?) where Int(value) != nil: options.namespaces = max(Int(value)!, 1)
            case ("--expired-every", let value?) where Int(value) != nil: options.expiredEvery = Int(value)!
            case ("--control-port", let value?) where Int(value) != nil: options.controlPort = Int(value)!
            case ("--kubeconfig", let value?): options.kubeconfig = value
            case ("--local", let value?): options.local = value
            case ("--faults", let value?) where (try? FakeAPIFaults(parsing: value)) != nil:
                options.faults = try? FakeAPIFaults(parsing: value)
            default:
                FileHandle.standardError.write(
                    Data(
                        """
                        usage: certctl-fakeapi [--certificates N] [--namespaces N] [--expired-every N]
                                               [--kubeconfig PATH] [--control-port PORT]
                                               [--faults 429=0.2,503=0.05,close=0.03,retry-after=1,seed=1]
                                               | [--local DIR]

                        """.utf8))
                exit(64)
            }
        }
        return options
    }
}

/// The seeded objects: Ingress `siteI` in namespace `nsI%namespaces` for `siteI.mybinder.org`, and
/// its Secret `kubelego-tls-siteI` with a 90-day certificate 10 days old (100 days old, expired,
/// for every `expiredEvery`-th), as kube-lego left them: nothing is due.
struct Seed {
    let options: FakeAPICommand.Options
    let authority: TestCertificateAuthority
    let key: PrivateKey
    let keyPEM: Data
    let now = Date()

    init(options: FakeAPICommand.Options) throws {
        self.options = options
        authority = try TestCertificateAuthority(name: "certctl-fakeapi CA")
        key = try PrivateKey(generating: .ecdsaP256)
        keyPEM = Data(try key.pemRepresentation().utf8)
    }

    func namespace(_ index: Int) -> String { "ns\(index % options.namespaces)" }

    func ingress(_ index: Int) -> Ingress {
        Ingress(
            metadata: ObjectMeta(
                name: "site\(index)", namespace: namespace(index), annotations: ["kubernetes.io/tls-acme": "true"]),
            spec: .init(
                tls: [.init(hosts: ["site\(index).mybinder.org"], secretName: "kubelego-tls-site\(index)")],
                rules: [
                    .init(
                        host: "site\(index).mybinder.org",
                        http: .init(paths: [
                            .init(
                                path: "/", pathType: "Prefix",
                                backend: .init(service: .init(name: "site\(index)", port: .init(number: 80))))
                        ]))
                ])
        )
    }

    func secret(_ index: Int) throws -> Secret {
        let expired = options.expiredEvery > 0 && index % options.expiredEvery == 0
        let notBefore = now.addingTimeInterval(expired ? -100 * 86_400 : -10 * 86_400)
        let pem = try authority.issuePEM(
            for: key, names: ["site\(index).mybinder.org"], notBefore: notBefore,
            notAfter: notBefore.addingTimeInterval(90 * 86_400))
        return Secret(
            metadata: ObjectMeta(name: "kubelego-tls-site\(index)", namespace: namespace(index)),
            type: Secret.tlsType,
            data: ["tls.crt": Data(pem.utf8), "tls.key": keyPEM]
        )
    }

    func writeLocal(into directory: String) async throws {
        let manifests = (directory as NSString).appendingPathComponent("manifests")
        try FileManager.default.createDirectory(atPath: manifests, withIntermediateDirectories: true)
        let store = LocalDirectoryStore(
            manifests: manifests, state: (directory as NSString).appendingPathComponent("state"))
        for index in 0..<options.certificates {
            let manifest = """
                apiVersion: networking.k8s.io/v1
                kind: Ingress
                metadata:
                  name: site\(index)
                  namespace: \(namespace(index))
                  annotations:
                    kubernetes.io/tls-acme: "true"
                spec:
                  tls:
                    - secretName: kubelego-tls-site\(index)
                      hosts:
                        - site\(index).mybinder.org

                """
            try manifest.write(
                toFile: (manifests as NSString).appendingPathComponent("site\(index).yaml"), atomically: true,
                encoding: .utf8)
            _ = try await store.create(try secret(index))
        }
    }
}
