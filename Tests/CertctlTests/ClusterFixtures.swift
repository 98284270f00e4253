import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing
import Transport

/// The two implementations of the cluster seam, for tests that must hold for both.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case local
    case kubernetes

    var testDescription: String { rawValue }
}

/// A store of `kind` holding `ingresses` (and nothing else yet).
struct StoreFixture {
    let store: any ClusterStore
    let server: FakeAPIServer?
    let directory: URL
    /// The Ingresses the API server refused (422 Invalid), with the fields it named: a real
    /// server refuses what only a local manifest can hold (a host with an underscore).
    var refused: [String: [String]] = [:]

    static func make(
        _ kind: StoreKind, ingresses: [Ingress] = [], rawManifests: [String: String] = [:], apiTimeout: Duration? = nil
    ) async throws -> StoreFixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "certctl-store-\(UUID().uuidString)")
        let manifests = directory.appendingPathComponent("ingress")
        try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
        switch kind {
        case .local:
            for (index, ingress) in ingresses.enumerated() {
                // JSON is YAML; and unlike a dump of JSONSerialization's numbers, `80` stays `80`.
                let yaml = String(decoding: try JSONEncoder().encode(ingress), as: UTF8.self)
                try yaml.write(
                    to: manifests.appendingPathComponent("\(index)-\(ingress.metadata.name ?? "x").yaml"),
                    atomically: true, encoding: .utf8)
            }
            for (name, text) in rawManifests {
                try text.write(to: manifests.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
            let store = LocalDirectoryStore(
                manifests: manifests.path, state: directory.appendingPathComponent("state").path)
            return StoreFixture(store: store, server: nil, directory: directory)
        case .kubernetes:
            let server = try await FakeAPIServer.start()
            // The seeding is the test's own: with the default timeout, not the short one the
            // store under test may be given (a loaded machine took over 2 s for a create).
            let seeding = fakeClient(server)
            var client = seeding
            if let apiTimeout { client.requestTimeout = apiTimeout }
            var refused: [String: [String]] = [:]
            for ingress in ingresses {
                do {
                    _ = try await seeding.create(ingress)
                } catch let error as KubernetesError where error.httpStatus == 422 {
                    refused[ingress.metadata.name ?? ""] = error.status?.details?.causes?.compactMap(\.field) ?? []
                }
            }
            return StoreFixture(
                store: KubernetesStore(client: client), server: server, directory: directory, refused: refused)
        }
    }

    func stop() async {
        await server?.stop()
    }
}

func ingress(
    _ namespace: String,
    _ name: String,
    annotations: [String: String] = ["kubernetes.io/tls-acme": "true"],
    tls: [(hosts: [String], secret: String?)],
    className: String? = nil
) -> Ingress {
    // A rule per host, as a meta chart's Ingresses have (the API server wants rules or a default backend).
    let backend = Ingress.Backend(service: .init(name: "web", port: .init(number: 80)))
    let rules = Set(tls.flatMap(\.hosts)).sorted().map { host in
        Ingress.Rule(host: host, http: .init(paths: [.init(path: "/", pathType: "Prefix", backend: backend)]))
    }
    return Ingress(
        metadata: ObjectMeta(name: name, namespace: namespace, annotations: annotations),
        spec: .init(
            ingressClassName: className, tls: tls.map { Ingress.TLS(hosts: $0.hosts, secretName: $0.secret) },
            rules: rules.isEmpty
                ? [.init(host: nil, http: .init(paths: [.init(path: "/", pathType: "Prefix", backend: backend)]))]
                : rules)
    )
}

/// A dozen Ingresses shaped like a meta chart deployment in two namespaces, with the mistakes
/// real ones have.
let metaChartIngresses: [Ingress] = [
    ingress("prod", "binder", tls: [(["mybinder.org"], "kubelego-tls-binder")]),
    ingress("prod", "hub", tls: [(["hub.mybinder.org"], "kubelego-tls-hub")]),
    ingress(
        "prod", "static", annotations: ["cert-manager.io/cluster-issuer": "letsencrypt-prod"],
        tls: [(["static.mybinder.org"], "kubelego-tls-static")]),
    ingress("prod", "grafana", tls: [(["grafana.mybinder.org"], "kubelego-tls-grafana")], className: "traefik"),
    ingress(
        "prod", "redirector",
        tls: [(["www.mybinder.org", "beta.mybinder.org", "www.mybinder.org"], "kubelego-tls-redirector")]),
    // Same Secret, same hosts: one certificate for both Ingresses.
    ingress("prod", "redirector-docs", tls: [(["beta.mybinder.org", "www.mybinder.org"], "kubelego-tls-redirector")]),
    // Same Secret, other hosts: a configuration error for that Secret.
    ingress("prod", "prometheus", tls: [(["prometheus.mybinder.org"], "kubelego-tls-shared")]),
    ingress("prod", "alertmanager", tls: [(["alertmanager.mybinder.org"], "kubelego-tls-shared")]),
    ingress("prod", "bad-host", tls: [(["under_score.mybinder.org"], "kubelego-tls-bad")]),
    ingress("prod", "no-tls", tls: []),
    ingress("prod", "unmanaged", annotations: [:], tls: [(["unmanaged.mybinder.org"], "unmanaged-tls")]),
    ingress("staging", "binder", tls: [(["staging.mybinder.org"], "kubelego-tls-binder")]),
    ingress(
        "staging", "other-issuer", annotations: ["cert-manager.io/issuer": "venafi"],
        tls: [(["v.staging.mybinder.org"], "venafi-tls")]),
    ingress(
        "staging", "multi", annotations: ["cert-manager.io/cluster-issuer": "letsencrypt-staging"],
        tls: [
            (["a.staging.mybinder.org"], "multi-a"), (["b.staging.mybinder.org", "c.staging.mybinder.org"], "multi-b"),
        ]),
]

let fixtureIssuers: Set<IssuerKey> = ["letsencrypt-prod", "letsencrypt-staging", "pebble"]

/// A scratch project for the binary: `issuers/` with an issuer `local` at `server`, `ingress/`
/// with one managed Ingress per site (Secret `tls-<site>`, host `<site>.mybinder.org`), and the
/// local store over `state/`.
struct LocalProject {
    let directory: URL
    let store: LocalDirectoryStore

    /// The flags that point a command at this project.
    static let flags = [
        "--manifests", "ingress", "--state", "state", "--issuers", "issuers", "--default-issuer", "local",
    ]

    static func make(server: String, sites: [String]) throws -> LocalProject {
        let directory = try IssueCommandTests.scratch(issuer: IssueCommandTests.issuerYAML(server: server))
        let ingress = directory.appendingPathComponent("ingress")
        try FileManager.default.createDirectory(at: ingress, withIntermediateDirectories: true)
        for site in sites {
            try """
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata: {name: \(site), namespace: prod, annotations: {kubernetes.io/tls-acme: "true"}}
            spec:
              tls: [{hosts: [\(site).mybinder.org], secretName: tls-\(site)}]
            """.write(to: ingress.appendingPathComponent("\(site).yaml"), atomically: true, encoding: .utf8)
        }
        let store = LocalDirectoryStore(manifests: ingress.path, state: directory.appendingPathComponent("state").path)
        return LocalProject(directory: directory, store: store)
    }

    /// Adds the Ingress `shouty` whose host is upper case (`Hub.mybinder.org`, Secret
    /// `tls-shouty`): a misconfigured object, which makes no certificate.
    func addShoutyIngress() throws {
        try """
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: shouty, namespace: prod, annotations: {kubernetes.io/tls-acme: "true"}}
        spec:
          tls: [{hosts: [Hub.mybinder.org], secretName: tls-shouty}]
        """.write(to: directory.appendingPathComponent("ingress/shouty.yaml"), atomically: true, encoding: .utf8)
    }

    /// Stores `tls-<site>` with a certificate that became valid `startDays` ago (negative: past).
    @discardableResult
    func seedCertificate(
        _ site: String,
        startDays: Double,
        days: Double = 90,
        authority: TestCertificateAuthority,
        key: PrivateKey? = nil
    ) async throws -> (pem: String, key: PrivateKey) {
        let key = try key ?? PrivateKey(generating: .ecdsaP256)
        let notBefore = Date().addingTimeInterval(startDays * 86_400)
        let pem = try authority.issuePEM(
            for: key, names: ["\(site).mybinder.org"], notBefore: notBefore,
            notAfter: notBefore.addingTimeInterval(days * 86_400))
        _ = try await store.create(
            tlsSecret(
                "prod", "tls-\(site)",
                data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)]))
        return (pem, key)
    }
}

/// certctl as a pod in namespace `prod` against a fake API server: a folder with the kubeconfig,
/// an issuers directory and the downward API's labels file, and the pod's environment.
struct PodProject {
    let folder: URL

    static func make(_ server: FakeAPIServer, name: String) throws -> PodProject {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("issuers"), withIntermediateDirectories: true)
        try server.kubeconfig(namespace: "prod").write(
            to: folder.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
        try "app=\"certctl\"\n".write(to: folder.appendingPathComponent("labels"), atomically: true, encoding: .utf8)
        return PodProject(folder: folder)
    }

    /// Writes `issuers/NAME.yaml` for `server` (trusting `caBundle` when given).
    func writeIssuer(_ name: String, server: String, caBundle: [UInt8]? = nil) throws {
        try """
        kind: ClusterIssuer
        metadata: {name: \(name)}
        spec:
          acme:
            server: \(server)
            privateKeySecretRef: {name: \(name)-account}
        \(caBundle.map { "    caBundle: \(Data($0).base64EncodedString())" } ?? "")
        """.write(to: folder.appendingPathComponent("issuers/\(name).yaml"), atomically: true, encoding: .utf8)
    }

    /// `certctl run` against the fake cluster with issuer `issuer`, answering HTTP-01 on `port`.
    func runArguments(issuer: String, port: Int, _ extra: [String] = []) -> [String] {
        [
            "run", "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--default-issuer", issuer,
            "--http01-listen", "127.0.0.1:\(port)",
        ] + extra
    }

    func environment(pod: String) -> [String: String] {
        [
            "POD_NAME": pod, "POD_NAMESPACE": "prod", "POD_IP": "127.0.0.1",
            "CERTCTL_POD_LABELS_FILE": folder.appendingPathComponent("labels").path,
        ]
    }

    /// Starts the binary as pod `pod`, its output discarded.
    func start(_ arguments: [String], pod: String) throws -> Process {
        let process = Process()
        process.executableURL = CertctlProcess.binary
        process.arguments = arguments
        process.currentDirectoryURL = folder
        process.environment = ProcessInfo.processInfo.environment.merging(environment(pod: pod)) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}
